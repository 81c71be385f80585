"""Clean what a killed run left in the cache: temporaries and lock files.

Every cache write goes to a temporary beside its destination and is moved into place when complete
(fileio.atomic_write_bytes, the streamed layer outputs, the feature cache), and the forward pass
holds a lock file while it computes an entry. A run killed with SIGKILL cleans neither: a killed
forward pass over a real corpus leaves hundreds of MB. The next run sweeps them.

A temporary is stale when the process named in it (``.<pid>.tmp``) is gone and it has not been
written to for a while, or, for temporaries without a pid, when it is old. The grace period keeps a
live writer's file safe even where its pid is not visible (another container sharing the cache).
A lock file is removed when nobody holds it; the lock is advisory, and taking it here first makes
the removal as safe as the unlock-and-unlink at the end of every computation.
"""

from __future__ import annotations

import os
import re
import time
import warnings
from pathlib import Path

from privacy_checks.cache_seal import CacheWarning
from privacy_checks.fileio import process_alive

DEAD_WRITER_GRACE_S = 120.0  # a live writer touches its temporary at least once per batch
ANONYMOUS_TEMP_AGE_S = 24 * 3600.0  # temporaries written in one go (seals, JSON): long finished

_PID_TEMP = re.compile(r"\.(\d+)\.tmp(\.npy)?$")
_swept: set[Path] = set()


def sweep_once(root: Path) -> list[tuple[Path, int]]:
    """`sweep_stale` for `root`, once per process (every audit of a session shares the cache); a
    CacheWarning says what was removed."""
    root = Path(root)
    if root in _swept:
        return []
    _swept.add(root)
    removed = sweep_stale(root)
    if removed:
        megabytes = sum(size for _path, size in removed) / 1e6
        warnings.warn(
            f"removed {len(removed)} stale temporary or lock files ({megabytes:.1f} MB) that a killed run "
            f"left in the cache {root}",
            CacheWarning,
            stacklevel=2,
        )
    return removed


def sweep_stale(root: Path, now: float | None = None) -> list[tuple[Path, int]]:
    """Remove stale temporaries and unheld lock files under `root` (symlinks not followed); return
    each removed file with its size in bytes."""
    now = time.time() if now is None else now
    removed: list[tuple[Path, int]] = []
    if not root.is_dir() or root.is_symlink():
        return removed
    for folder, _folders, files in os.walk(root):
        for name in files:
            path = Path(folder, name)
            try:
                info = path.lstat()
            except OSError:
                continue  # removed meanwhile by its writer
            if _is_stale(path, now - info.st_mtime):
                try:
                    path.unlink()
                except OSError:
                    continue
                removed.append((path, info.st_size))
    return removed


def _is_stale(path: Path, age: float) -> bool:
    name = path.name
    if name.endswith(".lock"):
        return age > DEAD_WRITER_GRACE_S and _unheld(path)
    if (match := _PID_TEMP.search(name)) is not None:
        return age > ANONYMOUS_TEMP_AGE_S or (age > DEAD_WRITER_GRACE_S and not process_alive(int(match.group(1))))
    return name.endswith(".tmp") and age > ANONYMOUS_TEMP_AGE_S


def _unheld(path: Path) -> bool:
    """Whether nobody holds the advisory lock on `path` (True where there is no fcntl: nothing can)."""
    try:
        import fcntl
    except ImportError:
        return True
    try:
        with open(path, "rb") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                return False
            fcntl.flock(handle, fcntl.LOCK_UN)
            return True
    except OSError:
        return False
