"""The input shapes a ``torch.export`` program accepts, checked against what the audit feeds it.

``torch.export.export`` fixes every axis of the example input unless ``dynamic_shapes`` names it: a
program exported without a batch ``Dim`` runs only on batches of the example's size, and the audit
runs the model on batches of 1 to ``audit.batch_size`` utterances (and of 2, 3 and 5 to tell the
batch axis of each layer). The audit feeds clips of one duration (``model.input.duration_s``), so
a fixed time axis is fine when it is the one the input spec gives; any other fixed size is a
mismatch between the program and the input spec. Each case is a PrivacyInputError before any
forward pass, naming the axis, both sizes and the fix."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from privacy_checks.errors import PrivacyInputError
from privacy_checks.features import FeatureSpec

NEEDED_BATCHES = (1, 5)  # the smallest and largest batch the layer survey runs; the forward pass more
REEXPORT = (
    "export it again with a dynamic batch axis: torch.export.export(model, (example,), "
    'dynamic_shapes=({0: torch.export.Dim("batch", min=1, max=4096)},)) with an example batch of 2 or more, '
    "then torch.export.save"
)


def check_input_shape(program: Any, spec: FeatureSpec, path: Path) -> None:
    """PrivacyInputError unless `program` takes one tensor whose batch axis is dynamic and whose
    other axes fit `spec`'s shape per example."""
    user_inputs = set(program.graph_signature.user_inputs)
    placeholders = [node for node in program.graph.nodes if node.op == "placeholder" and node.name in user_inputs]
    if len(placeholders) != 1:
        raise PrivacyInputError(
            f"{path}: the torch.export program takes {len(placeholders)} inputs; the audit calls the model with "
            "one tensor (a batch of the features model.input describes). Export a module whose forward takes "
            "that one tensor."
        )
    value = placeholders[0].meta.get("val")
    if value is None or not hasattr(value, "shape"):
        return  # a program without shape metadata: the forward pass says what does not fit
    shape = tuple(value.shape)
    wanted = ("batch", *spec.shape)
    if len(shape) != len(wanted):
        raise PrivacyInputError(
            f"{path}: the torch.export program takes inputs of shape {_shown(shape)}, but the input spec "
            f"({spec.kind}, layout {spec.layout}) gives (batch, {', '.join(map(str, spec.shape))}); check "
            "model.input in thresholds.yaml (kind and layout) or export the model on that input."
        )
    _check_batch(program, shape[0], path)
    for axis, (got, want) in enumerate(zip(shape[1:], spec.shape), start=1):
        if isinstance(got, int) and got != want:
            raise PrivacyInputError(
                f"{path}: the torch.export program fixes input axis {axis} at {got} (it was exported on inputs "
                f"of shape {_shown(shape)}), but the input spec gives {want} there (per example "
                f"{tuple(spec.shape)}: {spec.kind}, {spec.duration_s:g} s clips). Set model.input in "
                f"thresholds.yaml (duration_s for the time axis, n_mels for the mel bins) to what the program "
                "was exported on, or export it with that axis in dynamic_shapes."
            )


def _check_batch(program: Any, batch: Any, path: Path) -> None:
    if isinstance(batch, int):
        raise PrivacyInputError(
            f"{path}: the torch.export program fixes the batch size at {batch} (it was exported without "
            "dynamic_shapes, torch.export's default), but the audit runs it on batches of other sizes; "
            f"{REEXPORT}."
        )
    if not isinstance(batch, torch.SymInt):
        return
    bounds = program.range_constraints.get(batch.node.expr)
    lower, upper = _bound(getattr(bounds, "lower", None)), _bound(getattr(bounds, "upper", None))
    smallest, largest = NEEDED_BATCHES
    if (lower is not None and lower > smallest + 1) or (upper is not None and upper < largest):
        raise PrivacyInputError(
            f"{path}: the torch.export program takes batches of {lower} to {upper} only, but the audit runs it "
            f"on batches of {smallest} to audit.batch_size (at least {largest}); {REEXPORT}."
        )


def _bound(value: Any) -> int | None:
    """A finite range bound as an int; None for an infinite or missing one."""
    if value is None or not getattr(value, "is_finite", False):  # sympy's (int_)oo is not finite
        return None
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError, AttributeError):
        return None


def _shown(shape: tuple[Any, ...]) -> str:
    return "(" + ", ".join(str(size) if isinstance(size, int) else "dynamic" for size in shape) + ")"
