"""The threat-model catalog (DESIGN.md §2, the paper's Table 1) turned into concrete audit cases."""

from __future__ import annotations

from dataclasses import dataclass

from .attackers import LINEAR_PROBE, TAIL_CLONE


@dataclass(frozen=True)
class Scenario:
    name: str
    family: str  # what the attacker's model family is, relative to T
    architecture: str
    training_data: str
    summary: str


SCENARIOS = {
    "worst_case": Scenario(
        "worst_case", "same", "same", "target corpus (disjoint speakers)",
        "the attacker runs T's encoder and trains T's own tail for gender on the target corpus",
    ),
}

GENERIC = "generic"  # predicts gender only
ENCODER = "encoder"  # the attacker can run T's on-device part (the upper bound that gates CI)


@dataclass(frozen=True)
class AuditCase:
    scenario: str
    attacker: str
    access: str
    architecture: str
    layer: str

    @property
    def name(self) -> str:
        """Item name: scenario, then attacker kind, head architecture and layer (all in -k's reach)."""
        return f"{self.scenario}[{self.attacker}-{self.architecture}-{self.layer}]"


def plan_cases(layers: list[str], has_tail: dict[str, bool]) -> list[AuditCase]:
    """worst_case, generic attacker, encoder access, one case per layer in forward order."""
    return [
        AuditCase("worst_case", GENERIC, ENCODER, TAIL_CLONE if has_tail[layer] else LINEAR_PROBE, layer)
        for layer in layers
    ]
