"""T's layers as the audit sees them: which modules are split points, in execution order, with the
shape of what each one outputs, which tensor of an output an attacker intercepts, and the
conventional layouts of the architectures that declare their split points."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import Any

import torch
from torch import nn

from privacy_checks.features import FeatureSpec
from privacy_checks.model.layout import Layout, first_tensor

INPUT_LAYER = "input"  # pseudo-layer: T's input features (the positive control's representation)
# Leaf modules whose output is never a useful split point (identity at inference).
SKIPPED_LEAVES: tuple[type[nn.Module], ...] = (nn.Dropout, nn.Identity)
# The same list by class name, for modules known only by name (children of a TorchScript archive).
SKIPPED_LEAF_KINDS = frozenset(kind.__name__ for kind in SKIPPED_LEAVES)


def representation(output: Any) -> torch.Tensor | None:
    """The tensor an attacker intercepts: the output itself, the first tensor of a tuple/list, or
    the first tensor value of a mapping (a HF ModelOutput): the one the layout survey reads."""
    return first_tensor(output)


def conventional_layout(rank: int, evidence: str = "conventional") -> Layout:
    """The layout the zoo's and the heads' conventions give a whole output of `rank` axes, batch
    first: (B, C, F, T) maps with time last, (B, T, D) sequences, (B, D) vectors; other ranks
    without a time axis."""
    if rank == 4:
        return Layout(0, 3, (1, 2), evidence=evidence)
    if rank == 3:
        return Layout(0, 1, (2,), evidence=evidence)
    return Layout(0, None, tuple(range(1, rank)), evidence=evidence)


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


def trace_shapes_by_layout(
    module: nn.Module, spec: FeatureSpec, layouts: Mapping[str, Layout]
) -> dict[str, tuple[int, ...]]:
    """Per-example output shapes of the `layouts`' layers (each one's batch axis dropped), in the
    order of `layouts`, from one batch of 2 dummy examples (a batch of 1 cannot tell the batch axis
    from a size-1 axis)."""
    seen: dict[str, tuple[int, ...]] = {}
    by_name = dict(module.named_modules())
    handles = []
    for name in layouts:

        def hook(_module: nn.Module, _inputs: Any, output: Any, name: str = name) -> None:
            tensor = representation(output)
            if tensor is not None and name not in seen:
                seen[name] = tuple(tensor.shape)

        handles.append(by_name[name].register_forward_hook(hook))
    try:
        with torch.inference_mode():
            module(torch.zeros((2, *spec.shape)))
    finally:
        for handle in handles:
            handle.remove()
    shapes: dict[str, tuple[int, ...]] = {}
    for name, layout in layouts.items():
        if name in seen:
            shape = seen[name]
            shapes[name] = shape[: layout.batch_axis] + shape[layout.batch_axis + 1 :]
    return shapes
