"""Is a layer's output fit to train an attacker on? Checked where an attack reads the layer's rows,
before any training: an attacker must never learn from NaN/inf, nor from an output that is the
same for every utterance (it would report chance, a pass that measured nothing). A layer that
fails the check ends its items with status `error` and this reason (docs/design.md §3)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from privacy_checks.engine.corpora import TARGET
from privacy_checks.engine.representations import INPUT_LAYER, LayerOutputs

_CHUNK_BYTES = 32 << 20  # rows are read from the disk cache this many bytes at a time
# Outputs whose spread over utterances is at most this share of their magnitude count as constant
# (batching can move float32 results by a few ulps).
_CONSTANT_TOLERANCE = 1e-6


def row_problem(rows: np.ndarray, what: str) -> str | None:
    """Why `rows` ((N, *shape), one per utterance) cannot be attacked, in words naming `what`,
    or None when they can."""
    n = len(rows)
    if n == 0:
        return None
    row_bytes = max(1, int(np.prod(rows.shape[1:], dtype=np.int64)) * np.dtype(rows.dtype).itemsize)
    step = max(1, _CHUNK_BYTES // row_bytes)
    nan_rows = inf_rows = 0
    first_bad: int | None = None
    low = high = None
    for start in range(0, n, step):
        chunk = np.asarray(rows[start : start + step], dtype=np.float64).reshape(min(step, n - start), -1)
        nan = np.isnan(chunk).any(axis=1)
        inf = np.isinf(chunk).any(axis=1)
        nan_rows += int(nan.sum())
        inf_rows += int((inf & ~nan).sum())
        bad = np.flatnonzero(nan | inf)
        if first_bad is None and bad.size:
            first_bad = start + int(bad[0])
        finite = chunk[~(nan | inf)]
        if finite.size:
            low = finite.min(axis=0) if low is None else np.minimum(low, finite.min(axis=0))
            high = finite.max(axis=0) if high is None else np.maximum(high, finite.max(axis=0))
    if nan_rows or inf_rows:
        kinds = " and ".join(
            f"{kind} in {count} of {n} utterances" for kind, count in (("NaN", nan_rows), ("inf", inf_rows)) if count
        )
        return (
            f"{what} emits {kinds} (the first: utterance {first_bad} of the audited corpus): no attacker is trained "
            "on non-finite values, so this layer was not measured. What to do: find what overflows or divides by "
            "zero in T at this layer (a log or a normalisation of silence, a float16 overflow), or leave the "
            "layer out with audit.layers in thresholds.yaml if it is never transmitted"
        )
    if low is not None and high is not None:
        spread = float(np.max(high - low))
        scale = max(1.0, float(np.max(np.maximum(np.abs(low), np.abs(high)))))
        if spread <= _CONSTANT_TOLERANCE * scale:
            return (
                f"{what} emits the same output for all {n} utterances (a constant representation): an attacker "
                "would sit at chance without having measured anything, so this layer was not measured. What to do: "
                "check that the layer is connected to the input (a dead ReLU, a frozen or zeroed branch, a buffer "
                "read as an output), or leave it out with audit.layers in thresholds.yaml if it is never transmitted"
            )
    return None


class LayerChecks:
    """The check of each (corpus role, layer) an attack reads, memoised: every item reading the
    same rows shares one pass over them."""

    def __init__(self, outputs: LayerOutputs):
        self.outputs = outputs
        self._problems: dict[tuple[str, str], str | None] = {}

    def problem(self, layer: str, roles: Sequence[str]) -> str | None:
        """Why `layer` (or T's input features, which the controls read) cannot be attacked on the
        corpora of `roles`, or None. Input problems are reported first: they spoil every item."""
        for name in (INPUT_LAYER, layer):
            for role in roles:
                key = (role, name)
                if key not in self._problems:
                    what = "T's input features" if name == INPUT_LAYER else f"layer {name}"
                    corpus = "" if role == TARGET else " on the auxiliary corpus"
                    self._problems[key] = row_problem(self.outputs[role][name], what + corpus)
                if self._problems[key]:
                    return self._problems[key]
        return None
