"""Measurement protocol (DESIGN.md §3): folds, leakage, intervals, permutation tests, decisions.

Pure numpy: no torch, no pytest. Everything random draws from ``np.random.default_rng(seed)``, so
the same inputs and seed give bit-identical results.

The effective sample size of a leakage estimate is the number of speakers, not utterances: a
speaker's utterances share one gender and one voice. So folds group by speaker, the interval
resamples speakers and the permutation test permutes the speaker->gender mapping.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from privacy_checks.errors import PrivacyInputError
from privacy_checks.seeds import Seed, child_seed

_GENDER_NAMES = ("female", "male")  # label 0, label 1
DECISION_RULES = ("point", "ci_low", "ci_high")


# --- input checks -------------------------------------------------------------------------------


def _as_labels(values: Sequence[int] | np.ndarray, what: str = "labels") -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 1 or not np.isin(array, (0, 1)).all():
        raise ValueError(f"{what} must be a 1-d sequence of 0 (female) / 1 (male)")
    return array.astype(np.int64)


def _check_lengths(**arrays: Sequence | np.ndarray) -> None:
    lengths = {name: len(array) for name, array in arrays.items()}
    if len(set(lengths.values())) != 1:
        raise ValueError(f"lengths differ: {lengths}")
    if not next(iter(lengths.values())):
        raise ValueError("no utterances to evaluate")


def _speaker_table(speakers, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(speaker names sorted, speaker index per utterance, gender per speaker)."""
    names, inverse = np.unique(np.asarray(speakers, dtype=str), return_inverse=True)
    sizes = np.bincount(inverse, minlength=len(names))
    males = np.bincount(inverse, weights=labels, minlength=len(names))
    mixed = np.flatnonzero((males > 0) & (males < sizes))
    if mixed.size:
        raise PrivacyInputError(
            f"speaker '{names[mixed[0]]}' has utterances labelled both female and male: a speaker"
            " needs one gender; fix the gender labels of that speaker in the corpus"
        )
    return names, inverse, (males > 0).astype(np.int64)


def _require_both_genders(genders: np.ndarray) -> None:
    present = np.unique(genders)
    if present.size < 2:
        only, missing = _GENDER_NAMES[present[0]], _GENDER_NAMES[1 - present[0]]
        raise PrivacyInputError(
            f"the corpus has only {only} speakers ({genders.size} of them): the attacker needs both"
            f" genders to learn from; add {missing} speakers"
        )


def _require_two_per_gender(names: np.ndarray, genders: np.ndarray) -> None:
    # With one speaker of a gender, the fold holding that speaker trains without the gender.
    for gender, gender_name in enumerate(_GENDER_NAMES):
        members = names[genders == gender]
        if members.size < 2:
            raise PrivacyInputError(
                f"the corpus has {members.size} {gender_name} speaker ({', '.join(members)}):"
                f" every training split needs both genders, so at least 2 speakers of each;"
                f" add {gender_name} speakers"
            )


# --- folds --------------------------------------------------------------------------------------


def speaker_folds(speakers: Sequence[str], labels: Sequence[int] | np.ndarray, k: int, seed: Seed) -> np.ndarray:
    """Fold index (0..k-1) per utterance: group k-fold over speakers, stratified by gender.

    Speakers of each gender are shuffled and dealt round-robin; the deal continues from one
    gender to the next, so every fold's speaker count differs by at most 1, per gender and overall.
    """
    labels = _as_labels(labels)
    _check_lengths(speakers=speakers, labels=labels)
    if k < 2:
        raise PrivacyInputError(
            f"folds={k}: held-out evaluation needs at least 2 folds; set `audit.folds` in thresholds.yaml to 2 or more"
        )
    names, inverse, genders = _speaker_table(speakers, labels)
    _require_both_genders(genders)
    _require_two_per_gender(names, genders)
    if names.size < k:
        raise PrivacyInputError(
            f"corpus has {names.size} speakers but folds={k}: lower `audit.folds` in thresholds.yaml or add speakers"
        )
    rng = np.random.default_rng(seed)
    dealt = np.concatenate([rng.permutation(np.flatnonzero(genders == g)) for g in (0, 1)])
    fold_of_speaker = np.empty(names.size, dtype=np.int64)
    fold_of_speaker[dealt] = np.arange(dealt.size) % k
    return fold_of_speaker[inverse]


def group_folds(groups: Sequence[str], speakers: Sequence[str], labels: Sequence[int] | np.ndarray) -> np.ndarray:
    """Leave-one-group-out (IEMOCAP sessions): fold i holds the i-th distinct group, sorted."""
    groups = np.asarray(groups, dtype=str)
    labels = _as_labels(labels)
    _check_lengths(groups=groups, speakers=speakers, labels=labels)
    names, inverse, genders = _speaker_table(speakers, labels)
    _require_both_genders(genders)
    group_names, folds = np.unique(groups, return_inverse=True)
    if group_names.size < 2:
        raise PrivacyInputError(
            f"the corpus has one group ('{group_names[0]}'): leave-one-group-out needs at least"
            " 2; add groups or use speaker folds"
        )
    _require_one_group_per_speaker(names, inverse, group_names, folds)
    _require_both_genders_in_training(group_names, folds, genders[inverse])
    return folds.astype(np.int64)


