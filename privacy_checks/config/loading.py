"""thresholds.yaml (or a mapping built in code) -> a validated PrivacyConfig.

Every problem becomes a :class:`PrivacyInputError` whose message names the file, the line, the key
and the fix.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from privacy_checks import validation as checks
from privacy_checks.config.document import Document, compose
from privacy_checks.config.schema import SCHEMA_VERSION
from privacy_checks.config.settings import SECTION_KEYS, SECTIONS, PrivacyConfig
from privacy_checks.config.values import thaw
from privacy_checks.errors import PrivacyInputError
from privacy_checks.validation import Invalid, format_key, shown

DEFAULT_CONFIG_NAME = "thresholds.yaml"
_TOP_LEVEL_KEYS = ("version", *SECTIONS)


def parse_config(text: str, display: str = DEFAULT_CONFIG_NAME, source: Path | None = None) -> PrivacyConfig:
    """The configuration in ``text``; messages name ``display`` as the file."""
    root = compose(text, display)
    document = Document(display)
    data = None if root is None else document.to_python(root)
    if data is None:  # empty file, only comments, or a lone `~`
        return PrivacyConfig(source=source)
    if not isinstance(data, dict):
        assert root is not None  # data came from it
        raise document.error(
            root.start_mark.line + 1,
            f"the top level must be a mapping of sections ({', '.join(SECTIONS)}), got {shown(data)}",
        )
    try:
        return _build(data, source)
    except Invalid as exc:
        raise document.error(document.line_of(exc.path), exc.message) from None


def config_from_mapping(data: Mapping[str, Any], origin: str = "settings") -> PrivacyConfig:
    """A validated configuration from a mapping shaped like thresholds.yaml (sections of keys), for
    callers that build settings in code (reproduce, calibration, users' scripts); errors name
    ``origin`` and the key."""
    try:
        return _build(thaw(data), None)
    except Invalid as exc:
        raise PrivacyInputError(f"{origin}: {format_key(exc.path)}: {exc.message}") from None


def _build(data: dict[str, Any], source: Path | None) -> PrivacyConfig:
    checks.reject_unknown_keys(data, (), _TOP_LEVEL_KEYS)
    if "version" in data and (data["version"] != SCHEMA_VERSION or isinstance(data["version"], bool)):
        raise Invalid(
            ("version",),
            f"'version' must be {SCHEMA_VERSION} (the schema this privacy-checks reads), "
            f"got {shown(data['version'])}; remove the key or set it to {SCHEMA_VERSION}",
        )
    sections: dict[str, Any] = {}
    for name, section_type in SECTIONS.items():
        keys = SECTION_KEYS[name]
        values = checks.mapping(data.get(name), (name,), "settings")
        checks.reject_unknown_keys(values, (name,), tuple(keys))
        sections[name] = section_type(**{key: keys[key].check(v, (name, key)) for key, v in values.items()})
    return PrivacyConfig(**sections, source=source)


def load_config(path: str | os.PathLike[str] | None, required: bool = True) -> PrivacyConfig:
    """Read a thresholds file. None -> defaults; a missing file is an error unless not ``required``
    (the default location, which may simply not exist)."""
    if path is None:
        return PrivacyConfig()
    display = str(path)
    file = Path(path)
    if not file.exists():
        if not required:
            return PrivacyConfig()
        raise PrivacyInputError(
            f"--privacy-config: no such file: {display} (create it with the keys you need, "
            "or leave the option out to use the defaults)"
        )
    try:
        content = file.read_text(encoding="utf-8")
    except IsADirectoryError:
        raise PrivacyInputError(f"--privacy-config: {display} is a directory, not a YAML file") from None
    except UnicodeDecodeError as exc:
        raise PrivacyInputError(
            f"{display}: not UTF-8 text ({exc.reason} at byte {exc.start}); save the file as UTF-8"
        ) from None
    except OSError as exc:
        raise PrivacyInputError(f"--privacy-config: cannot read {display}: {exc.strerror}") from None
    return parse_config(content, display, source=file)
