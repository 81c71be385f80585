"""Attacker training: cross-validated on one corpus, or trained on one corpus and applied to another.

Cross-validation: one fresh head per speaker-independent fold, so every utterance is predicted
exactly once by a head that never saw its speaker and pooled accuracy is the held-out leakage L.
Transfer: the head trains on the auxiliary corpus and predicts every target utterance (the two
corpora share no speakers). An application-aware attacker also learns its own corpus's emotions:
its head returns (gender, emotion) logits and both losses are summed. Everything random is seeded,
so results repeat bit for bit.

Early stopping: a head trains on most of its training speakers and is scored after every epoch on
the rest (about a fifth of each gender's speakers); it keeps the weights of its best epoch by
held-out gender loss and stops once `patience` epochs bring nothing better. The budget's epochs
cap training, they do not decide where it stops: a fixed few epochs under-read leakage by wherever
training happened to be.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from privacy_checks import progress
from privacy_checks.attackers.heads import Standardize, channel_axes, fitted_scales, fixed_part
from privacy_checks.attackers.training_rows import TrainingRows, computed_rows, computed_values, training_rows
from privacy_checks.config import AttackerSettings
from privacy_checks.seeds import fold_seed

VALIDATION_SHARE = 0.2  # of each gender's training speakers, held out to decide when to stop
LOSS_MARGIN = 1e-3  # relative fall of the held-out gender loss that counts as a better epoch
LOSS_FLOOR = 0.05  # nats: below it the held-out speakers are told apart confidently, nothing to gain


def cross_validated_predictions(
    make_head: Callable[[], nn.Module],
    representations: np.ndarray,
    labels: np.ndarray,
    folds: np.ndarray,
    settings: AttackerSettings,
    seed: int,
    device: str = "cpu",
    emotions: np.ndarray | None = None,
    speakers: np.ndarray | None = None,
) -> np.ndarray:
    """Predicted gender per utterance, each from the head that never saw its speaker; with
    `emotions` (multi-task) an (N, 2) array of predicted (gender, emotion). `speakers` (one per row)
    lets each head stop early on speakers held out of its training rows."""
    targets = labels if emotions is None else (labels, emotions)
    rows = training_rows(representations, device)  # loaded once for every fold
    predictions = np.full((len(labels), 1 if emotions is None else 2), -1, dtype=np.int64)
    names = np.unique(folds)
    for index, fold in enumerate(names):
        train = np.flatnonzero(folds != fold)
        test = np.flatnonzero(folds == fold)
        with progress.step(f"fold {index + 1}/{len(names)}"):
            model = train_attacker(
                make_head,
                rows,
                targets,
                train,
                settings,
                fold_seed(seed, int(fold)),
                device,
                speakers=speakers,
            )
        predictions[test] = _as_columns(predict(model, rows, test, device))
    return predictions[:, 0] if emotions is None else predictions


def transfer_predictions(
    make_head: Callable[[], nn.Module],
    train_x: np.ndarray,
    train_labels: np.ndarray,
    eval_x: np.ndarray,
    settings: AttackerSettings,
    seed: int,
    device: str = "cpu",
    train_emotions: np.ndarray | None = None,
    train_rows: np.ndarray | None = None,
    train_speakers: np.ndarray | None = None,
) -> np.ndarray:
    """Gender predictions for every row of `eval_x` from a head trained on `train_rows` of `train_x`
    (the auxiliary corpus; default all). With `train_emotions` the head is multi-task; only gender is
    returned, since the emotion classes are the auxiliary corpus's own."""
    rows = np.arange(len(train_labels)) if train_rows is None else train_rows
    targets = train_labels if train_emotions is None else (train_labels, train_emotions)
    model = train_attacker(make_head, train_x, targets, rows, settings, seed, device, speakers=train_speakers)
    return _as_columns(predict(model, eval_x, np.arange(len(eval_x)), device))[:, 0]


