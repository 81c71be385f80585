"""Sequence SER models: the paper's LSTM and a small transformer encoder. Both read (B, T, D) input
(frames x features) and pool by the mean over time, which weighs every frame alike and does not
depend on where a padded clip ends (the last step would be mostly padding for short utterances).

``lstm_ser`` layers: ``lstm.0`` ... ``lstm.3`` (LSTMs of 256, 256, 128, 64 units at width 1; each
returns (out, (h, c)), the next layer and an interceptor read ``out``), ``pool`` (mean over time),
``classifier`` (the output Linear). All are candidates. Every LSTM has one bias per gate, as the
paper's (Keras) model: 1,068,036 parameters on 32-dim input with 4 classes, "about 1.06 M"
(PyTorch's two biases per gate would give 1,070,852).

``transformer_ser`` layers: ``proj`` (Linear input projection to d_model), ``positions`` (sinusoidal,
added; no parameters), ``encoder.0``, ``encoder.1`` (nn.TransformerEncoderLayer, batch_first, post-norm,
feed-forward 4 x d_model), ``pool`` (mean over time), ``classifier.0`` Linear, ``classifier.1`` ReLU,
``classifier.2`` output Linear. Candidates: ``proj``, each ``encoder.N``, ``pool``, ``classifier.1``
(hidden units) and ``classifier.2``.

``wav_transformer``: an end-to-end (SSL-style, wav2vec 2.0-shaped) model on raw audio (B, samples):
``frames_in`` (adds the channel axis), ``conv.0`` ... ``conv.6`` (Conv1d + GELU feature encoder,
kernels 10,3,3,3,3,2,2 and strides 5,2,2,2,2,2,2: one frame per 20 ms at 16 kHz), ``frames_out``
((B, C, T) -> (B, T, C)), then ``transformer_ser``'s layers. Candidates: ``conv.1``, ``conv.3``,
``conv.6`` and the transformer's.
"""

from __future__ import annotations

import math
from itertools import pairwise

import torch
from torch import nn

from privacy_checks.model.zoo.base import Staged, scaled
from privacy_checks.model.zoo.registry import register

LSTM_UNITS = (256, 256, 128, 64)


class SingleBiasLSTM(nn.LSTM):
    """A batch-first one-layer LSTM with one bias per gate: a constant-1 input feature whose input
    weights are the bias (PyTorch's own bias is two vectors, b_ih + b_hh, one too many)."""

    def __init__(self, input_size: int, hidden_size: int):
        super().__init__(input_size + 1, hidden_size, bias=False, batch_first=True)

    # Padded (B, T, D) batches only, so narrower than nn.LSTM's overloads (no PackedSequence).
    def forward(self, x: torch.Tensor, hx: tuple[torch.Tensor, torch.Tensor] | None = None):  # type: ignore[override]
        return super().forward(torch.cat([x, x.new_ones(*x.shape[:-1], 1)], -1), hx)


