"""Intercept access (docs/design.md §2, the paper's protocol): the attacker cannot run T.

It trains its own full gender model of the scenario's architecture on raw input features of its
corpus, then feeds an intercepted h_T into that model at the matching layer and reads the gender
logits. What it trains never sees T's weights, so the models are cached on disk across runs.

Matching layer: the layer of the same name when the attacker's model is T's own architecture (the
tail clone); otherwise the attacker's insertion point at the same relative depth among points of the
same kind (T's maps and sequences enter the attacker's maps and sequences, T's vectors its vectors).

Shape adapter, parameter-free (the attacker has no labelled h_T to fit one on):
- channel and feature axes are truncated, or repeated cyclically, to the attacker's width;
- frequency and time axes are resized by linear interpolation;
- a map (C, F, T) entering a sequence point becomes one step per frame with C*F features; a sequence
  (T, D) entering a map point a 1-channel (D, T) image; anything entering a vector point is averaged
  over its frequency and time axes first;
- then moment matching: every channel is standardised with the statistics of the intercepted h_T
  (unlabelled traffic, which the attacker sees) and rescaled to the attacker's own activation
  statistics at that point on its training data.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from privacy_checks import cache_seal
from privacy_checks.attackers.heads import Bottleneck, GlobalAvgPool, Halve, StackedLSTM, Standardize, channel_axes
from privacy_checks.model.target import representation

# Module types whose outputs are insertion points of the family heads: stage ends and FC units.
_POINT_TYPES = (Halve, Bottleneck, GlobalAvgPool, nn.LSTM, StackedLSTM)
_STATS_ROWS = 512  # training rows used for the attacker's own activation statistics
CACHE_VERSION = 2


@dataclass(frozen=True)
class InsertionPoint:
    module: str  # name inside the attacker's model (its head, behind the standardiser)
    shape: tuple[int, ...]  # per-example output shape there


def _kind(shape: tuple[int, ...]) -> str:
    """Vectors, including globally pooled (C, 1, 1) maps, versus maps and sequences."""
    return "vector" if int(np.prod(shape[1:])) == 1 or len(shape) == 1 else "spatial"


def trace_outputs(
    model: nn.Module, input_shape: tuple[int, ...], keep: Callable[[str, nn.Module], bool]
) -> dict[str, tuple[int, ...]]:
    """Per-example output shapes of the modules `keep` selects, in execution order."""
    shapes: dict[str, tuple[int, ...]] = {}
    handles = []

    def recorder(name):
        def hook(_module, _inputs, output):
            tensor = representation(output)
            if tensor is not None and name not in shapes:
                shapes[name] = tuple(tensor.shape[1:])

        return hook

    for name, module in model.named_modules():
        if name and keep(name, module):
            handles.append(module.register_forward_hook(recorder(name)))
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            model(torch.zeros((2, *input_shape)))
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    return shapes


def insertion_points(head: nn.Module, input_shape: tuple[int, ...]) -> list[InsertionPoint]:
    """Where a family head (vgg/resnet/densenet/lstm/conv style) can take an intercepted h_T."""

    def keep(_name, module):
        return isinstance(module, (*_POINT_TYPES, nn.ReLU))

    shapes = trace_outputs(head, input_shape, keep)
    modules = dict(head.named_modules())
    return [
        InsertionPoint(name, shape)
        for name, shape in shapes.items()
        if not isinstance(modules[name], nn.ReLU) or len(shape) == 1
    ]  # ReLUs only of FC layers


def matching_point(
    layer: str, target_shapes: dict[str, tuple[int, ...]], points: list[InsertionPoint]
) -> InsertionPoint:
    """The attacker's point at the layer's relative depth among points of the same kind."""
    kind = _kind(target_shapes[layer])
    same_kind = [name for name, shape in target_shapes.items() if _kind(shape) == kind]
    candidates = [p for p in points if _kind(p.shape) == kind] or points
    index = same_kind.index(layer) * len(candidates) // len(same_kind)
    return candidates[min(index, len(candidates) - 1)]


# --- the shape adapter ------------------------------------------------------------------------------


def _fit_width(x: torch.Tensor, size: int, axis: int) -> torch.Tensor:
    """Truncate, or repeat cyclically, along `axis` to `size` entries."""
    have = x.shape[axis]
    if have == size:
        return x
    if have > size:
        return x.narrow(axis, 0, size)
    repeats = -(-size // have)
    return torch.cat([x] * repeats, dim=axis).narrow(axis, 0, size)


def _resize(x: torch.Tensor, sizes: tuple[int, ...]) -> torch.Tensor:
    """Linear interpolation of the trailing len(sizes) axes of a (B, C, ...) tensor."""
    if tuple(x.shape[2:]) == tuple(sizes):
        return x
    mode = "linear" if len(sizes) == 1 else "bilinear"
    return F.interpolate(x, size=tuple(sizes), mode=mode, align_corners=False)


def reshape_to(h: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    """A batch of h_T of any per-example rank -> the attacker's per-example `shape` (see module doc)."""
    src, dst = h.dim() - 1, len(shape)
    if dst == 1:
        if src == 3:
            h = h.mean((2, 3))
        elif src == 2:
            h = h.mean(1)
        return _fit_width(h, shape[0], 1)
    if dst == 3:
        if src == 2:  # (B, T, D) -> a 1-channel (D, T) image
            h = h.transpose(1, 2).unsqueeze(1)
        elif src == 1:  # a vector as a constant map
            h = h[:, :, None, None].expand(-1, -1, shape[1], shape[2])
        return _resize(_fit_width(h, shape[0], 1), shape[1:])
    # dst == 2: a (T, D) sequence
    if src == 3:  # one step per frame, every channel and frequency as features
        h = h.permute(0, 3, 1, 2).flatten(2)
    elif src == 1:
        h = h[:, None, :].expand(-1, shape[0], -1)
    channels_first = _fit_width(h, shape[1], 2).transpose(1, 2)  # (B, D, T)
    return _resize(channels_first, shape[:1]).transpose(1, 2)


