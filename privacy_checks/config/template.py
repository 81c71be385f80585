"""The documented default thresholds.yaml, written from the schema: every key at its default with
its doc beside it (and its notes above), every section under its dataclass's one-line doc."""

from __future__ import annotations

from typing import Any

import yaml

from privacy_checks.config.schema import SCHEMA_VERSION, Key, keys_of, section_doc
from privacy_checks.config.settings import SECTIONS

_HEADER = (
    "privacy-checks: limits for gender leakage, and how the audit measures it.",
    "Leakage L = accuracy of an attacker inferring gender from a layer's output on unseen speakers;",
    "excess = L - chance. Every key is optional; the values below are the defaults.",
)
_VALUE_COLUMN = 22  # the doc comments line up after the longest common `key: value`


def yaml_value(value: Any) -> str:
    """A default in YAML flow style, read back by yaml.safe_load as the same value."""
    if isinstance(value, float):
        text = repr(value)
        # YAML 1.1 reads 1e-05 as a string: floats need a dot in the mantissa
        if "e" in text and "." not in text.split("e")[0]:
            mantissa, exponent = text.split("e")
            text = f"{mantissa}.0e{exponent}"
        return text
    if value is None:
        return "null"
    if isinstance(value, tuple):
        return "[" + ", ".join(yaml_value(v) for v in value) + "]" if value else "[]"
    return str(yaml.safe_dump(value, default_flow_style=True)).removesuffix("\n...\n").strip()


def _key_lines(key: Key) -> list[str]:
    entry = f"  {key.name}: {yaml_value(key.template_value)}"
    return [*(f"  # {note}" for note in key.notes), f"{entry:<{_VALUE_COLUMN}}  # {key.doc}"]


def default_config_text() -> str:
    """A commented thresholds.yaml with every key at its default (for docs and `privacy-checks init`)."""
    lines = [*(f"# {line}" for line in _HEADER), f"version: {SCHEMA_VERSION}"]
    for name, section in SECTIONS.items():
        lines += ["", f"# {section_doc(section)}", f"{name}:"]
        for key in keys_of(section):
            lines += _key_lines(key)
    return "\n".join(lines) + "\n"
