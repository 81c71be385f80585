"""User-defined attackers (torch-free description; the build callable makes the torch module)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from privacy_checks.threat_model import ATTACKER_KINDS, GENERIC


@dataclass(frozen=True)
class CustomAttacker:
    """An attacker a team adds from its conftest.py (see hookspec.pytest_privacy_attackers).

    `build(shape, outputs)` returns a fresh ``nn.Module`` mapping a batch of representations of
    per-example `shape` to logits: a tensor for ``outputs == (2,)`` (gender), or a tuple of tensors
    (gender, emotion) when application-aware.
    """

    name: str
    build: Callable[[tuple[int, ...], tuple[int, ...]], Any]
    training_data: str = "target"  # "target" (disjoint speakers, cross-validated) or "aux"
    kinds: tuple[str, ...] = (GENERIC,)

    def __post_init__(self):
        if not self.name.isidentifier():
            raise ValueError(f"CustomAttacker name {self.name!r} must be an identifier (it names items)")
        if self.training_data not in ("target", "aux"):
            raise ValueError("CustomAttacker.training_data must be 'target' or 'aux'")
        if not self.kinds or any(kind not in ATTACKER_KINDS for kind in self.kinds):
            raise ValueError(f"CustomAttacker.kinds must name attacker kinds out of {', '.join(ATTACKER_KINDS)}")
