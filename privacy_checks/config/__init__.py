"""thresholds.yaml -> frozen, validated dataclasses.

The pytest plugin imports this package at start-up, so it stays light: stdlib and yaml only
(``privacy_checks.features`` is imported lazily, and only when ``model.input`` is given).

- privacy_checks/validation.py (shared with features and the options): the validation vocabulary
- schema.py: ``setting()``, how each key is declared once with default, constraint and doc
- limits.py, model_section.py, settings.py: the sections and PrivacyConfig
- document.py: YAML -> Python values with the line of every key
- loading.py: parse_config, load_config, config_from_mapping
- template.py: the documented default file, generated from the schema
- values.py: FrozenMapping, freeze, thaw
"""

from privacy_checks.config.limits import RULES, LimitOverride, Limits, is_glob, literal_length
from privacy_checks.config.loading import DEFAULT_CONFIG_NAME, config_from_mapping, load_config, parse_config
from privacy_checks.config.model_section import ModelSettings
from privacy_checks.config.schema import SCHEMA_VERSION
from privacy_checks.config.settings import (
    AttackerSettings,
    AuditSettings,
    BaselineSettings,
    ControlSettings,
    PrivacyConfig,
)
from privacy_checks.config.template import default_config_text
from privacy_checks.config.values import FrozenMapping, freeze, thaw
from privacy_checks.validation import KeyPath, format_key, shown

__all__ = [
    "DEFAULT_CONFIG_NAME",
    "RULES",
    "SCHEMA_VERSION",
    "AttackerSettings",
    "AuditSettings",
    "BaselineSettings",
    "ControlSettings",
    "FrozenMapping",
    "KeyPath",
    "LimitOverride",
    "Limits",
    "ModelSettings",
    "PrivacyConfig",
    "config_from_mapping",
    "default_config_text",
    "format_key",
    "freeze",
    "is_glob",
    "literal_length",
    "load_config",
    "parse_config",
    "shown",
    "thaw",
]
