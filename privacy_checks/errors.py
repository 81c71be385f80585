"""Errors the engine raises for a user's mistake.

The pytest layer turns :class:`PrivacyInputError` into ``pytest.UsageError`` (exit code 4, no
traceback); the CLI prints it and exits 4. Messages name the file, key or line and the fix.
"""

from __future__ import annotations

import warnings


class PrivacyInputError(Exception):
    """Bad input from the user: a file, option or config value that cannot be used as given."""


def warn_or_refuse(warning: Warning, fix: str, stacklevel: int = 2) -> None:
    """Issue `warning`; one that a warnings filter turns into an error (`-W error`, pytest's
    `filterwarnings = error`) becomes a PrivacyInputError naming `fix`, never a traceback.
    `stacklevel` counts from the caller, as for warnings.warn."""
    kind = type(warning)
    try:
        warnings.warn(warning, stacklevel=stacklevel + 1)
    except kind:
        raise PrivacyInputError(
            f"{warning} (a {kind.__name__}, an error here because a warnings filter such as -W error says so; "
            f"{fix}, or let it warn: -W default::{kind.__module__}.{kind.__qualname__})"
        ) from None
