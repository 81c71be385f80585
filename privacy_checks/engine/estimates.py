"""From an attacker's predictions to a leakage estimate for the target corpus (docs/design.md §3)."""

from __future__ import annotations

import dataclasses

import numpy as np

from privacy_checks import stats
from privacy_checks.config import AuditSettings
from privacy_checks.engine.corpora import AuditCorpora


def gender_column(predictions: np.ndarray) -> np.ndarray:
    """The gender column of a multi-task attacker's (gender, emotion) predictions."""
    return predictions[:, 0] if predictions.ndim == 2 else predictions


def estimate(
    corpora: AuditCorpora, settings: AuditSettings, predictions: np.ndarray, seed: int, family: int = 1
) -> stats.LeakageEstimate:
    """Leakage of gender predictions for the target corpus, with its speaker-level interval and p.

    Decided on balanced accuracy (chance 0.5 whatever the gender ratio: on a 90 %-female corpus a
    perfect attacker's plain-accuracy excess is only 0.10); the plain accuracy (the paper's L) and
    its majority chance are kept beside it.

    `family`: how many attackers read the item. The strongest reading decides, and the largest of
    k estimates overshoots more often than one does, so the interval and the p-value are made
    simultaneous over the k readings (Bonferroni: confidence 1 - (1 - c)/k, p times k): under the
    null the deciding reading's interval lies wholly above chance no more often than one reading's
    would at confidence c."""
    if family < 1:
        raise ValueError(f"family must be >= 1, got {family}")
    estimate = stats.estimate_balanced_leakage(
        corpora.labels,
        predictions,
        corpora.target.speakers,
        corpora.folds,
        seed=seed,
        n_bootstrap=settings.bootstrap,
        n_permutations=settings.permutations,
        confidence=1 - (1 - settings.confidence) / family,
    )
    if family == 1:
        return estimate
    return dataclasses.replace(estimate, p_value=min(1.0, estimate.p_value * family))
