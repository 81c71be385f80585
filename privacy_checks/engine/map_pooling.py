"""Bounded layer maps: a stored map longer than ``audit.max_map_frames`` frames is average-pooled
over time to exactly that many frames, and the forward pass's batch is sized so that the outputs
captured in one batch stay under a memory budget.

Pooling windows are contiguous and of equal width ``T / max_map_frames`` frames (fractional edges:
a frame on an edge counts in both windows by the part it covers), so a fixed-length map's mean over
time is preserved exactly. At variable length a window averages the clip's valid frames only; a
window with none is zero, as the padding of a native map. A map within the limit is returned as it
is, byte for byte (the zoo's and the demo's maps, at most ~101 frames)."""

from __future__ import annotations

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
    out = np.empty((len(rows), limit, *moved.shape[2:]), dtype=np.float32)
    for row in range(len(rows)):  # one row at a time: float64 sums of one map, not of the batch
        sequence = moved[row].reshape(frames, -1).astype(np.float64)
        mask = np.ones(frames) if valid is None else (np.arange(frames) < int(valid[row])).astype(np.float64)
        sums = _window_sums(sequence * mask[:, None], edges)
        weights = _window_sums(mask[:, None], edges)
        pooled = np.divide(sums, weights, out=np.zeros_like(sums), where=weights > 0)
        out[row] = pooled.reshape(limit, *moved.shape[2:])
    return np.moveaxis(out, 1, time_axis)


def _window_sums(x: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """(frames, F) -> (windows, F): each window's sum between fractional frame positions `edges`."""
    frames = len(x)
    cumulative = np.concatenate([np.zeros((1, x.shape[1])), np.cumsum(x, axis=0)])
    whole = np.minimum(np.floor(edges).astype(np.int64), frames - 1)
    part = (edges - whole)[:, None]
    at = cumulative[whole] + part * x[whole]  # the integral of x from 0 to each edge
    return np.diff(at, axis=0)


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