class Moments:
    """Streaming per-channel mean and std (channels as in heads.channel_axes)."""

    def __init__(self):
        self.total: torch.Tensor | None = None
        self.total_sq: torch.Tensor | None = None
        self.count = 0

    def add(self, x: torch.Tensor) -> None:
        axes = channel_axes(tuple(x.shape[1:]))
        x = x.double()
        total, total_sq = x.sum(axes, keepdim=True)[0], (x**2).sum(axes, keepdim=True)[0]
        self.total = total if self.total is None else self.total + total
        self.total_sq = total_sq if self.total_sq is None else self.total_sq + total_sq
        self.count += x.numel() // total.numel()

    def mean_std(self) -> tuple[torch.Tensor, torch.Tensor]:
        assert self.total is not None and self.total_sq is not None, "moments of no batch"
        mean = self.total / self.count
        std = torch.sqrt(torch.clamp(self.total_sq / self.count - mean**2, min=0.0))
        return mean.float(), torch.where(std < 1e-6, torch.ones_like(std), std).float()


class Adapter(nn.Module):
    """reshape_to, then moment matching from the intercepted statistics to the attacker's own."""

    source_mean: torch.Tensor  # buffers, registered in __init__
    source_std: torch.Tensor
    own_mean: torch.Tensor
    own_std: torch.Tensor

    def __init__(self, shape: tuple[int, ...], source: Moments, own: Moments):
        super().__init__()
        self.shape = shape
        for prefix, moments in (("source", source), ("own", own)):
            mean, std = moments.mean_std()
            self.register_buffer(f"{prefix}_mean", mean)
            self.register_buffer(f"{prefix}_std", std)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        x = reshape_to(h, self.shape)
        return (x - self.source_mean) / self.source_std * self.own_std + self.own_mean


