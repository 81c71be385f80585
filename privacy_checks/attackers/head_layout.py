"""Layer outputs in the order the generic heads read them, whatever the layer's own layout.

The forward pass stores each layer batch-first with its other axes in the layer's own order (a
Conv1d output as (N, C, T), a ``batch_first=False`` transformer block as (N, T, D)). The generic
heads, their standardiser and the intercept shape adapter read per-example (T, D) sequences and
(C, F, T) maps (``heads.channel_axes``, ``TimeSummary``, ``reshape_to``), so a layer with a time
axis reaches them permuted into that order: a Conv1d's (C, T) as (T, C), a (T, C, F) map as
(C, F, T). A layer without a time axis keeps its order (nothing to move), and one with several
feature axes and no time (a pooled map, (C, 1)) is read flat, as the vector it is: in the heads' order
an axis of rank 3 is time, and a time summary over its C "frames" kept two numbers of C. T's own tail
clone continues T's forward pass and reads the NATIVE order instead.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from privacy_checks.model.layout import Layout

__all__ = ["PermutedRows", "batch_first", "head_order", "head_shape", "in_head_order"]


def batch_first(layout: Layout) -> Layout:
    """The layout of a layer's output once its batch axis is moved to 0 (the others keep their
    order), i.e. of the rows the forward pass stores."""

    def moved(axis: int) -> int:
        return axis + 1 if axis < layout.batch_axis else axis

    time = None if layout.time_axis is None else moved(layout.time_axis)
    features = tuple(moved(axis) for axis in layout.feature_axes)
    return Layout(0, time, features, evidence=layout.evidence, refusal=layout.refusal)


def head_order(rows: Layout) -> tuple[int, ...]:
    """The permutation of stored rows (batch on axis 0) to the heads' order: (N, T, D) for one
    feature axis, (N, *features, T) for more; the identity without a time axis."""
    if rows.batch_axis != 0:
        raise ValueError(f"rows have their batch on axis 0, not {rows.batch_axis} (use batch_first)")
    if rows.time_axis is None:
        return tuple(range(rows.rank))
    if len(rows.feature_axes) == 1:
        return (0, rows.time_axis, *rows.feature_axes)
    return (0, *rows.feature_axes, rows.time_axis)


def read_flat(rows: Layout) -> bool:
    """Whether rows laid out as `rows` reach the heads as vectors: no time axis, several feature axes."""
    return rows.time_axis is None and len(rows.feature_axes) > 1


def head_shape(shape: tuple[int, ...], rows: Layout) -> tuple[int, ...]:
    """A per-example shape (batch dropped) of rows with layout `rows`, in the heads' order."""
    if read_flat(rows):
        return (int(np.prod(shape)),)
    whole = (0, *shape)
    return tuple(whole[axis] for axis in head_order(rows)[1:])


class PermutedRows:
    """Rows of an (N, ...) array-like read through an axis permutation (axis 0 stays): stands in
    for the array wherever the attackers take one (shape, len, row indexing, ``np.asarray``)."""

    def __init__(self, rows: Any, order: tuple[int, ...], flat: bool = False):
        if order[0] != 0:
            raise ValueError("a row permutation keeps the rows on axis 0")
        self.rows = rows
        self.order = order
        self.flat = flat  # each row then read as one vector (read_flat)
        shape = tuple(rows.shape[axis] for axis in order)
        self.shape = (shape[0], int(np.prod(shape[1:]))) if flat else shape
        self.dtype = rows.dtype

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def nbytes(self) -> int:
        return int(self.rows.nbytes)

    def __getitem__(self, index: Any) -> np.ndarray:
        block = np.asarray(self.rows[index])
        if block.ndim == len(self.order):
            moved = np.ascontiguousarray(block.transpose(self.order))
            return moved.reshape(len(moved), -1) if self.flat else moved
        one = np.ascontiguousarray(block.transpose(tuple(axis - 1 for axis in self.order[1:])))  # one row
        return one.reshape(-1) if self.flat else one

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        array = self[:]
        return array if dtype is None else array.astype(dtype)


def in_head_order(rows: Any, layout: Layout) -> Any:
    """`rows` (batch on axis 0, laid out as `layout`) as the heads read them: the rows themselves
    when the order already fits (every conventional layout), else a PermutedRows view (flat: see
    read_flat)."""
    order = head_order(layout)
    flat = read_flat(layout)
    return rows if order == tuple(range(len(order))) and not flat else PermutedRows(rows, order, flat)
