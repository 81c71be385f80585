"""Every random stream of an audit comes from the audit seed through these three functions, so a
result does not depend on which other items ran before it (``-k``, ``--lf`` and xdist give the
same numbers). Each scheme is kept as it was first defined: changing one changes every figure."""

from __future__ import annotations

import hashlib

import numpy as np

Seed = int | np.random.SeedSequence


def derived_seed(seed: int, label: str) -> int:
    """An independent stream per labelled task (an audit case, a control, an intercept attack)."""
    digest = hashlib.sha256(f"{seed}:{label}".encode()).digest()
    return int.from_bytes(digest[:4], "little")


def fold_seed(seed: int, fold: int) -> int:
    """The training seed of one fold of a cross-validated attacker."""
    return int(np.random.SeedSequence([seed, fold]).generate_state(1)[0])


def child_seed(seed: Seed, index: int) -> np.random.SeedSequence:
    """The ``index``-th child of ``seed``, like ``SeedSequence.spawn`` but without mutating a
    caller's SeedSequence, so the same seed object gives the same children on every call."""
    if isinstance(seed, np.random.SeedSequence):
        return np.random.SeedSequence(seed.entropy, spawn_key=(*seed.spawn_key, index), pool_size=seed.pool_size)
    return np.random.SeedSequence(seed, spawn_key=(index,))
