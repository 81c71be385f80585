"""From an attacker's predictions to a leakage estimate for the target corpus (docs/design.md §3)."""

from __future__ import annotations

import numpy as np

from privacy_checks import stats
from privacy_checks.config import AuditSettings
from privacy_checks.engine.corpora import AuditCorpora


def gender_column(predictions: np.ndarray) -> np.ndarray:
    """The gender column of a multi-task attacker's (gender, emotion) predictions."""
    return predictions[:, 0] if predictions.ndim == 2 else predictions


def estimate(
    corpora: AuditCorpora, settings: AuditSettings, predictions: np.ndarray, seed: int
) -> stats.LeakageEstimate:
    """Leakage of gender predictions for the target corpus, with its speaker-level interval and p.

    Decided on balanced accuracy (chance 0.5 whatever the gender ratio: on a 90 %-female corpus a
    perfect attacker's plain-accuracy excess is only 0.10); the plain accuracy (the paper's L) and
    its majority chance are kept beside it."""
    return stats.estimate_balanced_leakage(
        corpora.labels,
        predictions,
        corpora.target.speakers,
        corpora.folds,
        seed=seed,
        n_bootstrap=settings.bootstrap,
        n_permutations=settings.permutations,
        confidence=settings.confidence,
    )
