"""Balanced accuracy (docs/design.md §3): leakage whose chance level does not depend on the gender ratio.

Plain accuracy's chance is the majority share, so on a 90 %-female corpus a perfect attacker's
excess is 0.10 and a limit of 0.10 can never fail. Balanced accuracy is the mean of the per-gender
recalls: chance is 0.5 whatever the ratio (answering one gender always, or at random, scores 0.5)
and a perfect attacker scores 1.0. The interval and p-value reuse the speaker machinery of
``stats.leakage``: the bootstrap resamples speakers within each gender, the permutation test
reassigns genders to speakers.
"""

from __future__ import annotations

from collections.abc import Sequence
from statistics import NormalDist

import numpy as np
from scipy.special import stdtrit

from privacy_checks.seeds import Seed
from privacy_checks.stats.inputs import as_labels, check_lengths, require_both_genders, speaker_table
from privacy_checks.stats.leakage import (
    METRIC_BALANCED,
    LeakageEstimate,
    majority_chance,
    percentile_interval,
    permuted_speaker_genders,
)

BALANCED_CHANCE = 0.5


def balanced_accuracy(labels: Sequence[int] | np.ndarray, predictions: Sequence[int] | np.ndarray) -> float:
    """Mean of the female and the male recall; both genders must be present."""
    labels, predictions = as_labels(labels), as_labels(predictions, "predictions")
    check_lengths(labels=labels, predictions=predictions)
    if np.unique(labels).size < 2:
        raise ValueError("balanced accuracy needs utterances of both genders")
    return float(np.mean([np.mean(predictions[labels == g] == g) for g in (0, 1)]))


def estimate_balanced_leakage(
    labels: Sequence[int] | np.ndarray,
    predictions: Sequence[int] | np.ndarray,
    speakers: Sequence[str],
    folds: Sequence[int] | np.ndarray,
    *,
    seed: int,  # as estimate_leakage: the interval and the p-value draw from its two spawned children
    n_bootstrap: int = 1000,
    n_permutations: int = 1000,
    confidence: float = 0.95,
) -> LeakageEstimate:
    """Balanced accuracy of pooled held-out predictions, chance 0.5, with plain accuracy beside it.

    The interval is the speaker bootstrap's percentile interval, widened for few speakers
    (`few_speakers_widened`), then, where needed, to hold the point estimate (a percentile interval
    can miss it when a few speakers dominate a gender, and a decision on the interval must never pass
    an estimate that lies above the limit) and the binomial interval over the utterances
    (`binomial_half_width`).
    """
    labels, predictions = as_labels(labels), as_labels(predictions, "predictions")
    folds = np.asarray(folds)
    check_lengths(labels=labels, predictions=predictions, speakers=speakers, folds=folds)
    _, _, genders = speaker_table(speakers, labels)
    require_both_genders(genders)
    correct = labels == predictions
    point = balanced_accuracy(labels, predictions)
    bootstrap_seed, permutation_seed = np.random.SeedSequence(seed).spawn(2)
    low, high = speaker_bootstrap_balanced_ci(
        correct, speakers, labels, seed=bootstrap_seed, n_bootstrap=n_bootstrap, confidence=confidence
    )
    p_value = speaker_permutation_balanced_p_value(
        labels, predictions, speakers, seed=permutation_seed, n_permutations=n_permutations
    )
    per_fold = np.array([_fold_score(labels[folds == f], correct[folds == f]) for f in np.unique(folds)])
    low, high = few_speakers_widened(point, low, high, genders, confidence)
    floor = binomial_half_width(labels, correct, confidence)
    return LeakageEstimate(
        leakage=point,
        chance=BALANCED_CHANCE,
        ci_low=max(0.0, min(low, point - floor)),
        ci_high=min(1.0, max(high, point + floor)),
        p_value=p_value,
        fold_mean=float(per_fold.mean()),
        fold_std=float(per_fold.std()),
        n_utterances=int(labels.size),
        n_speakers=int(genders.size),
        metric=METRIC_BALANCED,
        plain_accuracy=float(correct.mean()),
        plain_chance=majority_chance(labels),
    )


