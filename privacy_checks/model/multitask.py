"""Per-task outputs on a network: one shared trunk, one linear output per task (gender first).

A model concern: the intercept attacker's copy of T (``Target.fresh_model``) is T's architecture
with its classifier turned into per-task outputs, and the attacker heads share the same wrapper.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
from torch import nn


class MultiTask(nn.Module):
    """A shared trunk (batch -> (B, features)) and one linear output per task.

    Returns a (B, n) tensor for a single task (a generic attacker), else a tuple with one tensor per
    task in the order of `outputs` (gender first for an application-aware attacker).
    """

    def __init__(self, trunk: nn.Module, features: int, outputs: Sequence[int] = (2,)):
        super().__init__()
        if not outputs:
            raise ValueError("a head needs at least one output")
        self.trunk = trunk
        self.outputs = nn.ModuleList(nn.Linear(features, n) for n in outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, ...]:
        return _logits(self.outputs, self.trunk(x))

    def readout(self) -> nn.Module:
        """The outputs alone, applied to the trunk's output: trains this head's outputs in place when
        the trunk's output is computed once beforehand (a fixed trunk: attackers.training)."""
        return Readout(self.outputs)


class Readout(nn.Module):
    """Per-task linear outputs over shared features: a tensor for one task, else a tuple."""

    def __init__(self, outputs: nn.ModuleList):
        super().__init__()
        self.outputs = outputs

    def forward(self, shared: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, ...]:
        return _logits(self.outputs, shared)


def _logits(outputs: nn.ModuleList, shared: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, ...]:
    logits = tuple(output(shared) for output in outputs)
    return logits[0] if len(logits) == 1 else logits


def multitask_from_tail(tail: nn.Module, outputs: Sequence[int]) -> nn.Module:
    """A copy of `tail` whose last nn.Linear (in module order: the classifier of a cloned tail) is
    replaced by one linear output per task over the same input features."""
    tail = copy.deepcopy(tail)  # leave the caller's module intact
    last = None
    for name, module in tail.named_modules():
        if isinstance(module, nn.Linear):
            last = name, module
    if last is None:
        raise ValueError(f"{type(tail).__name__} has no nn.Linear to turn into per-task outputs")
    name, linear = last
    if not name:  # the tail is a bare Linear
        return MultiTask(nn.Identity(), linear.in_features, outputs)
    parent_name, _, child = name.rpartition(".")
    setattr(tail.get_submodule(parent_name), child, MultiTask(nn.Identity(), linear.in_features, outputs))
    return tail
