"""Measurement protocol (docs/design.md §3): folds, leakage, intervals, permutation tests, decisions.

Pure numpy: no torch, no pytest. Everything random draws from ``np.random.default_rng(seed)``, so
the same inputs and seed give bit-identical results.

The effective sample size of a leakage estimate is the number of speakers, not utterances: a
speaker's utterances share one gender and one voice. So folds group by speaker, the interval
resamples speakers and the permutation test permutes the speaker->gender mapping.

Modules: ``folds`` (speaker and group folds), ``leakage`` (estimate, chance, bootstrap interval,
permutation p-value), ``balanced`` (the same for balanced accuracy, chance 0.5 whatever the gender
ratio), ``decision`` (pass/fail/inconclusive against a limit; the rule names), ``breakdowns``
(per-group leakage and the test that groups differ), ``inputs`` (checks they share).
"""

from __future__ import annotations

from privacy_checks.stats.balanced import (
    BALANCED_CHANCE,
    balanced_accuracy,
    estimate_balanced_leakage,
    speaker_bootstrap_balanced_ci,
    speaker_permutation_balanced_p_value,
)
from privacy_checks.stats.breakdowns import GroupComparison, GroupLeakage, compare_groups, leakage_by_group
from privacy_checks.stats.decision import (
    DECISION_RULES,
    FAILED,
    INCONCLUSIVE,
    PASSED,
    RULE_CI_HIGH,
    RULE_CI_LOW,
    RULE_INTERVAL,
    RULE_POINT,
    Decision,
    decide,
    speakers_to_decide,
)
from privacy_checks.stats.folds import group_folds, speaker_folds
from privacy_checks.stats.leakage import (
    METRIC_ACCURACY,
    METRIC_BALANCED,
    LeakageEstimate,
    estimate_leakage,
    majority_chance,
    speaker_bootstrap_ci,
    speaker_permutation_p_value,
)

__all__ = [
    "BALANCED_CHANCE",
    "DECISION_RULES",
    "FAILED",
    "INCONCLUSIVE",
    "METRIC_ACCURACY",
    "METRIC_BALANCED",
    "PASSED",
    "RULE_CI_HIGH",
    "RULE_CI_LOW",
    "RULE_INTERVAL",
    "RULE_POINT",
    "Decision",
    "GroupComparison",
    "GroupLeakage",
    "LeakageEstimate",
    "balanced_accuracy",
    "compare_groups",
    "decide",
    "estimate_balanced_leakage",
    "estimate_leakage",
    "group_folds",
    "leakage_by_group",
    "majority_chance",
    "speaker_bootstrap_balanced_ci",
    "speaker_bootstrap_ci",
    "speaker_folds",
    "speaker_permutation_balanced_p_value",
    "speaker_permutation_p_value",
    "speakers_to_decide",
]
