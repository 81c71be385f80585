"""The ``key=value,...`` option lists that corpus specs carry after their prefix."""

from __future__ import annotations

from privacy_checks.errors import PrivacyInputError


def parse_options(text: str, where: str) -> dict[str, str]:
    """``"a=1, b=2"`` -> ``{"a": "1", "b": "2"}``; empty parts are skipped, values stay strings."""
    options: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise PrivacyInputError(f"{where}: expected key=value, got {part!r}")
        options[key.strip()] = value.strip()
    return options
