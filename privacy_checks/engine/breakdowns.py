"""Leakage per emotion (the paper's Table 3) and improvised vs scripted, each with a test of equality."""

from __future__ import annotations

from typing import Any

import numpy as np

from privacy_checks import stats
from privacy_checks.config import AuditSettings
from privacy_checks.data import Corpus


def breakdowns(
    corpus: Corpus, labels: np.ndarray, gender: np.ndarray, seed: int, settings: AuditSettings
) -> dict[str, Any]:
    """Per grouping the corpus labels (emotion, spontaneity): each group's leakage and whether the
    groups differ; a grouping no utterance carries is left out."""
    out: dict[str, Any] = {}
    for name, values in (
        ("emotion", [u.emotion for u in corpus.utterances]),
        ("spontaneity", [u.spontaneity for u in corpus.utterances]),
    ):
        if sum(v is not None for v in values) == 0:
            continue
        groups = stats.leakage_by_group(
            labels, gender, corpus.speakers, values, seed=seed, n_bootstrap=settings.bootstrap
        )
        comparison = stats.compare_groups(
            labels, gender, corpus.speakers, values, seed=seed, n_permutations=settings.permutations
        )
        out[name] = {"groups": [g.as_dict() for g in groups], "comparison": comparison.as_dict()}
    return out
