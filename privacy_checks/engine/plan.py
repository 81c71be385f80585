"""Table 1 turned into concrete audit cases: which attacker heads each scenario uses against T.

The catalog itself (torch-free) lives in threat_model.py; this module picks heads by T's family:
same architecture -> T's own tail (re-initialised); same family, other architecture -> the family's
other members; different family -> the other family (an LSTM for a CNN target, a CNN for a sequence
target). A linear probe stands in where T cannot rebuild its tail, and joins every scenario as a
baseline in the thorough budget.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from privacy_checks.attackers.names import DIFFERENT_FAMILY_HEAD, LINEAR_PROBE, SAME_FAMILY_HEADS, TAIL_CLONE
from privacy_checks.config.limits import Limits
from privacy_checks.engine.custom import CustomAttacker
from privacy_checks.engine.domain import Attack, AuditCase
from privacy_checks.errors import PrivacyInputError
from privacy_checks.threat_model import SCENARIOS, Access, AttackerKind, Budget
from privacy_checks.validation import did_you_mean

if TYPE_CHECKING:
    from privacy_checks.model import Target

__all__ = ["AuditCase", "check_limit_patterns", "custom_cases", "heads_for", "plan_cases", "select_layers"]


def select_layers(
    candidates: list[str],
    patterns: Sequence[str],
    model_name: str,
    origin: str = "audit.layers",
    excluded: Callable[[], Mapping[str, str]] | None = None,
) -> list[str]:
    """The candidate layers matching any of the audit.layers globs (all without any), in forward
    order; a glob matching nothing is a usage error naming ``origin`` (the file and key), and why
    the modules it names are not split points where ``excluded`` (name -> reason, asked only then)
    lists them."""
    if not patterns:
        return candidates
    for pattern in patterns:
        if not any(fnmatch.fnmatchcase(layer, pattern) for layer in candidates):
            named = {
                name: why
                for name, why in (excluded() if excluded else {}).items()
                if fnmatch.fnmatchcase(name, pattern)
            }
            shown = "; ".join(f"{name} is not a split point: {why}" for name, why in list(named.items())[:2])
            raise PrivacyInputError(
                f"{origin}: {pattern!r} matches no candidate layer of {model_name}{f' ({shown})' if shown else ''}; "
                f"candidates: {', '.join(candidates)}; write a glob that matches one of them"
            )
    return [layer for layer in candidates if any(fnmatch.fnmatchcase(layer, p) for p in patterns)]


def check_limit_patterns(candidates: list[str], limits: Limits, model_name: str, origin: str) -> None:
    """A per-layer limit whose pattern matches no candidate layer is a usage error: it is usually a
    typo, and a stricter limit that silently applies nowhere would let its layer pass at the default."""
    written = [(f"limits.layers.{pattern!r}", pattern) for pattern, _limit in limits.layers]
    written += [(f"limits.overrides[{i}].layer", o.layer) for i, o in enumerate(limits.overrides) if o.layer]
    for key, pattern in written:
        if not any(fnmatch.fnmatchcase(layer, pattern) for layer in candidates):
            raise PrivacyInputError(
                f"{origin}: {key}: {pattern!r} matches no candidate layer of {model_name}, so its limit would "
                f"apply nowhere; candidates: {', '.join(candidates)}{did_you_mean(pattern, candidates)}"
            )


def check_labels(target: Target, origin: str) -> None:
    """model.labels names T's output classes in order: a list whose length is not the number of
    outputs is a mistake about the model (another model's labels, a truncated list), and the
    report would name the classes wrongly."""
    if not target.labels:
        return
    classes = target.output_classes()
    if classes is not None and classes != len(target.labels):
        raise PrivacyInputError(
            f"{origin}: model.labels lists {len(target.labels)} classes ({', '.join(target.labels)}) but "
            f"{target.path.name} scores {classes} per example (its output is ({classes},) per example): list one "
            "name per output, in the order of the model's outputs, or leave model.labels out"
        )


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
    scenarios: Sequence[str],
    kinds: Sequence[str],
    budget: Budget,
    accesses: Sequence[str] = (Access.ENCODER,),
) -> list[AuditCase]:
    """Cases in report order: access mode, scenario, attacker kind, head, then layers in forward order.

    Intercept access has no linear probe (the attacker has no labelled h_T to train one on) and no
    stand-in for T's output layer, where the tail clone's cases are skipped with a reason."""
    cases: list[AuditCase] = []
    for access in map(Access, accesses):
        for scenario in scenarios:
            for kind in map(AttackerKind, kinds):
                for head in heads_for(scenario, family, budget):
                    if access == Access.INTERCEPT and head == LINEAR_PROBE:
                        continue
                    attack = Attack(scenario, kind, access, head)
                    for layer in layers:
                        stand_in = access == Access.ENCODER and head == TAIL_CLONE and not has_tail[layer]
                        case = AuditCase(attack, layer, LINEAR_PROBE if stand_in else head)
                        if all(c.name != case.name for c in cases):  # a stand-in probe may repeat the baseline
                            cases.append(case)
    return cases


def custom_cases(custom: CustomAttacker, layers: list[str]) -> list[AuditCase]:
    """A user's attacker as its own scenario, named after it, over every audited layer (encoder access)."""
    return [
        AuditCase(Attack(custom.name, AttackerKind(kind), Access.ENCODER, custom.name), layer, custom.name)
        for kind in custom.kinds
        for layer in layers
    ]
