"""Leakage estimates (docs/design.md §3): pooled held-out accuracy, majority chance, the speaker
bootstrap interval and the speaker permutation p-value."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from privacy_checks.seeds import Seed
from privacy_checks.stats.inputs import as_labels, check_lengths, require_both_genders, speaker_table


def majority_chance(labels: Sequence[int] | np.ndarray) -> float:
    """Accuracy of always predicting the evaluation set's majority label."""
    labels = as_labels(labels)
    check_lengths(labels=labels)
    return float(np.bincount(labels).max() / labels.size)


# What ``LeakageEstimate.leakage`` measures: pooled accuracy (chance: the majority share) or balanced
# accuracy (mean per-gender recall, chance 0.5 whatever the gender ratio; see stats.balanced).
METRIC_ACCURACY = "accuracy"
METRIC_BALANCED = "balanced_accuracy"


@dataclass(frozen=True)
class LeakageEstimate:
    """Held-out attacker score with its uncertainty; ``metric`` names the score.

    ``fold_std`` is the population std (ddof=0) of the per-fold scores, as numpy and
    scikit-learn's ``cross_val_score(...).std()`` report it. For the balanced metric,
    ``plain_accuracy`` / ``plain_chance`` keep the pooled accuracy and its majority chance (the
    paper's L) beside it; for plain accuracy they are ``None``.
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
    metric: str = METRIC_ACCURACY
    plain_accuracy: float | None = None
    plain_chance: float | None = None

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
        """Plain floats and ints, rounded to 6 decimals so JSON stays stable across platforms.

        A plain-accuracy estimate writes the keys it always wrote (reports and baselines stay
        byte-identical); a balanced one adds ``metric``, ``plain_accuracy`` and ``plain_chance``.
        """
        values = {**asdict(self), "excess": self.excess}
        if self.metric == METRIC_ACCURACY:
            for key in ("metric", "plain_accuracy", "plain_chance"):
                del values[key]
        return {k: v if isinstance(v, (int, str)) or v is None else round(float(v), 6) for k, v in values.items()}


def estimate_leakage(
    labels: Sequence[int] | np.ndarray,
    predictions: Sequence[int] | np.ndarray,
    speakers: Sequence[str],
    folds: Sequence[int] | np.ndarray,
    *,
    seed: int,  # an int: the interval and the p-value draw from its two spawned children
    n_bootstrap: int = 1000,
    n_permutations: int = 1000,
    confidence: float = 0.95,
) -> LeakageEstimate:
    """Pool every held-out prediction once; interval and p-value treat speakers as the unit."""
    labels, predictions = as_labels(labels), as_labels(predictions, "predictions")
    folds = np.asarray(folds)
    check_lengths(labels=labels, predictions=predictions, speakers=speakers, folds=folds)
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

    def pooled(totals: dict) -> np.ndarray:
        return sum(hits for hits, _ in totals.values()) / sum(sizes for _, sizes in totals.values())

    return percentile_interval(
        correct, speakers, labels, pooled, seed=seed, n_bootstrap=n_bootstrap, confidence=confidence
    )


def percentile_interval(
    correct: np.ndarray,
    speakers: Sequence[str],
    labels: Sequence[int] | np.ndarray,
    statistic: Callable[[dict], np.ndarray],
    *,
    seed: Seed,
    n_bootstrap: int,
    confidence: float,
    both_genders: bool = False,
) -> tuple[float, float]:
    """The speaker bootstrap's percentile interval of `statistic` (per-gender resampled (hits, sizes)
    totals -> one value per resample); `both_genders` refuses a corpus with one gender first."""
    correct, labels = np.asarray(correct, dtype=bool), as_labels(labels)
    check_lengths(correct=correct, speakers=speakers, labels=labels)
    if not 0 < confidence < 1 or n_bootstrap < 1:
        raise ValueError(f"need 0 < confidence < 1 and n_bootstrap >= 1, got {confidence}, {n_bootstrap}")
    if both_genders:
        require_both_genders(speaker_table(speakers, labels)[2])
    totals = stratified_bootstrap_totals(correct, speakers, labels, seed=seed, n_bootstrap=n_bootstrap)
    tail = (1 - confidence) / 2
    low, high = np.quantile(statistic(totals), [tail, 1 - tail])
    return float(low), float(high)


def stratified_bootstrap_totals(
    correct: np.ndarray, speakers: Sequence[str], labels: np.ndarray, *, seed: Seed, n_bootstrap: int
) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Per gender, (correct, utterances) summed over each of ``n_bootstrap`` resamples of speakers.

    Stratified: each resample keeps the number of speakers per gender, so no resample loses a
    gender and the gender mix stays close to that of the evaluation set.
    """
    names, inverse, genders = speaker_table(speakers, labels)
    hits = np.bincount(inverse[correct], minlength=names.size)
    sizes = np.bincount(inverse, minlength=names.size)
    rng = np.random.default_rng(seed)
    totals = {}
    for gender in np.unique(genders):
        members = np.flatnonzero(genders == gender)
        draws = rng.multinomial(
            members.size, np.full(members.size, 1 / members.size), size=n_bootstrap
        )  # draws[b, s]: copies of speaker s
        totals[int(gender)] = (draws @ hits[members], draws @ sizes[members])
    return totals


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
    labels, predictions = as_labels(labels), as_labels(predictions, "predictions")
    check_lengths(labels=labels, predictions=predictions, speakers=speakers)
    if n_permutations < 1:
        raise ValueError(f"n_permutations must be >= 1, got {n_permutations}")
    votes, genders, permuted = permuted_speaker_genders(labels, predictions, speakers, seed, n_permutations)
    observed = _excess_hits(votes, genders[None, :])[0]
    # Integer counts, so ties with the observed mapping are exact.
    exceeding = np.count_nonzero(_excess_hits(votes, permuted) >= observed)
    return float((1 + exceeding) / (1 + n_permutations))


def permuted_speaker_genders(
    labels: np.ndarray, predictions: np.ndarray, speakers: Sequence[str], seed: Seed, n_permutations: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(votes, genders, permuted): ``votes[s, g]`` counts speaker s's utterances predicted as gender
    g (its hits, were s of gender g); ``genders[s]`` is s's gender; each row of ``permuted`` is
    one random reassignment of those genders to the speakers."""
    names, inverse, genders = speaker_table(speakers, labels)
    votes = np.bincount(inverse * 2 + predictions, minlength=2 * names.size).reshape(-1, 2)
    rng = np.random.default_rng(seed)
    permuted = rng.permuted(np.tile(genders, (n_permutations, 1)), axis=1)
    return votes, genders, permuted


def _excess_hits(votes: np.ndarray, genders: np.ndarray) -> np.ndarray:
    """Correct predictions minus majority-label count, per row of speaker genders."""
    hits = votes[np.arange(votes.shape[0]), genders].sum(axis=1)
    male = genders @ votes.sum(axis=1)
    return hits - np.maximum(male, votes.sum() - male)
