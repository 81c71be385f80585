"""A model whose own code raises (its forward pass, its factory) is a user's problem to fix, not a
crash of the audit: the exception becomes a PrivacyInputError naming the model file (or factory),
the exception's type and first line, what the audit was doing, and what to check."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from privacy_checks.errors import PrivacyInputError

_CHECK = (
    "Check that model.input in thresholds.yaml (or the input spec saved with the checkpoint) describes the "
    "input the model expects, and that its forward runs on such a batch outside the audit"
)
_MEMORY = "lower audit.batch_size in thresholds.yaml (or pass --privacy-device cpu)"


def exception_line(exc: BaseException) -> str:
    """`Type: first line of the message` (no traceback), at most 300 characters."""
    lines = str(exc).strip().splitlines()
    text = f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."


def call_hint(error: str) -> str:
    """A pointer to model.forward when `error` says the forward was called with the wrong arguments."""
    if "TypeError" in error and "argument" in error:
        return (
            " If its forward takes other arguments (lengths, an attention mask, the sampling rate) or the "
            "features by keyword, say how to call it with model.forward in thresholds.yaml."
        )
    return ""


def forward_failure(path: Path, exc: BaseException, doing: str) -> PrivacyInputError:
    """The error for a forward pass of the model in `path` that raised `exc` while `doing`."""
    if isinstance(exc, MemoryError) or "out of memory" in str(exc).lower():
        hint = f"It ran out of memory: {_MEMORY}"
    else:
        hint = _CHECK
    line = exception_line(exc)
    return PrivacyInputError(f"{path}: the model's forward pass raised {line} ({doing}). {hint}.{call_hint(line)}")


@contextlib.contextmanager
def forward_errors(path: Path, doing: str) -> Iterator[None]:
    """Inside: any exception the model raises becomes `forward_failure` (a PrivacyInputError passes)."""
    try:
        yield
    except PrivacyInputError:
        raise
    except Exception as exc:
        raise forward_failure(path, exc, doing) from None
