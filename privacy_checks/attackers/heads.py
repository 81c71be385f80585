"""Attacker heads for an intercepted layer output of any rank.

- tail clone: T's own architecture from the layer on, re-initialised, 2 gender outputs (the
  worst-case "same architecture" attacker of DESIGN.md §2);
- linear probe: per-feature mean and std over time, then a linear layer (the baseline that is always
  available, and the fallback when T cannot rebuild its tail).
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from torch import nn

TAIL_CLONE = "tail_clone"
LINEAR_PROBE = "linear_probe"


class Standardize(nn.Module):
    """Per-feature standardisation with statistics of the attacker's training split only."""

    def __init__(self, mean: np.ndarray, std: np.ndarray):
        super().__init__()
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32))
        self.register_buffer("std", torch.as_tensor(std, dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


class TimeSummary(nn.Module):
    """(B, C, F, T) or (B, T, D) -> mean and std over time; (B, D) unchanged."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 2:
            return x
        time_axis = -1 if x.dim() == 4 else 1
        return torch.cat([x.mean(time_axis).flatten(1), x.std(time_axis, unbiased=False).flatten(1)], dim=1)


def summary_size(shape: tuple[int, ...]) -> int:
    if len(shape) == 1:
        return shape[0]
    return 2 * int(np.prod(shape[:-1] if len(shape) == 3 else shape[1:]))


def linear_probe(shape: tuple[int, ...]) -> nn.Module:
    return nn.Sequential(TimeSummary(), nn.Linear(summary_size(shape), 2))


def channel_axes(shape: tuple[int, ...]) -> tuple[int, ...]:
    """Axes (of a batch) averaged over when standardising: all but the feature/channel axis."""
    if len(shape) == 3:  # (C, F, T): per channel
        return (0, 2, 3)
    if len(shape) == 2:  # (T, D): per feature dimension
        return (0, 1)
    return (0,)


def build_head(kind: str, shape: tuple[int, ...], make_tail: Callable[[], nn.Module | None]) -> nn.Module:
    if kind == TAIL_CLONE:
        tail = make_tail()
        if tail is None:
            raise ValueError("this layer has no tail to clone")
        return tail
    if kind == LINEAR_PROBE:
        return linear_probe(shape)
    raise ValueError(f"unknown attacker head {kind!r}")
