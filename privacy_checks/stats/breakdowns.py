"""Breakdowns (docs/design.md §3; the paper's Table 3): leakage per group (emotion, improvised vs
scripted) and the within-speaker permutation test that accuracy does not differ between groups."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from privacy_checks.seeds import Seed, child_seed
from privacy_checks.stats.inputs import as_labels, check_lengths, speaker_table
from privacy_checks.stats.leakage import majority_chance, speaker_bootstrap_ci


def _is_unknown_group(value) -> bool:
    return value is None or (isinstance(value, (float, np.floating)) and np.isnan(value))


def _grouped(labels, predictions, speakers, groups):
    """Validated arrays restricted to utterances with a known group.

    Returns (labels, correct, speakers, group index per utterance, sorted group names). ``None``
    (and a float NaN, as a missing pandas cell) means "group unknown": the utterance is dropped.
    Other group values are compared as ``str``.
    """
    labels, predictions = as_labels(labels), as_labels(predictions, "predictions")
    speakers = np.asarray(speakers, dtype=str)
    groups = list(groups)
    check_lengths(labels=labels, predictions=predictions, speakers=speakers, groups=groups)
    speaker_table(speakers, labels)  # a speaker with both genders is an input error everywhere
    known = np.array([not _is_unknown_group(g) for g in groups], dtype=bool)
    names, group_index = np.unique(
        np.array([str(g) for g, k in zip(groups, known) if k], dtype=str), return_inverse=True
    )
    return (labels[known], (labels == predictions)[known], speakers[known], group_index.astype(np.int64), names)


def _round_or_none(value):
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return int(value)
    value = float(value)
    return None if np.isnan(value) else round(value, 6)


@dataclass(frozen=True)
class GroupLeakage:
    """Pooled attacker accuracy within one group (an emotion, improvised/scripted, ...).

    ``chance`` is the group's own majority share, so a group holding one gender has chance 1.0
    (always answering that gender is always right) and its excess can only be <= 0. ``ci_low`` /
    ``ci_high`` are NaN when the group cannot support a speaker bootstrap (see
    ``leakage_by_group``); ``as_dict`` writes them as ``None``.
    """

    group: str
    leakage: float
    chance: float
    ci_low: float
    ci_high: float
    n_utterances: int
    n_speakers: int

    @property
    def excess(self) -> float:
        return self.leakage - self.chance

    def as_dict(self) -> dict:
        """Plain values rounded to 6 decimals; NaN becomes ``None`` (JSON has no NaN)."""
        values = {**asdict(self), "excess": self.excess}
        return {k: v if k == "group" else _round_or_none(v) for k, v in values.items()}


def leakage_by_group(
    labels: Sequence[int] | np.ndarray,
    predictions: Sequence[int] | np.ndarray,
    speakers: Sequence[str],
    groups: Sequence,
    *,
    seed: Seed,
    n_bootstrap: int = 1000,
    confidence: float = 0.95,
    min_speakers: int = 2,
) -> list[GroupLeakage]:
    """Leakage per group (the paper's Table 3 per emotion; improvised vs scripted), sorted by name.

    ``predictions`` are the held-out predictions of the pooled audit (every utterance predicted
    once); a group's leakage is their accuracy on the group's utterances. Utterances whose group
    is ``None`` (or NaN) are left out. Every group present is reported; its interval is the
    gender-stratified speaker bootstrap (``speaker_bootstrap_ci``) within the group, and is NaN
    unless the group has at least ``min_speakers`` speakers *of each gender*: with a single
    speaker of a gender the stratum never varies and the interval would be falsely narrow, and a
    one-gender group measures how often that gender is recognised, not leakage over chance.
    Group i (in sorted order) draws from child i of ``seed``.
    """
    if min_speakers < 1:
        raise ValueError(f"min_speakers must be >= 1, got {min_speakers}")
    labels, correct, speakers, group_index, names = _grouped(labels, predictions, speakers, groups)
    results = []
    for index, name in enumerate(names):
        member = group_index == index
        group_labels, group_speakers = labels[member], speakers[member]
        speaker_names, first = np.unique(group_speakers, return_index=True)
        speakers_per_gender = np.bincount(group_labels[first], minlength=2)
        ci_low = ci_high = float("nan")
        if speakers_per_gender.min() >= min_speakers:
            ci_low, ci_high = speaker_bootstrap_ci(
                correct[member],
                group_speakers,
                group_labels,
                seed=child_seed(seed, index),
                n_bootstrap=n_bootstrap,
                confidence=confidence,
            )
        results.append(
            GroupLeakage(
                group=str(name),
                leakage=float(correct[member].mean()),
                chance=majority_chance(group_labels),
                ci_low=ci_low,
                ci_high=ci_high,
                n_utterances=int(member.sum()),
                n_speakers=int(speaker_names.size),
            )
        )
    return results


@dataclass(frozen=True)
class GroupComparison:
    """Test of H0 "the attacker is equally accurate in every group".

    ``statistic``: for two groups, accuracy of ``groups[0]`` minus accuracy of ``groups[1]``
    (signed; the test is two-sided on its absolute value); for more, the Pearson chi-square of
    the correct/incorrect x group table (>= 0). ``p_value`` is NaN when the test cannot be run,
    and ``method`` then says why.
    """

    groups: tuple[str, ...]
    statistic: float
    p_value: float
    method: str

    def as_dict(self) -> dict:
        return {
            "groups": list(self.groups),
            "statistic": _round_or_none(self.statistic),
            "p_value": _round_or_none(self.p_value),
            "method": self.method,
        }


_WITHIN_SPEAKER = "within-speaker permutation of group labels"


def compare_groups(
    labels: Sequence[int] | np.ndarray,
    predictions: Sequence[int] | np.ndarray,
    speakers: Sequence[str],
    groups: Sequence,
    *,
    seed: Seed,
    n_permutations: int = 1000,
) -> GroupComparison:
    """Permutation p-value that the attacker's accuracy differs between groups.

    A speaker contributes utterances to several groups (emotions, improvised/scripted), so the
    group labels are permuted *within each speaker*: each speaker keeps its correct/incorrect
    mix and its utterance count per group, and the speaker clustering is respected. Under such a
    permutation the number of a speaker's correct utterances landing in each group is
    multivariate hypergeometric, which is drawn directly (one draw per speaker, vectorised over
    permutations). ``p = (1 + #{permuted >= observed}) / (1 + n_permutations)``.

    The null is therefore "for a given speaker, the group does not change the attacker's
    accuracy". Pooled group accuracies can also differ because groups hold different speakers
    (accurate speakers improvising more); that is speaker composition, not a group effect, and
    this test does not call it significant (the per-group ``leakage_by_group`` table shows it).

    Utterances whose group is ``None`` (or NaN) are dropped. Speakers seen in one group only are
    carried unchanged; if no speaker spans two groups the permutation distribution is a single
    point and the p-value is NaN. Fewer than two groups also give a NaN p-value, never an error.
    """
    if n_permutations < 1:
        raise ValueError(f"n_permutations must be >= 1, got {n_permutations}")
    _, correct, speakers, group_index, names = _grouped(labels, predictions, speakers, groups)
    names = tuple(str(name) for name in names)
    k = len(names)
    if k < 2:
        found = f"only '{names[0]}'" if k else "none"
        return GroupComparison(
            groups=names,
            statistic=float("nan"),
            p_value=float("nan"),
            method=f"not tested: fewer than two groups with a known value ({found})",
        )
    _, speaker_index = np.unique(speakers, return_inverse=True)
    n_speakers = int(speaker_index.max()) + 1
    # sizes[s, g]: utterances of speaker s in group g; hits_of[s]: correct utterances of s
    sizes = np.bincount(speaker_index * k + group_index, minlength=n_speakers * k)
    sizes = sizes.reshape(n_speakers, k)
    hits_of = np.bincount(speaker_index, weights=correct, minlength=n_speakers).astype(np.int64)
    group_sizes = sizes.sum(axis=0)
    observed_hits = np.bincount(group_index, weights=correct, minlength=k).astype(np.int64)
    statistic = _group_statistic(observed_hits[None, :], group_sizes)[0]
    if k == 2:
        reported = float(observed_hits[0] / group_sizes[0] - observed_hits[1] / group_sizes[1])
        method = f"{_WITHIN_SPEAKER}; two-sided on |accuracy difference|"
    else:
        reported = float(statistic)
        method = f"{_WITHIN_SPEAKER}; Pearson chi-square of accuracy across groups"
    mixing = (sizes > 0).sum(axis=1) >= 2
    if not mixing.any():
        return GroupComparison(
            groups=names,
            statistic=reported,
            p_value=float("nan"),
            method=f"not tested: no speaker has utterances in two groups, so {_WITHIN_SPEAKER} cannot move anything",
        )
    rng = np.random.default_rng(seed)
    permuted_hits = np.zeros((n_permutations, k), dtype=np.int64)
    fixed = ~mixing | (hits_of == 0) | (hits_of == sizes.sum(axis=1))
    permuted_hits += (sizes[fixed] * (hits_of[fixed] > 0)[:, None]).sum(axis=0)
    for s in np.flatnonzero(~fixed):
        permuted_hits += rng.multivariate_hypergeometric(
            sizes[s], int(hits_of[s]), size=n_permutations, method="marginals"
        )
    null = _group_statistic(permuted_hits, group_sizes)
    # Chi-square is a float: a tolerance for round-off, so a permuted table equal to the observed
    # one counts as >=. The two-group statistic is an integer and compares exactly.
    tolerance = 0 if k == 2 else 1e-12 * max(1.0, float(statistic))
    exceeding = np.count_nonzero(null >= statistic - tolerance)
    return GroupComparison(
        groups=names, statistic=reported, p_value=float((1 + exceeding) / (1 + n_permutations)), method=method
    )


def _group_statistic(hits: np.ndarray, group_sizes: np.ndarray) -> np.ndarray:
    """Per row of group hit counts: for two groups |acc_0 - acc_1| * n_0 * n_1 (an exact
    integer, so ties are exact), else the Pearson chi-square.

    Rows share group sizes and total hits (a within-speaker permutation keeps both), so for two
    groups the two statistics order rows identically. Chi-square is 0 when every utterance is
    right (or every one wrong): then every group has the same accuracy.
    """
    if group_sizes.size == 2:
        return np.abs(hits[:, 0] * group_sizes[1] - hits[:, 1] * group_sizes[0])
    accuracy = hits / group_sizes
    total = group_sizes.sum()
    overall = hits.sum(axis=1, keepdims=True) / total
    variance = overall * (1 - overall)
    dispersion = (group_sizes * (accuracy - overall) ** 2).sum(axis=1, keepdims=True)
    safe = np.where(variance > 0, variance, 1.0)
    return np.where(variance > 0, dispersion / safe, 0.0)[:, 0]