def train_attacker(
    make_head: Callable[[], nn.Module],
    x: np.ndarray | TrainingRows,
    targets,
    rows: np.ndarray,
    settings: AttackerSettings,
    seed: int,
    device: str = "cpu",
    standardize: bool = True,
    speakers: np.ndarray | None = None,
) -> nn.Sequential:
    """A fresh head behind a standardiser fitted on `rows`, trained on `rows` (eval mode on return).
    `targets` is the gender labels or a tuple (gender, emotion) for a multi-task head. Without
    `standardize` the standardiser is the identity (a model that must see inputs as T saw them).
    With `speakers` (one per row of `x`) and `settings.patience` it stops early on held-out speakers
    (`validation_split`); otherwise it trains every epoch. A head with a fixed leading part
    (`heads.fixed_part`) has that part's output computed once and the rest trained on it: the same
    model, without recomputing the linear probe's time summary, or a sequence's transposition to
    channels first, every step; rows held in memory are standardised once likewise."""
    x = training_rows(x, device)
    torch.manual_seed(seed)
    split = None
    if speakers is not None and settings.patience > 0:
        split = validation_split(rows, np.asarray(speakers), _genders(targets), seed)
    fit_rows, held_out = split if split is not None else (rows, None)
    standardizer = _standardizer(x, fit_rows) if standardize else _identity(x.shape[1:])
    head = make_head()
    model = nn.Sequential(standardizer, head).to(device)
    for before, scale in fitted_scales(head):  # on the fit rows, whichever way the head then trains
        scale.fit(computed_values(x, nn.Sequential(standardizer, before), fit_rows))
    fixed = fixed_part(head)
    if fixed is not None and (fixed.smaller or x.resident is not None):
        features = computed_rows(x, nn.Sequential(standardizer, fixed.prefix))
        _fit(fixed.trainable, features, targets, fit_rows, settings, seed, device, held_out)
    elif x.resident is not None and standardize:  # standardised once for the training, not at every step
        _fit(head, computed_rows(x, standardizer), targets, fit_rows, settings, seed, device, held_out)
    else:
        _fit(model, x, targets, fit_rows, settings, seed, device, held_out)
    return model.eval()


def validation_split(
    rows: np.ndarray, speakers: np.ndarray, genders: np.ndarray, seed: int
) -> tuple[np.ndarray, np.ndarray] | None:
    """Speaker-disjoint (fit rows, held-out rows) of `rows`: about a fifth of each gender's speakers
    held out (at least one), chosen by `seed`. None when a gender has fewer than 3 speakers there:
    the head then keeps them all and trains every epoch."""
    rng = np.random.default_rng(seed)
    present = np.unique(genders[rows])
    if len(present) < 2:
        return None
    held: list[str] = []
    for gender in present:
        names = sorted(set(speakers[rows][genders[rows] == gender].tolist()))
        if len(names) < 3:
            return None
        count = max(1, round(VALIDATION_SHARE * len(names)))
        held.extend(names[i] for i in rng.permutation(len(names))[:count])
    mask = np.isin(speakers[rows], held)
    return rows[~mask], rows[mask]


def _genders(targets) -> np.ndarray:
    return np.asarray(targets[0] if isinstance(targets, tuple) else targets)


def _as_columns(predicted) -> np.ndarray:
    columns = predicted if isinstance(predicted, tuple) else (predicted,)
    return np.stack(columns, axis=1)


def _identity(shape: tuple[int, ...]) -> Standardize:
    """The standardiser that changes nothing, shaped as `_standardizer`'s (per feature or channel)."""
    within = tuple(a - 1 for a in channel_axes(shape)[1:])
    kept = tuple(1 if axis in within else size for axis, size in enumerate(shape))
    return Standardize(np.zeros(kept, dtype=np.float32), np.ones(kept, dtype=np.float32))