def _require_one_group_per_speaker(names, inverse, group_names, folds) -> None:
    # A speaker in two groups would be trained on and tested on: not speaker-independent.
    pairs = np.unique(np.stack([inverse, folds]), axis=1)
    speaker_index, counts = np.unique(pairs[0], return_counts=True)
    split = speaker_index[counts > 1]
    if split.size:
        speaker = split[0]
        where = ", ".join(f"'{g}'" for g in group_names[pairs[1][pairs[0] == speaker]])
        raise PrivacyInputError(
            f"speaker '{names[speaker]}' appears in groups {where}: leave-one-group-out needs"
            " each speaker in one group; fix the session labels or use speaker folds"
        )


def _require_both_genders_in_training(group_names, folds, utterance_genders) -> None:
    # present[g, gender]: group g has utterances of that gender
    present = np.zeros((group_names.size, 2), dtype=bool)
    present[folds, utterance_genders] = True
    elsewhere = present.sum(axis=0) - present  # groups other than g holding each gender
    missing = np.argwhere(elsewhere == 0)
    if missing.size:
        held_out, gender = missing[0]
        raise PrivacyInputError(
            f"holding out group '{group_names[held_out]}' leaves no {_GENDER_NAMES[gender]}"
            " speakers to train on: every training split needs both genders; add"
            f" {_GENDER_NAMES[gender]} speakers to other groups or use speaker folds"
        )


# --- point estimates ----------------------------------------------------------------------------


def majority_chance(labels: Sequence[int] | np.ndarray) -> float:
    """Accuracy of always predicting the evaluation set's majority label."""
    labels = _as_labels(labels)
    _check_lengths(labels=labels)
    return float(np.bincount(labels).max() / labels.size)


@dataclass(frozen=True)
class LeakageEstimate:
    """Held-out attacker accuracy with its uncertainty.

    ``fold_std`` is the population std (ddof=0) of the per-fold accuracies, as numpy and
    scikit-learn's ``cross_val_score(...).std()`` report it.
    """

    leakage: float
    chance: float
    ci_low: float
    ci_high: float
    p_value: float
    fold_mean: float
    fold_std: float
    n_utterances: int
    n_speakers: int

    @property
    def excess(self) -> float:
        return self.leakage - self.chance

    @property
    def excess_low(self) -> float:
        return self.ci_low - self.chance

    @property
    def excess_high(self) -> float:
        return self.ci_high - self.chance

    def as_dict(self) -> dict:
        """Plain floats and ints, rounded to 6 decimals so JSON stays stable across platforms."""
        values = {**asdict(self), "excess": self.excess}
        return {k: v if isinstance(v, int) else round(float(v), 6) for k, v in values.items()}


def estimate_leakage(
    labels: Sequence[int] | np.ndarray,
    predictions: Sequence[int] | np.ndarray,
    speakers: Sequence[str],
    folds: Sequence[int] | np.ndarray,
    *,
    seed: Seed,
    n_bootstrap: int = 1000,
    n_permutations: int = 1000,
    confidence: float = 0.95,
) -> LeakageEstimate:
    """Pool every held-out prediction once; interval and p-value treat speakers as the unit."""
    labels, predictions = _as_labels(labels), _as_labels(predictions, "predictions")
    folds = np.asarray(folds)
    _check_lengths(labels=labels, predictions=predictions, speakers=speakers, folds=folds)
    correct = labels == predictions
    bootstrap_seed, permutation_seed = np.random.SeedSequence(seed).spawn(2)
    ci_low, ci_high = speaker_bootstrap_ci(
        correct, speakers, labels, seed=bootstrap_seed, n_bootstrap=n_bootstrap, confidence=confidence
    )
    p_value = speaker_permutation_p_value(
        labels, predictions, speakers, seed=permutation_seed, n_permutations=n_permutations
    )
    _, fold_index = np.unique(folds, return_inverse=True)
    fold_accuracy = np.bincount(fold_index, weights=correct) / np.bincount(fold_index)
    return LeakageEstimate(
        leakage=float(correct.mean()),
        chance=majority_chance(labels),
        ci_low=ci_low,
        ci_high=ci_high,
        p_value=p_value,
        fold_mean=float(fold_accuracy.mean()),
        fold_std=float(fold_accuracy.std()),
        n_utterances=int(labels.size),
        n_speakers=int(np.unique(np.asarray(speakers, dtype=str)).size),
    )


# --- uncertainty --------------------------------------------------------------------------------


