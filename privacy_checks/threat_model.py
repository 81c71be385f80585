"""The threat model as data (docs/design.md §2, the paper's Table 1) and the run budgets.

Torch-free: config.py validates scenario, attacker-kind and budget names against it at start-up.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


@dataclass(frozen=True)
class Scenario:
    name: str
    same_family: bool  # the attacker's model family is T's
    same_architecture: bool  # the attacker's network from the layer on is T's own
    aux_corpus: bool  # trained on the auxiliary corpus (else on the target corpus, disjoint speakers)

    @property
    def summary(self) -> str:
        family = "same family" if self.same_family else "different family"
        arch = "same architecture" if self.same_architecture else "different architecture"
        data = "auxiliary corpus" if self.aux_corpus else "target corpus"
        return f"{family}, {arch}, {data}"


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario("worst_case", True, True, False),
        Scenario("scenario_1", True, True, True),
        Scenario("scenario_2", True, False, False),
        Scenario("scenario_3", True, False, True),
        Scenario("scenario_4", False, False, True),
    )
}


class _Name(str, Enum):
    """A name that is also its string: ``==`` with the plain string, JSON and f-strings all see
    the value, so configs, item ids and report rows keep their strings."""

    def __str__(self) -> str:
        return str(self.value)


class AttackerKind(_Name):
    GENERIC = "generic"  # predicts gender only
    APPLICATION_AWARE = "application_aware"  # multi-task: gender + its own corpus's emotions


class Access(_Name):
    ENCODER = "encoder"  # the attacker can run T's on-device part (the upper bound that gates CI)
    INTERCEPT = "intercept"  # the paper's protocol: its own full model, h_T fed in at the matching layer


# The convex probe that reads every encoder-access item beside the scenario's head (its name in
# reports; engine/probe_attack.py runs it).
CONVEX_PROBE = "convex_probe"

# The plain strings, for settings and messages (config validation, options, the study tables).
GENERIC, APPLICATION_AWARE = AttackerKind.GENERIC.value, AttackerKind.APPLICATION_AWARE.value
ATTACKER_KINDS = tuple(kind.value for kind in AttackerKind)
ENCODER, INTERCEPT = Access.ENCODER.value, Access.INTERCEPT.value
ACCESS_MODES = tuple(access.value for access in Access)


@dataclass(frozen=True)
class Budget:
    """How much work an audit does: a pull-request job runs `quick`, a nightly job `thorough`."""

    name: str
    utterances_per_speaker: int | None  # None: all
    epochs: int  # most epochs an attacker head trains (early stopping ends it sooner) unless attacker.epochs is set
    kinds: tuple[str, ...]  # attacker kinds unless audit.attackers is set
    same_family_heads: int  # how many of the family's other architectures (scenarios 2 and 3)
    probe_baseline: bool  # a linear probe beside every scenario's attackers
    negative_control: bool  # also train every attacker with the speaker->gender mapping shuffled
    # Seeds each encoder-access neural head trains with: its interval spans every seed's, so an
    # estimate that moves with where training stopped is reported as uncertain.
    attacker_seeds: int = 1


BUDGETS: dict[str, Budget] = {
    b.name: b
    for b in (
        Budget("quick", 6, 40, (GENERIC,), 1, False, False),
        Budget("standard", 10, 60, ATTACKER_KINDS, 1, False, False),
        Budget("thorough", None, 100, ATTACKER_KINDS, 3, True, True, attacker_seeds=3),
    )
}
DEFAULT_BUDGET = "standard"
