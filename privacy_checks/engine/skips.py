"""Why a case cannot be measured (its item is skipped with the reason)."""

from __future__ import annotations

from privacy_checks.attackers.names import TAIL_CLONE
from privacy_checks.engine.corpora import AuditCorpora, has_emotions
from privacy_checks.engine.domain import AuditCase
from privacy_checks.engine.representations import LayerOutputs
from privacy_checks.model.target import Target
from privacy_checks.threat_model import Access, AttackerKind, Scenario


def skip_reason(
    case: AuditCase, scenario: Scenario, corpora: AuditCorpora, target: Target, outputs: LayerOutputs
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
    reads_native = case.attack.access == Access.INTERCEPT or case.used_head == TAIL_CLONE
    native_frames = outputs.pooled(case.layer) if reads_native else None
    if native_frames is not None:
        who = "T's tail clone" if case.used_head == TAIL_CLONE else "an intercept attacker"
        return (
            f"{case.layer}'s map has {native_frames} frames, more than audit.max_map_frames="
            f"{outputs.max_map_frames}: it is stored average-pooled, and {who} continues T's forward pass on "
            "the native map; raise audit.max_map_frames in thresholds.yaml to attack it here (more disk)"
        )
    training = corpora.aux if scenario.aux_corpus else corpora.target
    assert training is not None  # an aux scenario without an aux corpus returned above
    if case.attack.attacker == AttackerKind.APPLICATION_AWARE and not has_emotions(training):
        return (
            f"the application-aware attacker learns the emotions of its training corpus, and "
            f"{training.name} has no emotion label for every utterance"
        )
    return None
