"""From an attacker's predictions to an item's status: the leakage estimate, the decision against
the limit, then the two things that can overrule it (docs/design.md §4): a pass by an attacker without
power is inconclusive, and a rise against the baseline fails an item even under its limit."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from privacy_checks import stats
from privacy_checks.config import AuditSettings, PrivacyConfig
from privacy_checks.engine.baseline import Baseline, Regression
from privacy_checks.engine.corpora import AuditCorpora
from privacy_checks.engine.domain import AuditCase
from privacy_checks.engine.results import FAILED, INCONCLUSIVE, ControlResult, Status


def gender_column(predictions: np.ndarray) -> np.ndarray:
    """The gender column of a multi-task attacker's (gender, emotion) predictions."""
    return predictions[:, 0] if predictions.ndim == 2 else predictions


def estimate(
    corpora: AuditCorpora, settings: AuditSettings, predictions: np.ndarray, seed: int
) -> stats.LeakageEstimate:
    """Leakage of gender predictions for the target corpus, with its speaker-level interval and p."""
    return stats.estimate_leakage(
        corpora.labels,
        predictions,
        corpora.target.speakers,
        corpora.folds,
        seed=seed,
        n_bootstrap=settings.bootstrap,
        n_permutations=settings.permutations,
        confidence=settings.confidence,
    )


@dataclass(frozen=True)
class Verdict:
    status: Status  # passed | failed | inconclusive
    decision: stats.Decision  # the estimate against the limit alone
    limit_key: str  # the thresholds.yaml key the limit came from
    reason: str  # why inconclusive, or failed against the baseline ("" otherwise)
    regression: Regression | None  # against the baseline, when it has an entry for the item


def judge(
    case: AuditCase,
    leakage: stats.LeakageEstimate,
    control: ControlResult,
    config: PrivacyConfig,
    baseline: Baseline | None = None,
) -> Verdict:
    limits = config.limits
    max_excess, key = limits.lookup(case.scenario, case.attacker, case.layer)
    decision = stats.decide(leakage, max_excess, limits.rule)
    status, why = Status(decision.status), ""
    if status == INCONCLUSIVE:  # the interval straddles the limit
        why = straddle_reason(decision, leakage)
    # A significant leak proves the attacker's power; anything short of a failure needs the positive control.
    if status != FAILED and not control.has_power:
        status = INCONCLUSIVE
        why = no_power_reason(control) + (f"; besides, {why}" if why else "")
    regression = None
    if baseline is not None:
        regression = baseline.compare(
            case.name, leakage.leakage, leakage.ci_low, leakage.ci_high, config.baseline.margin
        )
        if regression is not None and regression.regressed and status != FAILED:
            status = FAILED
            why = (
                f"leakage rose from {regression.before:.3f} to {regression.after:.3f} against the baseline "
                f"{baseline.path.name} (+{regression.rise:.3f} > {regression.allowed:.3f}, the {regression.basis})"
            )
    return Verdict(status, decision, key, why, regression)


def straddle_reason(decision: stats.Decision, leakage: stats.LeakageEstimate) -> str:
    """Why an interval decision is inconclusive (the decision's own words), and what would decide it."""
    more = (
        f"audit on a corpus of about {decision.speakers_needed} speakers (--privacy-data)"
        if decision.speakers_needed is not None
        else "more speakers alone may not decide it: set the limit for this layer deliberately"
    )
    return (
        f"{decision.reason}. What to do: {more}, or use every utterance of each speaker "
        f"(--privacy-budget thorough; this audit used {leakage.n_utterances} utterances of "
        f"{leakage.n_speakers} speakers)"
    )


def no_power_reason(control: ControlResult) -> str:
    """Why an attacker without power proves nothing, and what to add."""
    return (
        f"no power: the same attacker on T's input features reaches only L={control.positive.leakage:.3f} "
        f"(chance {control.positive.chance:.3f}, excess {control.positive.excess:+.3f} < "
        f"controls.positive_min_excess {control.min_excess}), so the audit could not have found leakage here. "
        "What to do: audit on a corpus whose voices carry gender, with more speakers (--privacy-data), "
        "or a larger budget (--privacy-budget standard or thorough)"
    )
