"""A strong, deterministic convex gender probe on per-utterance feature vectors.

A neural head trained for a fixed few epochs under-reads leakage (where training stopped decides
the estimate). This probe is solved to convergence instead: standardised features, L2 logistic
regression (lbfgs) with balanced class weights (imbalanced corpora must not teach "always the
majority"), its regularisation C chosen from a grid by inner speaker-disjoint cross-validation on
the training rows only, scored by balanced accuracy. The engine feeds it per-channel statistics of
a layer (e.g. mean and std over the time axis), one row per utterance.

Nothing is random except the inner speaker folds, which draw from the given seed, so the same
inputs and seed give identical predictions.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from privacy_checks.seeds import child_seed
from privacy_checks.stats.balanced import balanced_accuracy
from privacy_checks.stats.folds import speaker_folds
from privacy_checks.stats.inputs import as_labels, check_lengths, require_both_genders, speaker_table

if TYPE_CHECKING:  # scikit-learn is imported when a probe is fitted: 1 s of every run's start otherwise
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

C_GRID = tuple(10.0**k for k in range(-3, 3))  # 1e-3 ... 1e2, log-spaced
FALLBACK_C = 1.0  # when the training rows hold too few speakers for inner cross-validation
INNER_FOLDS = 3
MAX_ITER = 10_000
TOLERANCE = 1e-6


class ProbeFeatureError(ValueError):
    """The features cannot be probed (non-finite, constant); the message names the problem, the
    caller adds which layer produced them."""


class ProbeConvergenceWarning(UserWarning):
    """A logistic regression stopped at ``MAX_ITER`` before converging."""


@dataclass(frozen=True)
class CChoice:
    """The regularisation chosen for one training set."""

    fold: int | None  # the outer fold held out; None for a transfer probe
    c: float
    view: int  # which of the probe's views (column sets) it chose; 0 when it was given one
    # Balanced accuracy per C of the grid, in order, up to the first perfect one (the path stops
    # there); () when inner CV was impossible.
    inner_scores: tuple[float, ...]


@dataclass(frozen=True)
class ProbeResult:
    predictions: np.ndarray  # predicted gender (0 female, 1 male) per evaluated utterance
    scores: np.ndarray  # decision function per utterance: > 0 leans male
    choices: tuple[CChoice, ...]  # per outer fold in sorted fold order; one for a transfer probe
    unconverged: tuple[str, ...] = ()  # fits that hit MAX_ITER, e.g. "fold 2, C=100 (inner)"

    @property
    def chosen_c(self) -> tuple[float, ...]:
        return tuple(choice.c for choice in self.choices)

    @property
    def converged(self) -> bool:
        return not self.unconverged


def cross_validated_probe(
    x: np.ndarray,
    genders: Sequence[int] | np.ndarray,
    speakers: Sequence[str],
    folds: Sequence[int] | np.ndarray,
    *,
    seed: int = 0,
    c_grid: Sequence[float] = C_GRID,
    inner_folds: int = INNER_FOLDS,
    views: Sequence[np.ndarray] | None = None,
) -> ProbeResult:
    """Held-out gender prediction for every row: for each outer fold, a probe fitted on the other
    folds (C chosen by inner CV on them alone) predicts that fold. The folds must be
    speaker-disjoint: a speaker in two folds would be trained on and tested on. `views`: column sets
    of `x` to choose from (by the same inner CV as C, so the outer estimate stays held out); None:
    all columns."""
    x = checked_features(x)
    genders, folds = as_labels(genders, "genders"), np.asarray(folds)
    check_lengths(x=x, genders=genders, speakers=speakers, folds=folds)
    speaker_ids = np.asarray(speakers, dtype=str)
    _require_speaker_disjoint(speaker_ids, folds)
    predictions = np.full(len(genders), -1, dtype=np.int64)
    scores = np.zeros(len(genders))
    choices, unconverged = [], []
    for index, fold in enumerate(np.unique(folds)):
        train, test = np.flatnonzero(folds != fold), np.flatnonzero(folds == fold)
        require_both_genders(speaker_table(speaker_ids[train], genders[train])[2])
        choice, model, stalled = _fit_probe(
            x[train], genders[train], speaker_ids[train], child_seed(seed, index), c_grid, inner_folds, int(fold), views
        )
        test_x = _view(x[test], views, choice.view)
        predictions[test], scores[test] = model.predict(test_x), model.decision_function(test_x)
        choices.append(choice)
        unconverged += stalled
    return _result(predictions, scores, choices, unconverged)


def transfer_probe(
    train_x: np.ndarray,
    train_genders: Sequence[int] | np.ndarray,
    train_speakers: Sequence[str],
    test_x: np.ndarray,
    *,
    seed: int = 0,
    c_grid: Sequence[float] = C_GRID,
    inner_folds: int = INNER_FOLDS,
    views: Sequence[np.ndarray] | None = None,
) -> ProbeResult:
    """Gender predictions for every row of ``test_x`` (the target corpus) from a probe fitted on the
    auxiliary corpus, its C (and view, see `cross_validated_probe`) chosen by inner speaker-disjoint
    CV on that corpus."""
    train_x, test_x = checked_features(train_x), checked_features(test_x, "test features")
    if test_x.shape[1] != train_x.shape[1]:
        raise ValueError(f"test features have {test_x.shape[1]} columns, training features {train_x.shape[1]}")
    genders = as_labels(train_genders, "genders")
    check_lengths(x=train_x, genders=genders, speakers=train_speakers)
    speakers = np.asarray(train_speakers, dtype=str)
    require_both_genders(speaker_table(speakers, genders)[2])
    choice, model, stalled = _fit_probe(
        train_x, genders, speakers, child_seed(seed, 0), c_grid, inner_folds, None, views
    )
    test_x = _view(test_x, views, choice.view)
    return _result(model.predict(test_x), model.decision_function(test_x), [choice], stalled)


def checked_features(x: np.ndarray, what: str = "features") -> np.ndarray:
    """``x`` as a float64 (rows, features) array; ProbeFeatureError when it cannot be probed."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"{what} must be a non-empty (utterances, features) array, got shape {x.shape}")
    finite = np.isfinite(x)
    if not finite.all():
        bad_rows, bad_columns = np.flatnonzero(~finite.all(axis=1)), np.flatnonzero(~finite.all(axis=0))
        raise ProbeFeatureError(
            f"{what} are not finite: {bad_rows.size} of {x.shape[0]} utterances have NaN or infinite values, "
            f"in {bad_columns.size} of {x.shape[1]} features (first: utterance {bad_rows[0]}, feature "
            f"{bad_columns[0]})"
        )
    if np.all(x == x[0]):
        raise ProbeFeatureError(
            f"{what} are constant: all {x.shape[1]} features take the same value in every one of the "
            f"{x.shape[0]} utterances, so there is nothing to probe"
        )
    return x


