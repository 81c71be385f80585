"""Cross-validated attacker training: one fresh head per speaker-independent fold.

Each utterance is predicted exactly once, by the head trained on the other folds, so pooled accuracy
is the held-out leakage L. Everything random is seeded per fold, so results repeat bit for bit.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from torch import nn

from ..config import AttackerSettings
from .heads import Standardize, channel_axes


def cross_validated_predictions(
    make_head: Callable[[], nn.Module],
    representations: np.ndarray,
    labels: np.ndarray,
    folds: np.ndarray,
    settings: AttackerSettings,
    seed: int,
    device: str = "cpu",
) -> np.ndarray:
    """Predicted label per utterance, each from the head that never saw its speaker."""
    predictions = np.full(len(labels), -1, dtype=np.int64)
    for fold in np.unique(folds):
        train = np.flatnonzero(folds != fold)
        test = np.flatnonzero(folds == fold)
        torch.manual_seed(_fold_seed(seed, int(fold)))
        model = nn.Sequential(_standardizer(representations, train), make_head()).to(device)
        _fit(model, representations, labels, train, settings, _fold_seed(seed, int(fold)), device)
        predictions[test] = _predict(model, representations, test, device)
    return predictions


def _fold_seed(seed: int, fold: int) -> int:
    return int(np.random.SeedSequence([seed, fold]).generate_state(1)[0])


def _standardizer(x: np.ndarray, train: np.ndarray) -> Standardize:
    shape = x.shape[1:]
    within = tuple(a - 1 for a in channel_axes(shape)[1:])  # axes of one example pooled per feature
    total = np.zeros(shape, dtype=np.float64)
    total_sq = np.zeros(shape, dtype=np.float64)
    for chunk in np.array_split(train, max(1, len(train) // 256)):  # memory-mapped input: read in chunks
        block = np.asarray(x[chunk], dtype=np.float64)
        total += block.sum(0)
        total_sq += (block**2).sum(0)
    count = len(train) * int(np.prod([shape[a] for a in within]))
    mean = total.sum(within, keepdims=True) / count
    std = np.sqrt(np.maximum(total_sq.sum(within, keepdims=True) / count - mean**2, 0.0))
    # A constant feature (dead unit, silent channel) carries nothing; avoid dividing by ~0.
    std = np.where(std < 1e-6, 1.0, std)
    return Standardize(mean.astype(np.float32), std.astype(np.float32))


def _fit(model: nn.Module, x: np.ndarray, y: np.ndarray, train: np.ndarray, settings: AttackerSettings, seed: int,
         device: str) -> None:
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.learning_rate, weight_decay=settings.weight_decay)
    loss_fn = nn.CrossEntropyLoss()
    rng = np.random.default_rng(seed)
    model.train()
    for _ in range(settings.epochs):
        order = rng.permutation(train)
        for start in range(0, len(order), settings.batch_size):
            batch = np.sort(order[start : start + settings.batch_size])
            if len(batch) < 2:  # BatchNorm cannot train on a single example
                continue
            inputs = torch.from_numpy(np.asarray(x[batch], dtype=np.float32)).to(device)
            targets = torch.from_numpy(y[batch]).to(device)
            optimizer.zero_grad()
            loss_fn(model(inputs), targets).backward()
            optimizer.step()
    model.eval()


def _predict(model: nn.Module, x: np.ndarray, rows: np.ndarray, device: str) -> np.ndarray:
    out = []
    with torch.inference_mode():
        for start in range(0, len(rows), 256):
            batch = rows[start : start + 256]
            inputs = torch.from_numpy(np.asarray(x[batch], dtype=np.float32)).to(device)
            out.append(model(inputs).argmax(1).cpu().numpy())
    return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)
