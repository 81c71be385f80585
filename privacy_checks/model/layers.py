"""T's layers as the audit sees them: which modules are split points, in execution order, with the
shape of what each one outputs, and which tensor of an output an attacker intercepts."""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

import torch
from torch import nn

from privacy_checks.features import FeatureSpec

# Leaf modules whose output is never a useful split point (identity at inference).
SKIPPED_LEAVES: tuple[type[nn.Module], ...] = (nn.Dropout, nn.Identity)
# The same list by class name, for modules known only by name (children of a TorchScript archive).
SKIPPED_LEAF_KINDS = frozenset(kind.__name__ for kind in SKIPPED_LEAVES)


def representation(output: Any) -> torch.Tensor | None:
    """The tensor an attacker intercepts: the output itself, or the first tensor of a tuple/list."""
    if isinstance(output, torch.Tensor):
        return output
    if isinstance(output, (tuple, list)):
        return next((o for o in output if isinstance(o, torch.Tensor)), None)
    return None


def declared_candidate_layers(architecture: nn.Module) -> list[str] | None:
    """The split points an architecture lists itself (zoo models, a TorchScript chain), else None."""
    declared = getattr(architecture, "candidate_layers", None)
    return list(declared()) if callable(declared) else None


def trace_layer_shapes(
    module: nn.Module, spec: FeatureSpec, wanted: Collection[str] = frozenset()
) -> dict[str, tuple[int, ...]]:
    """Run one dummy example with hooks on every leaf module and on the `wanted` blocks (a ResNet
    block, a transformer layer); record execution order and shapes (batch dim dropped)."""
    shapes: dict[str, tuple[int, ...]] = {}
    handles = []
    for name, child in module.named_modules():
        leaf = not list(child.children()) and not isinstance(child, SKIPPED_LEAVES)
        if name and (leaf or name in wanted):
            handles.append(child.register_forward_hook(_shape_recorder(shapes, name)))
    try:
        with torch.inference_mode():
            module(torch.zeros((1, *spec.shape)))
    finally:
        for handle in handles:
            handle.remove()
    return shapes


def _shape_recorder(shapes: dict[str, tuple[int, ...]], name: str) -> Callable[..., None]:
    def hook(_module: nn.Module, _inputs: Any, output: Any) -> None:
        tensor = representation(output)
        if tensor is not None and name not in shapes:
            shapes[name] = tuple(tensor.shape[1:])

    return hook
