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
from privacy_checks.engine.results import FAILED, INCONCLUSIVE, PASSED, ControlResult, Status


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
    # A significant leak proves the attacker's power; only a pass needs the positive control.
    if status == PASSED and not control.has_power:
        status = INCONCLUSIVE
        why = (
            f"the same attacker on T's input features reaches only L={control.positive.leakage:.3f} "
            f"(chance {control.positive.chance:.3f}; controls.positive_min_excess {control.min_excess}): "
            "the audit could not have found leakage here"
        )
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
