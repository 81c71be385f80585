"""Every thresholds.yaml key is declared once, as a field of its section's dataclass:

    folds: int = setting(5, checks.integer(2), "speaker-independent folds, >= 2")

gives the Python type, the default, the constraint and the one-line doc together. The loader checks
values with it, ``with_overrides`` validates with it, and the template (template.py) is written from
it, so the three cannot drift apart.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, TypeVar

from privacy_checks.validation import Checker

SCHEMA_VERSION = 1  # the `version:` a thresholds.yaml may state
T = TypeVar("T")
_UNSET: Any = object()


@dataclass(frozen=True)
class Key:
    """One key of a section, read back from its dataclass field."""

    name: str
    default: Any
    check: Checker
    doc: str  # one line: the comment beside the key in the template
    notes: tuple[str, ...] = ()  # longer explanation or an example: comment lines above the key
    written: Any = _UNSET  # the default as the template writes it, where YAML spells it differently

    @property
    def template_value(self) -> Any:
        return self.default if self.written is _UNSET else self.written


def setting(default: T, check: Checker, doc: str, *, notes: tuple[str, ...] = (), written: Any = _UNSET) -> T:
    """A dataclass field that carries its key's constraint and documentation (see the module doc).

    ``default`` must be immutable (settings are frozen and shared); ``written`` is the default in
    YAML spelling when it differs (``{}`` for an empty tuple of pairs)."""
    if not doc or "\n" in doc:
        raise ValueError(f"setting doc must be one line, got {doc!r}")
    metadata = {"key": (check, doc, notes, written)}
    return dataclasses.field(default=default, metadata=metadata)


def keys_of(section: type) -> tuple[Key, ...]:
    """The keys of a settings dataclass, in field order (the order messages list them in)."""
    keys = []
    for f in dataclasses.fields(section):
        if "key" not in f.metadata:
            raise TypeError(f"{section.__name__}.{f.name} is not declared with setting()")
        check, doc, notes, written = f.metadata["key"]
        keys.append(Key(f.name, f.default, check, doc, notes, written))
    return tuple(keys)


def section_doc(section: type) -> str:
    """The first line of a settings dataclass's docstring: its comment in the template."""
    return (section.__doc__ or "").strip().splitlines()[0]
