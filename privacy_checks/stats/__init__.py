"""Measurement protocol (DESIGN.md §3): folds, leakage, intervals, permutation tests, decisions.

Pure numpy: no torch, no pytest. Everything random draws from ``np.random.default_rng(seed)``, so
the same inputs and seed give bit-identical results.

The effective sample size of a leakage estimate is the number of speakers, not utterances: a
speaker's utterances share one gender and one voice. So folds group by speaker, the interval
resamples speakers and the permutation test permutes the speaker->gender mapping.

Modules: ``folds`` (speaker and group folds), ``leakage`` (estimate, chance, bootstrap interval,
permutation p-value), ``decision`` (pass/fail against a limit; the rule names), ``breakdowns``
(per-group leakage and the test that groups differ), ``inputs`` (checks they share).
"""

from __future__ import annotations

from privacy_checks.stats.breakdowns import GroupComparison, GroupLeakage, compare_groups, leakage_by_group
from privacy_checks.stats.decision import DECISION_RULES, RULE_CI_HIGH, RULE_CI_LOW, RULE_POINT, Decision, decide
from privacy_checks.stats.folds import group_folds, speaker_folds
from privacy_checks.stats.leakage import (
    LeakageEstimate,
    estimate_leakage,
    majority_chance,
    speaker_bootstrap_ci,
    speaker_permutation_p_value,
)

__all__ = [
    "DECISION_RULES",
    "RULE_CI_HIGH",
    "RULE_CI_LOW",
    "RULE_POINT",
    "Decision",
    "GroupComparison",
    "GroupLeakage",
    "LeakageEstimate",
    "compare_groups",
    "decide",
    "estimate_leakage",
    "group_folds",
    "leakage_by_group",
    "majority_chance",
    "speaker_bootstrap_ci",
    "speaker_folds",
    "speaker_permutation_p_value",
]