def _standardizer(x: np.ndarray | TrainingRows, train: np.ndarray) -> Standardize:
    rows = _readable(x, "cpu")
    shape = rows.shape[1:]
    within = tuple(a - 1 for a in channel_axes(shape)[1:])  # axes of one example pooled per feature
    total = np.zeros(shape, dtype=np.float64)
    total_sq = np.zeros(shape, dtype=np.float64)
    for chunk in np.array_split(train, max(1, len(train) // 256)):  # streamed input: read in chunks
        block = rows.take(chunk).double()
        total += block.sum(0).cpu().numpy()
        total_sq += (block**2).sum(0).cpu().numpy()
    count = len(train) * int(np.prod([shape[a] for a in within]))
    mean = total.sum(within, keepdims=True) / count
    std = np.sqrt(np.maximum(total_sq.sum(within, keepdims=True) / count - mean**2, 0.0))
    # A constant feature (dead unit, silent channel) carries nothing; avoid dividing by ~0.
    std = np.where(std < 1e-6, 1.0, std)
    return Standardize(mean.astype(np.float32), std.astype(np.float32))


def _fit(
    model: nn.Module,
    x: np.ndarray | TrainingRows,
    y,
    train: np.ndarray,
    settings: AttackerSettings,
    seed: int,
    device: str,
    held_out: np.ndarray | None = None,
) -> None:
    """Adam on cross-entropy; `y` is the gender labels, or a tuple of label arrays for a multi-task
    head (one cross-entropy per output, summed). With `held_out` rows: early stopping on their gender
    loss (`_Best`), the best epoch's weights kept."""
    rows = _readable(x, device)
    targets = tuple(torch.as_tensor(np.asarray(t), device=device) for t in (y if isinstance(y, tuple) else (y,)))
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.learning_rate, weight_decay=settings.weight_decay)
    loss_fn = nn.CrossEntropyLoss()
    rng = np.random.default_rng(seed)
    epochs = settings.epochs
    assert epochs is not None, "attacker.epochs null: the audit fills in its budget's epochs"
    best = _Best()
    model.train()
    for epoch in range(epochs):
        progress.update("training", epoch, epochs, "epochs")
        order = rng.permutation(train)
        for start in range(0, len(order), settings.batch_size):
            batch = np.sort(order[start : start + settings.batch_size])
            if len(batch) < 2:  # BatchNorm cannot train on a single example
                continue
            outputs = model(rows.take(batch))
            outputs = outputs if isinstance(outputs, tuple) else (outputs,)
            optimizer.zero_grad()
            index = torch.as_tensor(batch, device=device)
            loss = sum(loss_fn(out, t[index]) for out, t in zip(outputs, targets))
            loss.backward()
            optimizer.step()
        if held_out is not None and best.stops(
            model, _held_out_loss(model, rows, targets[0], held_out, device), settings
        ):
            break
    progress.update("training", epochs, epochs, "epochs")
    best.restore(model)
    model.eval()


class _Best:
    """The best epoch so far by held-out gender loss (its weights), and how many epochs since."""

    def __init__(self) -> None:
        self.loss = float("inf")
        self.state: dict | None = None
        self.stale = 0

    def stops(self, model: nn.Module, loss: float, settings: AttackerSettings) -> bool:
        """Better means lower by a relative LOSS_MARGIN while the best is above LOSS_FLOOR: on
        separable data the loss falls geometrically for ever, and training on would only cost time.
        Loss, not accuracy: held-out accuracy over a few speakers moves in steps of a whole speaker's
        clips, and stopping on it ended slow-but-steady heads (a small learning rate) at chance."""
        if loss < self.loss * (1 - LOSS_MARGIN) and self.loss > LOSS_FLOOR:
            self.loss, self.stale = loss, 0
            self.state = copy.deepcopy(model.state_dict())
        else:
            self.stale += 1
        return self.stale >= settings.patience

    def restore(self, model: nn.Module) -> None:
        if self.state is not None:
            model.load_state_dict(self.state)


def _held_out_loss(model: nn.Module, x: TrainingRows, genders: torch.Tensor, rows: np.ndarray, device: str) -> float:
    """Mean gender cross-entropy over `rows`, in eval mode (the model returns to training mode)."""
    model.eval()
    total = 0.0
    with torch.inference_mode():
        for batch, outputs in _outputs_in_batches(model, x, rows, device):
            labels = genders[torch.as_tensor(batch, device=device)]
            total += float(nn.functional.cross_entropy(outputs[0], labels, reduction="sum"))
    model.train()
    loss = total / max(1, len(rows))
    return loss if np.isfinite(loss) else float("inf")


def _outputs_in_batches(model: nn.Module, x, rows: np.ndarray, device: str, size: int = 256):
    """(row indices, the model's outputs as a tuple) per batch of `rows`; call under inference_mode."""
    readable = _readable(x, device)
    for start in range(0, len(rows), size):
        batch = rows[start : start + size]
        outputs = model(readable.take(batch))
        yield batch, outputs if isinstance(outputs, tuple) else (outputs,)


def _readable(x, device: str) -> TrainingRows:
    """`x` as TrainingRows: itself, or read batch by batch (never loaded whole just to be read once)."""
    return x if isinstance(x, TrainingRows) else TrainingRows(x, device, None)


def predict(model: nn.Module, x: np.ndarray | TrainingRows, rows: np.ndarray, device: str):
    """Argmax per output: an array, or a tuple of arrays for a multi-task head."""
    chunks: list[tuple[np.ndarray, ...]] = []
    with torch.inference_mode():
        for _batch, outputs in _outputs_in_batches(model, x, rows, device):
            chunks.append(tuple(o.argmax(1).cpu().numpy() for o in outputs))
    if not chunks:
        return np.zeros(0, dtype=np.int64)
    columns = tuple(np.concatenate(parts) for parts in zip(*chunks))
    return columns if len(columns) > 1 else columns[0]
