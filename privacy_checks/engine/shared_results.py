"""Results that several processes of one run need, computed by one of them: pytest-xdist workers.

Items are spread over the workers one by one (finest balance), but some results serve many items:
an attack's controls serve all its layers, the convex probe's reading of a layer serves every
scenario that trains on the same corpus. Each worker computing them again cost the workers most of
their speed-up. Here the first process to need one computes it under a lock on its key; the
others wait for it and read the array it wrote.

The folder belongs to one run: its name is a random id the controller hands its workers, so
nothing from another run (or planted beside the cache) is ever read, and the controller removes it
when the run ends. Arrays are read with `allow_pickle=False`: data, never code. A serial run shares
nothing (no folder): every result is then computed once anyway.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from privacy_checks.engine.file_lock import locked


class SharedArrays:
    def __init__(self, folder: Path | None):
        self.folder = folder

    def get(self, key: str, compute: Callable[[], np.ndarray]) -> np.ndarray:
        """The array for `key`: read when another process of the run computed it, else computed
        (others wanting it meanwhile wait) and written for them."""
        if self.folder is None:
            return compute()
        name = hashlib.sha256(key.encode()).hexdigest()[:32]
        path = self.folder / f"{name}.npy"
        with locked(self.folder / f"{name}.lock"):
            if path.is_file():
                return np.load(path, allow_pickle=False)
            value = np.asarray(compute())
            tmp = path.with_name(f".{name}.{os.getpid()}.tmp.npy")
            np.save(tmp, value, allow_pickle=False)
            os.replace(tmp, path)
            return value
