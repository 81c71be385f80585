"""One layer's captured output as stored rows: batch first by its layout, checked (a tensor, the
batch on its batch axis, finite values), or its per-channel statistics."""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

import numpy as np

from privacy_checks.attackers.head_layout import batch_first
from privacy_checks.model.layout import Layout
from privacy_checks.model.spectra import probe_statistics
from privacy_checks.model.target import INPUT_LAYER as INPUT_LAYER  # the engine's name for it, as before
from privacy_checks.model.target import Target, representation

STATISTICS = ".stats"  # the cache files of a layer's per-utterance statistics: "<layer>.stats.npy"
DECLARE = (
    "declare its layout in thresholds.yaml (model.layouts), or leave it out of audit.layers; "
    "`privacy-checks layers` shows the layouts found"
)
LEAVE_OUT = "leave it out of audit.layers in thresholds.yaml"


def batch_first_rows(
    target: Target, layer: str, tensor, indices: np.ndarray, layout: Layout | None = None
) -> np.ndarray | str:
    """A captured output as (examples, ...) float32 rows by its layout (`indices`: each example's
    corpus index), or what prevents it; with `layout` (the output's), non-finite values are left
    for the caller to find."""
    examples, offset = len(indices), int(indices[0])
    if tensor is None:
        return f"the forward pass gave it no tensor output (not called, or its output holds none); {LEAVE_OUT}"
    if layout is None:
        layout = target.layout_of(layer, tensor.dim())
        finite = True
    else:
        finite = False
    shape = tuple(tensor.shape)
    if tensor.dim() != layout.rank:
        return f"its output has {tensor.dim()} axes {shape} where its layout '{layout}' names {layout.rank}; {DECLARE}"
    if shape[layout.batch_axis] != examples:
        return (
            f"axis {layout.batch_axis} of its output {shape} should follow the batch ({examples} utterances "
            f"from {offset} on) but has {shape[layout.batch_axis]} entries; {DECLARE}"
        )
    rows = tensor.movedim(layout.batch_axis, 0).float().cpu().numpy()
    return non_finite(rows, np.asarray(indices)) if finite else rows


def non_finite(rows: np.ndarray, indices: np.ndarray) -> np.ndarray | str:
    """`rows`, or what is wrong when they hold NaN or inf (naming the first utterance's index)."""
    if np.isfinite(rows).all():
        return rows
    bad = int(indices[np.flatnonzero((~np.isfinite(rows.reshape(len(rows), -1))).any(axis=1))[0]])
    return (
        f"its output holds non-finite values (NaN or inf), first at utterance {bad}; fix what makes the model "
        f"emit them (an overflow, a log of zero, a division by zero), or {LEAVE_OUT}"
    )


def statistics_rows(target: Target, layer: str, rows: np.ndarray) -> np.ndarray:
    """Batch-first rows of `layer` -> what the probe reads of them (model/spectra.probe_statistics)."""
    import torch

    layout = batch_first(target.layout_of(layer, rows.ndim))
    return probe_statistics(torch.from_numpy(np.ascontiguousarray(rows)), layout).numpy()


Reads = dict  # cache-file kind ("" for maps, STATISTICS) -> rows of one batch, or the problem (str)
Reduce = Callable[[str, Any], Reads]


class Captures:
    """Forward hooks on `layers` of `module` that turn each output into what is stored (its
    statistics, its map rows: `reduce(layer, tensor)`) as soon as the layer emits it, before any
    later module runs: a later in-place op (ReLU(inplace=True)) cannot overwrite it, so nothing is
    cloned, and no layer's whole output outlives its reduction. Without a reducer only the shapes
    are kept (``shapes``). An exception inside a hook is raised again after the call, as ours."""

    def __init__(self, module, layers: Collection[str]):
        self.reduce: Reduce | None = None
        self.reads: dict[str, Reads] = {}
        self.shapes: dict[str, tuple[int, ...]] = {}
        self._error: BaseException | None = None
        self._handles = [
            child.register_forward_hook(self._hook(name)) for name, child in module.named_modules() if name in layers
        ]

    def _hook(self, name: str):
        def hook(_module, _inputs, output):
            tensor = representation(output)
            if tensor is not None:
                self.shapes[name] = tuple(tensor.shape)
            if self.reduce is not None and self._error is None:
                try:
                    self.reads[name] = self.reduce(name, tensor)
                except Exception as error:
                    self._error = error

        return hook

    def run(self, reduce: Reduce | None, call: Callable[[], Any]) -> None:
        """`call()` (the model on one batch) with each captured output reduced by `reduce`."""
        self.reads, self.shapes, self.reduce, self._error = {}, {}, reduce, None
        try:
            call()
        finally:
            self.reduce = None
        if self._error is not None:
            raise self._error

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()