def _fit_probe(
    x: np.ndarray,
    genders: np.ndarray,
    speakers: np.ndarray,
    seed: np.random.SeedSequence,
    c_grid: Sequence[float],
    inner_folds: int,
    fold: int | None,
    views: Sequence[np.ndarray] | None = None,
) -> tuple[CChoice, Pipeline, list[str]]:
    """Choose the view and C on these rows by inner CV (the best pooled inner score; ties: the
    earlier view, the smaller C), then fit the probe on all of them."""
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    where = "transfer" if fold is None else f"fold {fold}"
    best: tuple[float, int, float, tuple[float, ...]] | None = None
    stalled: list[str] = []
    for index in range(len(views) if views is not None else 1):
        c, inner_scores, stalls = _choose_c(_view(x, views, index), genders, speakers, seed, c_grid, inner_folds, where)
        stalled += stalls
        score = max(inner_scores, default=0.0)
        if best is None or score > best[0]:
            best = (score, index, c, inner_scores)
    assert best is not None
    _score, index, c, inner_scores = best
    model = Pipeline([("scale", StandardScaler()), ("logistic", _logistic(c))])
    if _fit(model, _view(x, views, index), genders):
        stalled.append(f"{where}, C={c:g}")
    return CChoice(fold, c, index, inner_scores), model, stalled


def _view(x: np.ndarray, views: Sequence[np.ndarray] | None, index: int) -> np.ndarray:
    return x if views is None else x[:, views[index]]