class Injected(nn.Module):
    """The attacker's model with its output at `point` replaced by adapted h_T: forward(h_T) -> logits.
    The layers before the point run on a zero input whose result is discarded. h_T arrives batch
    first; `batch_axis` is where the point's own output has its batch (a (T, B, D) block: 1)."""

    def __init__(
        self, model: nn.Sequential, point: str, adapter: Adapter, input_shape: tuple[int, ...], batch_axis: int = 0
    ):
        super().__init__()
        self.model, self.point, self.adapter, self.input_shape = model, point, adapter, input_shape
        self.batch_axis = batch_axis

    def forward(self, h: torch.Tensor):
        injected = self.adapter(h).movedim(0, self.batch_axis)

        def replace(_module, _inputs, output):
            return (injected, *output[1:]) if isinstance(output, tuple) else injected

        handle = self.model[1].get_submodule(self.point).register_forward_hook(replace)
        try:
            return self.model(h.new_zeros((h.shape[0], *self.input_shape)))
        finally:
            handle.remove()


def own_moments(
    model: nn.Sequential,
    x: np.ndarray,
    rows: np.ndarray,
    points: list[str],
    device: str,
    batch_size: int = 128,
    batch_axis: int = 0,
) -> dict[str, Moments]:
    """The attacker's activation statistics at `points` on (up to 512 of) its training rows; the
    points' outputs have their batch on `batch_axis` (moved first, as h_T is stored)."""
    rows = rows[:: max(1, len(rows) // _STATS_ROWS)][:_STATS_ROWS]
    moments = {p: Moments() for p in points}
    handles = []
    for point in points:

        def hook(_module, _inputs, output, point=point):
            tensor = representation(output)
            assert tensor is not None, f"{point} outputs no tensor"  # insertion points are traced tensor outputs
            moments[point].add(tensor.movedim(batch_axis, 0).cpu())

        handles.append(model[1].get_submodule(point).register_forward_hook(hook))
    try:
        with torch.inference_mode():
            for start in range(0, len(rows), batch_size):
                batch = np.sort(rows[start : start + batch_size])
                model(torch.from_numpy(np.asarray(x[batch], dtype=np.float32)).to(device))
    finally:
        for handle in handles:
            handle.remove()
    return moments


def source_moments(x: np.ndarray, shape: tuple[int, ...], batch_size: int = 256) -> Moments:
    """Statistics of every intercepted h_T (all rows of a layer), after reshaping to `shape`."""
    moments = Moments()
    for start in range(0, len(x), batch_size):
        moments.add(reshape_to(torch.from_numpy(np.asarray(x[start : start + batch_size], dtype=np.float32)), shape))
    return moments


# --- the on-disk cache of trained attacker models -------------------------------------------------


class ModelCache:
    """Trained intercept attackers by content key: they depend on the attacker's architecture, its
    training rows and labels, the settings and the seed, never on T's weights."""

    def __init__(self, folder: Path):
        self.folder = folder

    @staticmethod
    def key(**parts) -> str:
        def norm(value):
            if isinstance(value, np.ndarray):
                return hashlib.sha256(np.ascontiguousarray(value).tobytes()).hexdigest()
            return value

        text = json.dumps(
            {k: norm(v) for k, v in sorted(parts.items())} | {"version": CACHE_VERSION, "torch": torch.__version__},
            sort_keys=True,
            default=str,
        )
        return hashlib.sha256(text.encode()).hexdigest()[:32]

    def load(self, key: str, make_head: Callable[[], nn.Module]) -> nn.Sequential | None:
        path = self.folder / f"{key}.pt"
        if not cache_seal.is_sealed(path, key):  # a planted attacker could read any layer as safe
            return None
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
            mean, std = state["0.mean"], state["0.std"]
            model = nn.Sequential(Standardize(mean.numpy(), std.numpy()), make_head())
            model.load_state_dict(state)
        except Exception:  # a damaged or outdated entry is retrained, not trusted
            return None
        return model.eval()

    def save(self, key: str, model: nn.Module) -> None:
        buffer = io.BytesIO()
        torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, buffer)
        self.folder.mkdir(parents=True, exist_ok=True)
        cache_seal.write_sealed(self.folder / f"{key}.pt", key, buffer.getvalue())
