"""An independent reference probe for gender leakage: the yardstick the audit is checked against.

Written without the engine's attackers, statistics or layer tracing, so that a bug there cannot
hide in both. It runs the model on a corpus with forward hooks at named modules, reads each
output along axes the caller declares (`LayerView`: it knows its own models), summarises every
utterance by per-channel mean and standard deviation over the time axis, and scores a
standardised logistic regression whose C is chosen by inner speaker-disjoint cross-validation,
on outer speaker-disjoint folds. The score is balanced accuracy (chance 0.5 at any gender ratio)
with a bootstrap interval over speakers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedGroupKFold
from torch import nn

from privacy_checks.data import Corpus
from privacy_checks.features import FeatureSpec, extract, fix_length

C_GRID = (0.01, 0.1, 1.0, 10.0)


def first_tensor(output: Any) -> torch.Tensor:
    """The output itself, or the first tensor of a tuple (e.g. an attention block's (out, weights))."""
    if isinstance(output, torch.Tensor):
        return output
    for item in output:
        if isinstance(item, torch.Tensor):
            return item
    raise TypeError(f"no tensor in a module output of type {type(output).__name__}")


@dataclass(frozen=True)
class LayerView:
    """Where to read a layer and how: the module's name, which tensor of its output (`pick`), and
    that tensor's batch and time axes (None: no time axis, the values are used as they are)."""

    module: str
    batch_axis: int
    time_axis: int | None
    label: str = ""  # the result's key; the module name unless one module is read two ways
    pick: Callable[[Any], torch.Tensor] = field(default=first_tensor, compare=False)

    @property
    def key(self) -> str:
        return self.label or self.module


@dataclass(frozen=True)
class ProbeScore:
    balanced_accuracy: float
    ci_low: float
    ci_high: float
    chosen_c: tuple[float, ...]  # per outer fold


def channel_statistics(tensor: torch.Tensor, view: LayerView) -> np.ndarray:
    """(B, features): per-channel mean and std over the view's time axis, or the values themselves."""
    values = tensor.detach().to(torch.float64)
    if view.time_axis is None:
        return values.movedim(view.batch_axis, 0).reshape(values.shape[view.batch_axis], -1).numpy()
    values = values.movedim((view.batch_axis, view.time_axis), (0, 1))
    frames = values.reshape(values.shape[0], values.shape[1], -1)  # (B, T, channels)
    return torch.cat([frames.mean(dim=1), frames.std(dim=1, correction=0)], dim=1).numpy()


def layer_statistics(
    model: nn.Module, spec: FeatureSpec, corpus: Corpus, views: Sequence[LayerView], batch_size: int = 16
) -> dict[str, np.ndarray]:
    """Run `model` over the corpus in order; per view, one row of channel statistics per utterance."""
    modules = dict(model.named_modules())
    missing = sorted({v.module for v in views} - set(modules))
    if missing:
        raise KeyError(f"no module named {', '.join(missing)} in {type(model).__name__}")
    rows: dict[str, list[np.ndarray]] = {view.key: [] for view in views}
    handles = [modules[v.module].register_forward_hook(_collector(v, rows)) for v in views]
    model.eval()
    try:
        utterances = corpus.utterances
        for start in range(0, len(utterances), batch_size):
            batch = utterances[start : start + batch_size]
            waves = np.stack([fix_length(corpus.read_audio(u, spec.sample_rate), spec.n_samples) for u in batch])
            with torch.inference_mode():
                model(extract(spec, waves))
    finally:
        for handle in handles:
            handle.remove()
    return {key: np.concatenate(parts) for key, parts in rows.items()}


def _collector(view: LayerView, rows: dict[str, list[np.ndarray]]) -> Callable[..., None]:
    def hook(_module: nn.Module, _inputs: Any, output: Any) -> None:
        rows[view.key].append(channel_statistics(view.pick(output), view))

    return hook


def probe(
    features: np.ndarray,
    genders: np.ndarray,
    speakers: Sequence[str],
    seed: int = 0,
    folds: int = 4,
    inner_folds: int = 3,
    c_grid: Iterable[float] = C_GRID,
    resamples: int = 1000,
) -> ProbeScore:
    """Balanced accuracy of out-of-fold predictions on speaker-disjoint folds, with its interval."""
    groups = np.asarray(speakers)
    grid = tuple(c_grid)
    predicted = np.empty_like(genders)
    chosen = []
    for train, test in _speaker_folds(features, genders, groups, folds, seed):
        c = _inner_choice(features[train], genders[train], groups[train], grid, inner_folds, seed)
        predicted[test] = _fit_predict(c, features[train], genders[train], features[test])
        chosen.append(c)
    low, high = _speaker_bootstrap(genders, predicted, groups, seed, resamples)
    return ProbeScore(balanced_accuracy(genders, predicted), low, high, tuple(chosen))


def balanced_accuracy(genders: np.ndarray, predicted: np.ndarray) -> float:
    """Mean per-class recall (sklearn's balanced_accuracy_score, without its per-call overhead)."""
    return float(np.mean([np.mean(predicted[genders == g] == g) for g in np.unique(genders)]))


def _speaker_folds(
    features: np.ndarray, genders: np.ndarray, groups: np.ndarray, folds: int, seed: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    return list(splitter.split(features, genders, groups))


def _fit_predict(c: float, train: np.ndarray, genders: np.ndarray, test: np.ndarray) -> np.ndarray:
    """Standardise on the training rows, fit to convergence, predict the test rows."""
    mean, scale = train.mean(axis=0), train.std(axis=0)
    scale[scale == 0] = 1.0  # a constant channel stays constant (zero), as StandardScaler does
    model = LogisticRegression(C=c, max_iter=10_000, tol=1e-5).fit((train - mean) / scale, genders)
    return model.predict((test - mean) / scale)


def _inner_choice(
    features: np.ndarray, genders: np.ndarray, groups: np.ndarray, grid: tuple[float, ...], folds: int, seed: int
) -> float:
    """The C with the best inner speaker-disjoint balanced accuracy; ties go to the smaller C."""
    splits = _speaker_folds(features, genders, groups, folds, seed)
    best_c, best = grid[0], -1.0
    for c in grid:
        score = np.mean(
            [
                balanced_accuracy(genders[test], _fit_predict(c, features[train], genders[train], features[test]))
                for train, test in splits
            ]
        )
        if score > best + 1e-12:
            best_c, best = c, float(score)
    return best_c


def _speaker_bootstrap(
    genders: np.ndarray, predicted: np.ndarray, groups: np.ndarray, seed: int, resamples: int
) -> tuple[float, float]:
    """95 % percentile interval of balanced accuracy, resampling speakers within each gender (so
    both classes are always present); per speaker only its count of correct predictions matters."""
    rng = np.random.default_rng(seed)
    recalls = []
    for gender in np.unique(genders):
        speakers = np.unique(groups[genders == gender])
        correct = np.array([np.sum(predicted[groups == s] == gender) for s in speakers], dtype=float)
        total = np.array([np.sum(groups == s) for s in speakers], dtype=float)
        drawn = rng.integers(0, len(speakers), size=(resamples, len(speakers)))
        recalls.append(correct[drawn].sum(axis=1) / total[drawn].sum(axis=1))
    scores = np.mean(recalls, axis=0)
    low, high = np.percentile(scores, [2.5, 97.5])
    return float(low), float(high)


def reference_probe(
    model: nn.Module, spec: FeatureSpec, corpus: Corpus, views: Sequence[LayerView], seed: int = 0
) -> dict[str, ProbeScore]:
    """Per view (by key, in the order given), the probe's balanced accuracy on `corpus`."""
    statistics = layer_statistics(model, spec, corpus, views)
    genders = corpus.gender_labels
    return {key: probe(rows, genders, corpus.speakers, seed=seed) for key, rows in statistics.items()}


def summary(scores: Mapping[str, ProbeScore]) -> str:
    """One line per layer, for reports and failure messages."""
    return "\n".join(
        f"{key:<48} {s.balanced_accuracy:.3f} [{s.ci_low:.3f}, {s.ci_high:.3f}]" for key, s in scores.items()
    )