class MeanOverTime(nn.Module):
    """(B, T, D) -> (B, D)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(1)


class SinusoidalPositions(nn.Module):
    """Adds the transformer's sine/cosine position code; any length, no parameters."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        steps, dim = x.shape[1], x.shape[2]
        position = torch.arange(steps, dtype=x.dtype, device=x.device)[:, None]
        frequency = torch.exp(torch.arange(0, dim, 2, dtype=x.dtype, device=x.device) * (-math.log(10000.0) / dim))
        code = torch.zeros(steps, dim, dtype=x.dtype, device=x.device)
        code[:, 0::2] = torch.sin(position * frequency)
        code[:, 1::2] = torch.cos(position * frequency[: dim // 2])
        return x + code


class LSTMSER(Staged):
    family = "sequence"

    def __init__(self, units=LSTM_UNITS, input_dim: int = 32, num_classes: int = 4, width: float = 1.0):
        super().__init__()
        sizes = (input_dim, *(scaled(u, width) for u in units))
        self.lstm = nn.ModuleList(SingleBiasLSTM(i, o) for i, o in pairwise(sizes))
        self.pool = MeanOverTime()
        self.classifier = nn.Linear(sizes[-1], num_classes)
        self.steps = (*(f"lstm.{i}" for i in range(len(self.lstm))), "pool", "classifier")

    def candidate_layers(self) -> list[str]:
        return list(self.steps)


class TransformerSER(Staged):
    family = "sequence"

    def __init__(
        self,
        input_dim: int = 40,
        d_model: int = 64,
        heads: int = 4,
        layers: int = 2,
        num_classes: int = 4,
        width: float = 1.0,
        dropout: float = 0.1,
    ):
        super().__init__()
        d = heads * scaled(d_model // heads, width)  # attention needs d_model divisible by heads
        self.proj = nn.Linear(input_dim, d)
        self.positions = SinusoidalPositions()
        self.encoder = nn.ModuleList(
            nn.TransformerEncoderLayer(d, heads, 4 * d, dropout=dropout, batch_first=True) for _ in range(layers)
        )
        self.pool = MeanOverTime()
        self.classifier = nn.Sequential(nn.Linear(d, d), nn.ReLU(), nn.Linear(d, num_classes))
        blocks = tuple(f"encoder.{i}" for i in range(layers))
        self.steps = ("proj", "positions", *blocks, "pool", "classifier.0", "classifier.1", "classifier.2")

    def candidate_layers(self) -> list[str]:
        return ["proj", *(f"encoder.{i}" for i in range(len(self.encoder))), "pool", "classifier.1", "classifier.2"]


@register("lstm_ser")
def lstm_ser(units=LSTM_UNITS, **kwargs) -> LSTMSER:
    """The paper's 4-layer LSTM (256-256-128-64 units) on (B, T, input_dim) features."""
    return LSTMSER(tuple(units), **kwargs)


@register("transformer_ser")
def transformer_ser(**kwargs) -> TransformerSER:
    """A small transformer encoder (2 blocks of d_model 64, 4 heads) on (B, T, input_dim) features."""
    return TransformerSER(**kwargs)


CONV_KERNELS = (10, 3, 3, 3, 3, 2, 2)
CONV_STRIDES = (5, 2, 2, 2, 2, 2, 2)


class AddChannel(nn.Module):
    """(B, samples) -> (B, 1, samples)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.unsqueeze(1)


class ChannelsLast(nn.Module):
    """(B, C, T) -> (B, T, C)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.transpose(1, 2)


class WaveformTransformer(TransformerSER):
    """A convolutional feature encoder on raw audio in front of TransformerSER's encoder."""

    def __init__(self, conv_channels: int = 64, num_classes: int = 4, width: float = 1.0, **kwargs):
        channels = scaled(conv_channels, width)
        super().__init__(input_dim=channels, num_classes=num_classes, width=width, **kwargs)
        self.frames_in = AddChannel()
        sizes = (1, *(channels,) * len(CONV_KERNELS))
        self.conv = nn.ModuleList(
            nn.Sequential(nn.Conv1d(i, o, k, stride=s), nn.GELU())
            for (i, o), k, s in zip(pairwise(sizes), CONV_KERNELS, CONV_STRIDES)
        )
        self.frames_out = ChannelsLast()
        self.steps = ("frames_in", *(f"conv.{i}" for i in range(len(self.conv))), "frames_out", *self.steps)

    def candidate_layers(self) -> list[str]:
        return ["conv.1", "conv.3", f"conv.{len(self.conv) - 1}", *super().candidate_layers()]


@register("wav_transformer")
def wav_transformer(**kwargs) -> WaveformTransformer:
    """Raw audio -> conv feature encoder (20 ms frames) -> 2 transformer blocks -> emotion logits."""
    return WaveformTransformer(**kwargs)