def _choose_c(
    x: np.ndarray,
    genders: np.ndarray,
    speakers: np.ndarray,
    seed: np.random.SeedSequence,
    c_grid: Sequence[float],
    inner_folds: int,
    where: str,
) -> tuple[float, tuple[float, ...], list[str]]:
    """The C whose pooled inner held-out predictions score the best balanced accuracy (ties: the
    smaller C), and the scores of the Cs tried. Each inner split standardises on its own training
    rows; the path over C is warm started, smallest C first, which only speeds the solver up. The
    path stops at the first C whose pooled score is perfect: a leaking layer's probe is decided
    there, the same C the whole grid would give."""
    grid = sorted(float(c) for c in c_grid)
    if not grid or grid[0] <= 0:
        raise ValueError(f"the C grid must hold positive values, got {list(c_grid)}")
    if inner_folds < 2:
        raise ValueError(f"inner_folds must be >= 2, got {inner_folds}")
    _, _, speaker_genders = speaker_table(speakers, genders)
    if len(grid) == 1 or np.bincount(speaker_genders, minlength=2).min() < 2:
        # Fewer than 2 speakers of a gender: an inner training split would lack that gender.
        return (grid[0] if len(grid) == 1 else FALLBACK_C), (), []
    from sklearn.preprocessing import StandardScaler

    inner = speaker_folds(speakers.tolist(), genders, min(inner_folds, speaker_genders.size), seed)
    splits = []
    for part in np.unique(inner):
        train, test = np.flatnonzero(inner != part), np.flatnonzero(inner == part)
        scaler = StandardScaler().fit(x[train])
        splits.append((train, test, scaler.transform(x[train]), scaler.transform(x[test])))
    path = [_logistic(grid[0], warm_start=True) for _ in splits]  # one warm-started path per split
    scores: list[float] = []
    stalled = []
    for c in grid:
        predicted = np.zeros(len(genders), dtype=np.int64)
        for logistic, (train, test, train_x, test_x) in zip(path, splits):
            logistic.set_params(C=c)
            if _fit(logistic, train_x, genders[train]):
                stalled.append(f"{where}, C={c:g} (inner)")
            predicted[test] = logistic.predict(test_x)
        scores.append(balanced_accuracy(genders, predicted))
        if scores[-1] >= 1.0:  # no larger C can score higher, and ties go to the smaller C
            break
    return grid[int(np.argmax(scores))], tuple(scores), stalled


def _logistic(c: float, warm_start: bool = False) -> LogisticRegression:
    from sklearn.linear_model import LogisticRegression

    # Balanced class weights come as sample weights (`_fit`): the same values class_weight="balanced"
    # computes, without recomputing them at every fit of the C path.
    return LogisticRegression(C=c, solver="lbfgs", max_iter=MAX_ITER, tol=TOLERANCE, warm_start=warm_start)


def _balanced_weights(y: np.ndarray) -> np.ndarray:
    """Per-row weights n / (2 * n_class), scikit-learn's class_weight="balanced" for two classes."""
    return (len(y) / (2 * np.bincount(y, minlength=2).astype(np.float64)))[y]


def _fit(model: Pipeline | LogisticRegression, x: np.ndarray, y: np.ndarray) -> bool:
    """Fit with balanced class weights; True when the solver stopped at MAX_ITER (reported once per
    probe, not per fit). scikit-learn's own checks are skipped: `checked_features` vetted the values
    and the parameters are ours; on these small problems the checks cost a tenth of each fit."""
    from sklearn import config_context
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.pipeline import Pipeline

    weights = {"logistic__sample_weight" if isinstance(model, Pipeline) else "sample_weight": _balanced_weights(y)}
    with warnings.catch_warnings(), config_context(assume_finite=True, skip_parameter_validation=True):
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(x, y, **weights)
    logistic = model[-1] if isinstance(model, Pipeline) else model
    return bool(np.max(logistic.n_iter_) >= MAX_ITER)


def _require_speaker_disjoint(speakers: np.ndarray, folds: np.ndarray) -> None:
    pairs = np.unique(np.stack([speakers, folds.astype(str)]), axis=1)
    names, counts = np.unique(pairs[0], return_counts=True)
    if (counts > 1).any():
        raise ValueError(
            f"speaker '{names[counts > 1][0]}' is in {counts.max()} folds: the probe would train on a speaker "
            "it is tested on; folds must be speaker-disjoint"
        )


def _result(predictions, scores, choices, unconverged) -> ProbeResult:
    if unconverged:
        warnings.warn(
            f"the logistic probe did not converge in {MAX_ITER} iterations for {', '.join(unconverged)}",
            ProbeConvergenceWarning,
            stacklevel=3,
        )
    return ProbeResult(
        np.asarray(predictions, dtype=np.int64),
        np.asarray(scores, dtype=np.float64),
        tuple(choices),
        tuple(unconverged),
    )
