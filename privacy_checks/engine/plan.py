"""Table 1 turned into concrete audit cases: which attacker heads each scenario uses against T.

The catalog itself (torch-free) lives in threat_model.py; this module picks heads by T's family:
same architecture -> T's own tail (re-initialised); same family, other architecture -> the family's
other members; different family -> the other family (an LSTM for a CNN target, a CNN for a sequence
target). A linear probe stands in where T cannot rebuild its tail, and joins every scenario as a
baseline in the thorough budget.
"""

from __future__ import annotations

from dataclasses import dataclass

from privacy_checks.attackers.heads import DIFFERENT_FAMILY_HEAD, LINEAR_PROBE, SAME_FAMILY_HEADS, TAIL_CLONE
from privacy_checks.engine.threat_model import ENCODER, INTERCEPT, SCENARIOS, Budget


@dataclass(frozen=True)
class AuditCase:
    scenario: str
    attacker: str  # generic | application_aware
    access: str
    architecture: str  # the attacker head that reads this layer
    layer: str
    head: str = ""  # the scenario's planned head (a probe stands in where T has no tail to clone)

    @property
    def name(self) -> str:
        """Item name: scenario, then (for intercept access) the access mode, attacker kind, head
        architecture and layer (all in -k's reach)."""
        access = "" if self.access == ENCODER else f"{self.access}-"
        return f"{self.scenario}[{access}{self.attacker}-{self.architecture}-{self.layer}]"

    @property
    def attack(self) -> tuple[str, str, str, str]:
        """The attacker without the layer: cases sharing it form one curve of Fig. 3."""
        return (self.scenario, self.attacker, self.access, self.head or self.architecture)


def heads_for(scenario_name: str, family: str, budget: Budget) -> list[str]:
    scenario = SCENARIOS[scenario_name]
    if scenario.same_architecture:
        heads = [TAIL_CLONE]
    elif scenario.same_family:
        heads = list(SAME_FAMILY_HEADS[family][: budget.same_family_heads])
    else:
        heads = [DIFFERENT_FAMILY_HEAD[family]]
    if budget.probe_baseline and LINEAR_PROBE not in heads:
        heads.append(LINEAR_PROBE)
    return heads


def plan_cases(
    layers: list[str],
    has_tail: dict[str, bool],
    family: str,
    scenarios: list[str],
    kinds: list[str],
    budget: Budget,
    accesses: tuple[str, ...] = (ENCODER,),
) -> list[AuditCase]:
    """Cases in report order: access mode, scenario, attacker kind, head, then layers in forward order.

    Intercept access has no linear probe (the attacker has no labelled h_T to train one on) and no
    stand-in for T's output layer, where the tail clone's cases are skipped with a reason."""
    cases: list[AuditCase] = []
    for access in accesses:
        for scenario in scenarios:
            for kind in kinds:
                for head in heads_for(scenario, family, budget):
                    if access == INTERCEPT and head == LINEAR_PROBE:
                        continue
                    for layer in layers:
                        stand_in = access == ENCODER and head == TAIL_CLONE and not has_tail[layer]
                        case = AuditCase(scenario, kind, access, LINEAR_PROBE if stand_in else head, layer, head)
                        if all(c.name != case.name for c in cases):  # a stand-in probe may repeat the baseline
                            cases.append(case)
    return cases
