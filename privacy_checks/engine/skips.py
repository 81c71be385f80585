"""Why a case cannot be measured (its item is skipped with the reason)."""

from __future__ import annotations

from privacy_checks.attackers.names import TAIL_CLONE
from privacy_checks.engine.corpora import AuditCorpora, has_emotions
from privacy_checks.engine.domain import AuditCase
from privacy_checks.model.target import Target
from privacy_checks.threat_model import Access, AttackerKind, Scenario


def skip_reason(
    case: AuditCase, scenario: Scenario, corpora: AuditCorpora, target: Target, has_tail: dict[str, bool]
) -> str | None:
    if scenario.aux_corpus and corpora.aux is None:
        return (
            f"{case.scenario} trains the attacker on an auxiliary corpus: pass --privacy-aux-data SPEC "
            "(or set audit.aux_data in thresholds.yaml)"
        )
    if case.attack.access == Access.INTERCEPT and case.used_head == TAIL_CLONE:
        if target.fresh_model() is None:
            return (
                f"intercept access needs T's architecture to build the attacker's own copy, and "
                f"{target.path.name} ({target.format}) does not say what it is"
            )
        # T's output layer: the last candidate (where a zoo model has no tail either; a model that
        # cannot rebuild its tail, a Hugging Face folder, still has layers after the others)
        if case.layer == target.candidate_layers()[-1]:
            return (
                f"{case.layer} is T's output layer: in the attacker's own copy of T it is the gender "
                "output, so there is no later layer to feed h_T into"
            )
    training = corpora.aux if scenario.aux_corpus else corpora.target
    assert training is not None  # an aux scenario without an aux corpus returned above
    if case.attack.attacker == AttackerKind.APPLICATION_AWARE and not has_emotions(training):
        return (
            f"the application-aware attacker learns the emotions of its training corpus, and "
            f"{training.name} has no emotion label for every utterance"
        )
    return None
