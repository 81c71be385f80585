"""Bounded layer maps: a stored map longer than ``audit.max_map_frames`` frames is average-pooled
over time to exactly that many frames, and the forward pass's batch is sized so that the outputs
captured in one batch stay under a memory budget.

Pooling windows are contiguous and of equal width ``T / max_map_frames`` frames (fractional edges:
a frame on an edge counts in both windows by the part it covers), so a fixed-length map's mean over
time is preserved exactly. At variable length a window averages the clip's valid frames only; a
window with none is zero, as the padding of a native map. A map within the limit is returned as it
is, byte for byte (the zoo's and the demo's maps, at most ~101 frames)."""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence

import numpy as np

from privacy_checks.model.target import Target

MAX_MAP_FRAMES = 256  # audit.max_map_frames's default
CAPTURE_BUDGET_BYTES = 256 * 2**20  # captured outputs of one forward-pass batch, at most (about)


def pooled_map(rows: np.ndarray, time_axis: int | None, limit: int, valid: np.ndarray | None = None) -> np.ndarray:
    """Batch-first `rows` with at most `limit` frames on `time_axis`: pooled when longer, else
    `rows` itself. `valid`: each row's valid frames (the first ones; the rest is padding)."""
    if time_axis is None or rows.shape[time_axis] <= limit:
        return rows
    moved = np.moveaxis(rows, time_axis, 1)
    frames = moved.shape[1]
    edges = np.arange(limit + 1, dtype=np.float64) * (frames / limit)
    edges[-1] = frames
    out = np.empty((len(rows), limit, *moved.shape[2:]), dtype=np.float32)
    for row in range(len(rows)):  # one row at a time: no float64 copy of the batch
        sequence = np.ascontiguousarray(moved[row].reshape(frames, -1), dtype=np.float32)
        count = frames if valid is None else int(min(max(valid[row], 0), frames))
        if count < frames:
            sequence = sequence.copy()
            sequence[count:] = 0
        weights = np.clip(np.minimum(edges[1:], count) - edges[:-1], 0, None)[:, None]
        sums = _window_sums(sequence, edges)
        pooled = np.divide(sums, weights, out=np.zeros_like(sums), where=weights > 0)
        out[row] = pooled.reshape(limit, *moved.shape[2:])
    return np.moveaxis(out, 1, time_axis)


def _window_sums(x: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """(frames, F) -> (windows, F) float64: each window's integral of x between the fractional
    frame positions `edges` (a frame cut by an edge counts by the part each side covers). Whole
    frames are summed from each window's first whole frame a_k = ceil(edge_k);
    then the part of frame a_k - 1 before a_k is added and the part of frame a_k+1 - 1 after the
    window's end taken off."""
    starts = np.ceil(edges).astype(np.int64)
    sums = np.empty((len(starts) - 1, *x.shape[1:]), dtype=np.float64)
    for window, (start, end) in enumerate(itertools.pairwise(starts)):  # 8x np.add.reduceat's speed
        sums[window] = x[start:end].sum(0, dtype=np.float64)
    before = (starts[:-1] - edges[:-1])[:, None] * x[np.maximum(starts[:-1] - 1, 0)]
    after = (starts[1:] - edges[1:])[:, None] * x[starts[1:] - 1]
    return sums + before - after


def map_frames(target: Target, layer: str) -> int | None:
    """`layer`'s frames on one clip of duration_s (its time axis), None without one."""
    shape = target.layer_shapes().get(layer)
    if shape is None:
        return None
    layout = target.layout_of(layer, len(shape) + 1)
    if layout.time_axis is None or layout.rank != len(shape) + 1:
        return None
    return int(shape[layout.time_axis - (layout.time_axis > layout.batch_axis)])


def pooled_layers(target: Target, layers: Sequence[str], limit: int) -> dict[str, int]:
    """The layers whose stored maps are pooled -> their native frames at duration_s."""
    found = {layer: map_frames(target, layer) for layer in layers}
    return {layer: frames for layer, frames in found.items() if frames is not None and frames > limit}


def forward_batch_size(
    shapes: Mapping[str, tuple[int, ...]], layers: Sequence[str], most: int, budget: int | None = None
) -> int:
    """The forward pass's batch: at most `most`, and small enough that the whole outputs of
    `layers` on one batch (`shapes`: each one's on one clip of duration_s, batch included), as
    their hooks see them before reducing them, stay under `budget` bytes (default
    CAPTURE_BUDGET_BYTES); at least 1."""
    budget = CAPTURE_BUDGET_BYTES if budget is None else budget
    per_example = sum(4 * math.prod(shapes[layer]) for layer in layers if layer in shapes)
    if per_example == 0:
        return most
    return max(1, min(most, budget // per_example))