def speaker_bootstrap_ci(
    correct: np.ndarray,
    speakers: Sequence[str],
    labels: Sequence[int] | np.ndarray,
    *,
    seed: Seed,
    n_bootstrap: int,
    confidence: float,
) -> tuple[float, float]:
    """Percentile interval on pooled accuracy, resampling speakers within each gender."""
    correct, labels = np.asarray(correct, dtype=bool), _as_labels(labels)
    _check_lengths(correct=correct, speakers=speakers, labels=labels)
    if not 0 < confidence < 1 or n_bootstrap < 1:
        raise ValueError(f"need 0 < confidence < 1 and n_bootstrap >= 1, got {confidence}, {n_bootstrap}")
    names, inverse, genders = _speaker_table(speakers, labels)
    hits = np.bincount(inverse[correct], minlength=names.size)
    sizes = np.bincount(inverse, minlength=names.size)
    rng = np.random.default_rng(seed)
    total_hits = np.zeros(n_bootstrap, dtype=np.int64)
    total_sizes = np.zeros(n_bootstrap, dtype=np.int64)
    # Stratified: each resample keeps the number of speakers per gender, so no resample loses a
    # gender and the gender mix stays close to that of the evaluation set.
    for gender in np.unique(genders):
        members = np.flatnonzero(genders == gender)
        draws = rng.multinomial(
            members.size, np.full(members.size, 1 / members.size), size=n_bootstrap
        )  # draws[b, s]: copies of speaker s
        total_hits += draws @ hits[members]
        total_sizes += draws @ sizes[members]
    tail = (1 - confidence) / 2
    low, high = np.quantile(total_hits / total_sizes, [tail, 1 - tail])
    return float(low), float(high)


def speaker_permutation_p_value(
    labels: Sequence[int] | np.ndarray,
    predictions: Sequence[int] | np.ndarray,
    speakers: Sequence[str],
    *,
    seed: Seed,
    n_permutations: int,
) -> float:
    """One-sided p-value of H0 "predictions carry no information about gender".

    Permutes the speaker->gender mapping among the evaluated speakers (shuffling labels within a
    speaker would change nothing) and rescores the fixed predictions. The statistic is accuracy
    above the majority chance of the same (permuted) labels: a permutation also moves the
    utterance-level gender balance when speakers differ in size, and raw accuracy would then call
    an attacker that always answers the majority gender significant.
    """
    labels, predictions = _as_labels(labels), _as_labels(predictions, "predictions")
    _check_lengths(labels=labels, predictions=predictions, speakers=speakers)
    if n_permutations < 1:
        raise ValueError(f"n_permutations must be >= 1, got {n_permutations}")
    names, inverse, genders = _speaker_table(speakers, labels)
    # votes[s, g]: utterances of speaker s predicted as gender g = hits if s had gender g
    votes = np.bincount(inverse * 2 + predictions, minlength=2 * names.size).reshape(-1, 2)
    rng = np.random.default_rng(seed)
    permuted = rng.permuted(np.tile(genders, (n_permutations, 1)), axis=1)
    observed = _excess_hits(votes, genders[None, :])[0]
    # Integer counts, so ties with the observed mapping are exact.
    exceeding = np.count_nonzero(_excess_hits(votes, permuted) >= observed)
    return float((1 + exceeding) / (1 + n_permutations))


def _excess_hits(votes: np.ndarray, genders: np.ndarray) -> np.ndarray:
    """Correct predictions minus majority-label count, per row of speaker genders."""
    hits = votes[np.arange(votes.shape[0]), genders].sum(axis=1)
    male = genders @ votes.sum(axis=1)
    return hits - np.maximum(male, votes.sum() - male)


# --- decision -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Decision:
    status: str  # "passed" | "failed"
    rule: str  # one of DECISION_RULES
    compared_excess: float  # the excess the rule compares: point, or a CI bound minus chance
    max_excess: float


def decide(estimate: LeakageEstimate, max_excess: float, rule: str) -> Decision:
    """Fail when the rule's excess over chance is strictly above ``max_excess``."""
    compared = {
        "point": estimate.excess,
        "ci_low": estimate.excess_low,
        "ci_high": estimate.excess_high,
    }
    if rule not in compared:
        raise PrivacyInputError(
            f"decision rule {rule!r} is unknown: use one of {', '.join(DECISION_RULES)} in thresholds.yaml"
        )
    status = "failed" if compared[rule] > max_excess else "passed"
    return Decision(status=status, rule=rule, compared_excess=compared[rule], max_excess=max_excess)


# --- breakdowns (Table 3: per emotion; spontaneity: improvised vs scripted) ---------------------


def _is_unknown_group(value) -> bool:
    return value is None or (isinstance(value, (float, np.floating)) and np.isnan(value))


def _grouped(labels, predictions, speakers, groups):
    """Validated arrays restricted to utterances with a known group.

    Returns (labels, correct, speakers, group index per utterance, sorted group names). ``None``
    (and a float NaN, as a missing pandas cell) means "group unknown": the utterance is dropped.
    Other group values are compared as ``str``.
    """
    labels, predictions = _as_labels(labels), _as_labels(predictions, "predictions")
    speakers = np.asarray(speakers, dtype=str)
    groups = list(groups)
    _check_lengths(labels=labels, predictions=predictions, speakers=speakers, groups=groups)
    _speaker_table(speakers, labels)  # a speaker with both genders is an input error everywhere
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
