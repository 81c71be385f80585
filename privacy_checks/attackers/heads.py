"""Attacker heads for an intercepted layer output of any rank.

Every head reads a batch of h_T of one of three per-example shapes and returns logits:
(C, F, T) maps of CNN targets, (T, D) sequences of recurrent/transformer targets, (D,) vectors.

- tail clone: T's own architecture from the layer on, re-initialised, 2 gender outputs (the
  worst-case "same architecture" attacker of docs/design.md §2);
- linear probe: per-feature mean and std over time, then a linear layer (the baseline that is always
  available, and the fallback when T cannot rebuild its tail);
- VGG-, ResNet- and DenseNet-style heads: "different architecture, same family" (2-D convolutions on
  maps, their 1-D analogues over time on sequences, MLP analogues on vectors);
- LSTM head: "different family" for a CNN target; conv head: "different family" for a sequence target.

Application-aware attackers are the same heads with several outputs (gender, then the emotions of the
attacker's own corpus) on one shared trunk: see `MultiTask`. Defaults are CPU-sized; `width` scales
every head's channels and units.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from privacy_checks.attackers.names import (
    CONV_HEAD,
    DENSENET_HEAD,
    LINEAR_PROBE,
    LSTM_HEAD,
    RESNET_HEAD,
    TAIL_CLONE,
    VGG_HEAD,
)
from privacy_checks.model.multitask import MultiTask, multitask_from_tail

# CPU-sized defaults (at width 1); the paper's attackers were wider (ResNet50 FC 1024 and 4096; LSTM
# 256-256-128-64), which `width` and `lstm_head(widths=...)` can reach.
VGG_STAGES = ((16, 16), (32, 32), (64, 64))  # VGG19-like: 2 convs per stage, then a 2x max-pool
CONV_HEAD_STAGES = ((8, 8), (16, 16), (32, 32))  # the conv-family attacker on (D, T) "images": few channels
CLASSIFIER_UNITS = 128
CLASSIFIER_DROPOUT = 0.3  # VGG's classifier regularisation: attackers train on few speakers
RESNET_STAGES = ((16, 2), (32, 2))  # (bottleneck width, blocks); a block's output is 4x its width
RESNET_FC = (128, 128)
DENSENET_BLOCKS = (4, 4, 4)  # layers per dense block, a transition between blocks
GROWTH_RATE = 12
LSTM_WIDTHS = (64, 64, 32)
LSTM_INPUT = 128  # wider per-step features are projected down first so huge maps stay cheap


def family_of_shape(shape: tuple[int, ...]) -> str:
    """The model family a per-example layer output shape suggests: (C, F, T) cnn, (T, D) sequence, (D,) vector."""
    families = {3: "cnn", 2: "sequence", 1: "vector"}
    if len(shape) not in families:
        raise ValueError(f"layer outputs of per-example shape {tuple(shape)} are not (C, F, T), (T, D) or (D,)")
    return families[len(shape)]


class Standardize(nn.Module):
    """Per-feature standardisation with statistics of the attacker's training split only."""

    mean: torch.Tensor  # buffers, registered in __init__
    std: torch.Tensor

    def __init__(self, mean: np.ndarray, std: np.ndarray):
        super().__init__()
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32))
        self.register_buffer("std", torch.as_tensor(std, dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


class FittedScale(Standardize):
    """Per-feature standardisation of a fixed trunk's output, fitted on the attacker's fit rows before
    training (`attackers.training`) and fixed during it. The linear probe's time summary puts the
    spread over time near 1 for every utterance, with gender in its small differences: from a zero
    start, Adam moves a readout's weight and bias at the same rate and cannot put the boundary there
    (0.67 on a control a logistic regression reads at 0.90); centred and scaled, it can."""

    def __init__(self, features: int):
        super().__init__(np.zeros(features, dtype=np.float32), np.ones(features, dtype=np.float32))

    def fit(self, values: torch.Tensor) -> None:
        """Statistics of `values` (rows, features), in float64; a constant feature keeps scale 1."""
        values = values.double()
        mean, std = values.mean(0), values.std(0, unbiased=False)
        self.mean.copy_(mean.to(self.mean.dtype))
        self.std.copy_(torch.where(std < 1e-6, torch.ones_like(std), std).to(self.std.dtype))


class TimeSummary(nn.Module):
    """(B, C, F, T) or (B, T, D) -> mean and std over time; (B, D) unchanged."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 2:
            return x
        time_axis = -1 if x.dim() == 4 else 1
        return torch.cat([x.mean(time_axis).flatten(1), x.std(time_axis, unbiased=False).flatten(1)], dim=1)


# --- rank adapters ---------------------------------------------------------------------------------


class ChannelsFirst(nn.Module):
    """(B, T, D) -> (B, D, T): a sequence's feature dimensions become the channels of 1-D convolutions.

    Made contiguous here: oneDNN's conv1d on the transposed view took 3.5x as long, forward and
    backward, as the copy plus the convolution (W's 768 x 225 maps, a batch of 32, one thread)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.transpose(1, 2).contiguous()


class NewAxis(nn.Module):
    """Inserts a size-1 axis after the batch axis: a channel for a CNN, or time for an LSTM."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.unsqueeze(1)


class FramesFirst(nn.Module):
    """(B, C, F, T) -> (B, T, C*F): one step per frame with every channel and frequency as features."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.permute(0, 3, 1, 2).flatten(2)


@dataclass(frozen=True)
class Spatial:
    """Layer factories for inputs with `dims` spatial axes: 2 for (C, F, T) maps, 1 for (D, T)
    sequences (channels first), 0 for vectors, where a "convolution" is a linear layer. One builder per
    family thus gives the 2-D network, its 1-D analogue and its MLP analogue."""

    dims: int

    def conv(self, cin: int, cout: int, kernel: int = 3, stride: int = 1) -> nn.Module:
        if self.dims == 0:
            return nn.Linear(cin, cout, bias=False)
        conv = nn.Conv2d if self.dims == 2 else nn.Conv1d
        # Batch norm follows every convolution, so a bias would be redundant.
        return conv(cin, cout, kernel, stride=stride, padding=kernel // 2, bias=False)

    def norm(self, channels: int) -> nn.Module:
        return nn.BatchNorm2d(channels) if self.dims == 2 else nn.BatchNorm1d(channels)


def as_channels(shape: tuple[int, ...]) -> tuple[nn.Module, int, Spatial]:
    """Adapter to channels-first layout, input channels and spatial rank, for same-family heads."""
    family = family_of_shape(shape)
    if family == "cnn":
        return nn.Identity(), shape[0], Spatial(2)
    if family == "sequence":
        return ChannelsFirst(), shape[1], Spatial(1)
    return nn.Identity(), shape[0], Spatial(0)


class Halve(nn.Module):
    """2x max- or average-pooling of every spatial axis that still has 2 or more positions.

    Late layers give tiny maps ((64, 1, 1) after global pooling, (16, 2, 3)): a fixed 2x2 pool would
    fail on a size-1 axis, and floor mode would drop the last row of an odd one, so size-1 axes are
    left alone and odd ones rounded up (ceil mode). Vectors have no spatial axes: identity.
    """

    def __init__(self, mode: str):
        super().__init__()
        self.mode = mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        kernel = tuple(2 if size >= 2 else 1 for size in x.shape[2:])
        if all(k == 1 for k in kernel):
            return x
        pool: dict[tuple[str, int], Callable[..., torch.Tensor]]
        pool = {("max", 1): F.max_pool1d, ("max", 2): F.max_pool2d, ("avg", 1): F.avg_pool1d, ("avg", 2): F.avg_pool2d}
        return pool[self.mode, len(kernel)](x, kernel, kernel, ceil_mode=True)


class GlobalAvgPool(nn.Module):
    """Mean over every spatial axis: (B, C, ...) -> (B, C), so heads take any map or clip length."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(2).mean(-1) if x.dim() > 2 else x


def scaled(units: int, width: float) -> int:
    return max(2, round(units * width))


# --- VGG style -------------------------------------------------------------------------------------


def vgg_trunk(
    space: Spatial, channels: int, stages: Sequence[Sequence[int]], width: float
) -> tuple[nn.Sequential, int]:
    """Stages of 3x3 conv-BN-ReLU then 2x max-pool, global average pool, one hidden FC layer."""
    layers: list[nn.Module] = []
    for stage in stages:
        for units in stage:
            out = scaled(units, width)
            layers += [space.conv(channels, out), space.norm(out), nn.ReLU()]
            channels = out
        layers.append(Halve("max"))
    hidden = scaled(CLASSIFIER_UNITS, width)
    layers += [GlobalAvgPool(), nn.Linear(channels, hidden), nn.ReLU(), nn.Dropout(CLASSIFIER_DROPOUT)]
    return nn.Sequential(*layers), hidden


def vgg_head(shape: tuple[int, ...], outputs: Sequence[int] = (2,), width: float = 1.0) -> MultiTask:
    adapter, channels, space = as_channels(shape)
    trunk, features = vgg_trunk(space, channels, VGG_STAGES, width)
    return MultiTask(nn.Sequential(adapter, trunk), features, outputs)


def conv_head(shape: tuple[int, ...], outputs: Sequence[int] = (2,), width: float = 1.0) -> MultiTask:
    """The convolutional attacker for sequence targets: a narrow VGG that treats a (T, D) sequence as a
    1-channel (D, T) image and a (D,) vector as a 1-channel signal; (C, F, T) maps are used as they are."""
    family = family_of_shape(shape)
    adapter: nn.Module
    if family == "cnn":
        adapter, channels, space = nn.Identity(), shape[0], Spatial(2)
    elif family == "sequence":
        adapter, channels, space = nn.Sequential(ChannelsFirst(), NewAxis()), 1, Spatial(2)
    else:
        adapter, channels, space = NewAxis(), 1, Spatial(1)
    trunk, features = vgg_trunk(space, channels, CONV_HEAD_STAGES, width)
    return MultiTask(nn.Sequential(adapter, trunk), features, outputs)


# --- ResNet style ----------------------------------------------------------------------------------


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3 (strided when downsampling), 1x1 expand, plus an identity or projection shortcut.
    Stride 2 with padding 1 gives ceil(n / 2) positions, so size-1 axes stay size 1."""

    expansion = 4

    def __init__(self, space: Spatial, cin: int, units: int, stride: int):
        super().__init__()
        cout = units * self.expansion
        self.residual = nn.Sequential(
            space.conv(cin, units, 1),
            space.norm(units),
            nn.ReLU(),
            space.conv(units, units, 3, stride),
            space.norm(units),
            nn.ReLU(),
            space.conv(units, cout, 1),
            space.norm(cout),
        )
        same = cin == cout and stride == 1
        self.shortcut = nn.Identity() if same else nn.Sequential(space.conv(cin, cout, 1, stride), space.norm(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.residual(x) + self.shortcut(x))


def resnet_head(shape: tuple[int, ...], outputs: Sequence[int] = (2,), width: float = 1.0) -> MultiTask:
    """A downsampling stem (3x3 conv, 2x max-pool: ResNet's, smaller), bottleneck stages (the second
    downsamples), global average pool, FC layers."""
    adapter, channels, space = as_channels(shape)
    stem = scaled(RESNET_STAGES[0][0], width)
    layers: list[nn.Module] = [adapter, space.conv(channels, stem), space.norm(stem), nn.ReLU(), Halve("max")]
    channels = stem
    for stage, (units, blocks) in enumerate(RESNET_STAGES):
        for block in range(blocks):
            stride = 2 if stage > 0 and block == 0 else 1
            layers.append(Bottleneck(space, channels, scaled(units, width), stride))
            channels = scaled(units, width) * Bottleneck.expansion
    layers.append(GlobalAvgPool())
    for units in RESNET_FC:
        layers += [nn.Linear(channels, scaled(units, width)), nn.ReLU()]
        channels = scaled(units, width)
    return MultiTask(nn.Sequential(*layers), channels, outputs)


# --- DenseNet style --------------------------------------------------------------------------------


class DenseLayer(nn.Module):
    """BN-ReLU-3x3 conv producing `growth` new channels, concatenated to its input."""

    def __init__(self, space: Spatial, cin: int, growth: int):
        super().__init__()
        self.new = nn.Sequential(space.norm(cin), nn.ReLU(), space.conv(cin, growth))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x, self.new(x)], dim=1)


def densenet_head(shape: tuple[int, ...], outputs: Sequence[int] = (2,), width: float = 1.0) -> MultiTask:
    """A downsampling stem (3x3 conv, 2x max-pool: DenseNet's, smaller), dense blocks with transitions
    (BN-ReLU-1x1 conv halving the channels, 2x average pool), BN-ReLU and global average pool; the
    linear outputs read the pooled channels, as in DenseNet."""
    adapter, channels, space = as_channels(shape)
    growth = scaled(GROWTH_RATE, width)
    layers: list[nn.Module] = [adapter, space.conv(channels, 2 * growth), Halve("max")]
    channels = 2 * growth
    for i, depth in enumerate(DENSENET_BLOCKS):
        for _ in range(depth):
            layers.append(DenseLayer(space, channels, growth))
            channels += growth
        if i < len(DENSENET_BLOCKS) - 1:
            layers += [space.norm(channels), nn.ReLU(), space.conv(channels, channels // 2, 1), Halve("avg")]
            channels //= 2
    layers += [space.norm(channels), nn.ReLU(), GlobalAvgPool()]
    return MultiTask(nn.Sequential(*layers), channels, outputs)


# --- LSTM ------------------------------------------------------------------------------------------


class StackedLSTM(nn.Module):
    """LSTM layers of decreasing width (nn.LSTM stacks only equal widths); the last layer's mean over time."""

    def __init__(self, features: int, widths: Sequence[int]):
        super().__init__()
        sizes = (features, *widths)
        self.layers = nn.ModuleList(nn.LSTM(i, o, batch_first=True) for i, o in itertools.pairwise(sizes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for lstm in self.layers:
            x, _ = lstm(x)
        return x.mean(1)


def lstm_head(
    shape: tuple[int, ...], outputs: Sequence[int] = (2,), width: float = 1.0, widths: Sequence[int] = LSTM_WIDTHS
) -> MultiTask:
    """The recurrent attacker: a (C, F, T) map is read frame by frame (C*F features per step), a (T, D)
    sequence directly, a (D,) vector as a length-1 sequence."""
    family = family_of_shape(shape)
    adapter: nn.Module
    if family == "cnn":
        adapter, features = FramesFirst(), shape[0] * shape[1]
    elif family == "sequence":
        adapter, features = nn.Identity(), shape[1]
    else:
        adapter, features = NewAxis(), shape[0]
    layers: list[nn.Module] = [adapter]
    step = scaled(LSTM_INPUT, width)
    if features > step:
        layers.append(nn.Linear(features, step))
        features = step
    units = tuple(scaled(w, width) for w in widths)
    layers.append(StackedLSTM(features, units))
    return MultiTask(nn.Sequential(*layers), units[-1], outputs)


# --- linear probe and dispatch ---------------------------------------------------------------------


def summary_size(shape: tuple[int, ...]) -> int:
    if len(shape) == 1:
        return shape[0]
    return 2 * int(np.prod(shape[:-1] if len(shape) == 3 else shape[1:]))


def linear_probe(shape: tuple[int, ...], outputs: Sequence[int] = (2,)) -> MultiTask:
    """Linear readouts of the time summary, started at zero: a convex problem needs no random start,
    and on a few features (2 logits) the random start's weights (1/sqrt(fan-in)) outweighed what a
    budget's few hundred steps of Adam add (0.72 on gender logits a logistic regression reads at 1.00)."""
    size = summary_size(shape)
    head = MultiTask(nn.Sequential(TimeSummary(), FittedScale(size)), size, outputs)
    for parameter in head.outputs.parameters():  # each output's weight and bias
        nn.init.zeros_(parameter)
    return head


# Our own modules that are fixed functions: no parameters, the same in training and eval (FittedScale's
# buffers are fitted before training starts, `fitted_scales`).
FIXED_MODULES = (TimeSummary, FittedScale, ChannelsFirst, NewAxis, FramesFirst, nn.Identity, nn.Sequential)


def fitted_scales(head: nn.Module) -> list[tuple[nn.Module, FittedScale]]:
    """Each FittedScale of a head's sequential trunk, with the part of the trunk before it (what its
    statistics are taken of)."""
    if not isinstance(head, MultiTask) or not isinstance(head.trunk, nn.Sequential):
        return []
    trunk = head.trunk
    return [(trunk[:index], module) for index, module in enumerate(trunk) if isinstance(module, FittedScale)]


@dataclass(frozen=True)
class FixedPart:
    """A head split where its leading part is a fixed function: `prefix`'s output can be computed
    once per training set and `trainable` (sharing every parameter with the head) trained on it."""

    prefix: nn.Module
    trainable: nn.Module
    smaller: bool  # the prefix reduces the rows (a time summary), worth computing even when streamed


# Leading layout changes whose per-step copy costs more than the layers after them would save:
# a transposed (B, D, T) view made the first convolution 3.5x slower on W's maps.
LAYOUT_ADAPTERS = (ChannelsFirst, FramesFirst)


def fixed_part(head: nn.Module) -> FixedPart | None:
    """The fixed leading part of one of our heads: the whole trunk when it is a fixed function (the
    linear probe's time summary: only the outputs train), else a leading layout adapter. None
    otherwise (a user's head is never assumed fixed)."""
    if not isinstance(head, MultiTask):
        return None
    if all(type(m) in FIXED_MODULES for m in head.trunk.modules()):
        return FixedPart(head.trunk, head.readout(), smaller=True)
    trunk = head.trunk
    if isinstance(trunk, nn.Sequential) and len(trunk) > 1 and type(trunk[0]) in LAYOUT_ADAPTERS:
        return FixedPart(trunk[0], nn.Sequential(trunk[1:], head.readout()), smaller=False)
    return None


def channel_axes(shape: tuple[int, ...]) -> tuple[int, ...]:
    """Axes (of a batch) averaged over when standardising: all but the feature/channel axis."""
    if len(shape) == 3:  # (C, F, T): per channel
        return (0, 2, 3)
    if len(shape) == 2:  # (T, D): per feature dimension
        return (0, 1)
    return (0,)


BUILDERS: dict[str, Callable[..., MultiTask]] = {
    VGG_HEAD: vgg_head,
    RESNET_HEAD: resnet_head,
    DENSENET_HEAD: densenet_head,
    LSTM_HEAD: lstm_head,
    CONV_HEAD: conv_head,
}


def build_head(
    kind: str,
    shape: tuple[int, ...],
    make_tail: Callable[[], nn.Module | None],
    outputs: Sequence[int] = (2,),
    width: float = 1.0,
) -> nn.Module:
    """A fresh head of `kind` for per-example inputs of `shape`; `outputs` > 1 entries make it
    application-aware (gender first). `make_tail` is called only for the tail clone."""
    outputs = tuple(outputs)
    if kind == TAIL_CLONE:
        tail = make_tail()
        if tail is None:
            raise ValueError("this layer has no tail to clone")
        return tail if outputs == (2,) else multitask_from_tail(tail, outputs)
    if kind == LINEAR_PROBE:
        return linear_probe(shape, outputs)
    if kind in BUILDERS:
        return BUILDERS[kind](tuple(shape), outputs, width)
    raise ValueError(f"unknown attacker head {kind!r}")