def few_speakers_widened(
    point: float, low: float, high: float, genders: np.ndarray, confidence: float
) -> tuple[float, float]:
    """The bootstrap interval stretched about the point for the number of speakers behind it.

    A bootstrap over G speakers of a gender underestimates their variance by (G-1)/G, and its
    normal-like quantiles ignore that the variance itself is estimated from 2G speakers. With 5
    speakers a gender (IEMOCAP) the percentile interval missed the truth in 9-15 % of simulated
    audits at a nominal 5 %. Stretched by sqrt(G/(G-1)) * t(2G-2) / z, G the smaller gender's count
    (1.31x at 5 speakers a gender, 1.13x at 10, 1.06x at 20), it missed in 3-5 %.
    With one speaker of a gender nothing is known: the interval is [0, 1].
    """
    fewest = int(min(np.count_nonzero(genders == 0), np.count_nonzero(genders == 1)))
    if fewest < 2:
        return 0.0, 1.0
    tail = 1 - (1 - confidence) / 2
    stretch = (fewest / (fewest - 1)) ** 0.5 * float(stdtrit(2 * fewest - 2, tail)) / NormalDist().inv_cdf(tail)
    return point - stretch * max(0.0, point - low), point + stretch * max(0.0, high - point)


def binomial_half_width(labels: np.ndarray, correct: np.ndarray, confidence: float) -> float:
    """Half-width of balanced accuracy's interval were every utterance an independent trial
    (Agresti-Coull per gender's recall, the two variances averaged).

    The least uncertainty the utterances allow: clips of one speaker are positively correlated, so
    the effective sample is at most the utterances; but a bootstrap over few speakers can come out
    narrower than that (10 speakers' 20 clips: [0.35, 0.50] around 0.45, where the clips alone
    allow +-0.14), and an interval that narrow would pass a layer on no evidence.
    """
    z = NormalDist().inv_cdf(1 - (1 - confidence) / 2)
    variance = 0.0
    for g in (0, 1):
        trials = float(np.count_nonzero(labels == g)) + z * z
        share = (float(np.count_nonzero(correct[labels == g])) + z * z / 2) / trials
        variance += share * (1 - share) / trials / 4
    return z * variance**0.5


def speaker_bootstrap_balanced_ci(
    correct: np.ndarray,
    speakers: Sequence[str],
    labels: Sequence[int] | np.ndarray,
    *,
    seed: Seed,
    n_bootstrap: int,
    confidence: float,
) -> tuple[float, float]:
    """Percentile interval on balanced accuracy, resampling speakers within each gender."""

    def mean_recall(totals: dict) -> np.ndarray:
        # Each resample keeps every gender's speaker count (>= 1), so no recall divides by zero.
        recalls = [hits / sizes for hits, sizes in totals.values()]
        return (recalls[0] + recalls[1]) / 2

    return percentile_interval(
        correct,
        speakers,
        labels,
        mean_recall,
        seed=seed,
        n_bootstrap=n_bootstrap,
        confidence=confidence,
        both_genders=True,
    )


def speaker_permutation_balanced_p_value(
    labels: Sequence[int] | np.ndarray,
    predictions: Sequence[int] | np.ndarray,
    speakers: Sequence[str],
    *,
    seed: Seed,
    n_permutations: int,
) -> float:
    """One-sided p-value of H0 "predictions carry no information about gender", on balanced accuracy.

    Reassigns genders to speakers and rescores the fixed predictions. Every reassignment keeps
    both genders, and a prediction that ignores gender scores 0.5 under each, so the statistic
    needs no chance correction (unlike plain accuracy's test).
    """
    labels, predictions = as_labels(labels), as_labels(predictions, "predictions")
    check_lengths(labels=labels, predictions=predictions, speakers=speakers)
    if n_permutations < 1:
        raise ValueError(f"n_permutations must be >= 1, got {n_permutations}")
    votes, genders, permuted = permuted_speaker_genders(labels, predictions, speakers, seed, n_permutations)
    require_both_genders(genders)
    observed = _balanced_scores(votes, genders[None, :])[0]
    # Float scores: a mapping equal to the observed one scores identically, but an equal score
    # reached by another mapping may differ in the last bit; the tolerance counts it as a tie.
    exceeding = np.count_nonzero(_balanced_scores(votes, permuted) >= observed - 1e-12)
    return float((1 + exceeding) / (1 + n_permutations))


def _balanced_scores(votes: np.ndarray, genders: np.ndarray) -> np.ndarray:
    """Balanced accuracy per row of speaker genders (rows: mappings, columns: speakers)."""
    sizes = votes.sum(axis=1)
    male_recall = (genders @ votes[:, 1]) / (genders @ sizes)
    female_recall = ((1 - genders) @ votes[:, 0]) / ((1 - genders) @ sizes)
    return (male_recall + female_recall) / 2


def _fold_score(labels: np.ndarray, correct: np.ndarray) -> float:
    """A fold's recall averaged over the genders it holds (a fold may hold one gender only)."""
    return float(np.mean([correct[labels == g].mean() for g in np.unique(labels)]))
