"""An exclusive advisory lock on a file: one process of a run computes what the others then read."""

from __future__ import annotations

import contextlib
from pathlib import Path


@contextlib.contextmanager
def locked(path: Path):
    """An exclusive advisory lock on `path` (fcntl; where there is none, no lock is taken)."""
    try:
        import fcntl
    except ImportError:
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            # Leave no lock file behind. A process that opened the old file before the unlink then
            # holds a lock nobody else sees: at worst it recomputes an entry, and writes are atomic.
            path.unlink(missing_ok=True)
            fcntl.flock(handle, fcntl.LOCK_UN)
