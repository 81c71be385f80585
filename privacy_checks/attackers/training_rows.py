"""A layer's rows where an attacker trains on them: held on the device when they fit, else read per batch.

A head trains for tens of epochs over the same rows. Reading each mini-batch from the disk cache
and copying it to the device made per-step overhead the cost (the GPU idled, the CPU copied), so
a training set that fits is loaded once as one float32 tensor on the device and batches are
indexed there. Only a set larger than the budget is streamed batch by batch from its array (a
`RowFile` reads just the rows asked for), which keeps memory flat for any corpus size.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

# Rows held in host memory when the set is at most this big (W's widest capped layer is ~70 MB at the
# standard budget; a whole uncapped IEMOCAP layer of a wav2vec2-base is several GB and streams).
# Training keeps a standardised copy beside them: twice this at most.
RESIDENT_BYTES_CPU = 512 * 2**20
GPU_SHARE = 0.3  # of the device memory free at load time (a standardised copy sits beside the rows)


class TrainingRows:
    """Rows of an (N, ...) array-like, taken by index as float32 tensors on `device`."""

    def __init__(self, source: Any, device: str, resident: torch.Tensor | None):
        self.source = source
        self.device = device
        self.resident = resident
        self.shape = tuple(source.shape)

    def __len__(self) -> int:
        return self.shape[0]

    def take(self, indices: np.ndarray) -> torch.Tensor:
        if self.resident is not None:
            return self.resident[torch.as_tensor(np.asarray(indices, dtype=np.int64), device=self.resident.device)]
        return torch.from_numpy(np.asarray(self.source[np.asarray(indices)], dtype=np.float32)).to(self.device)


def training_rows(x: Any, device: str) -> TrainingRows:
    """`x` where training reads it: resident on `device` when it fits the budget, else streamed.
    Already-made TrainingRows pass through."""
    if isinstance(x, TrainingRows):
        return x
    nbytes = int(np.prod(x.shape, dtype=np.int64)) * 4
    if nbytes > _budget(device):
        return TrainingRows(x, device, None)
    everything = np.asarray(x[np.arange(len(x))] if not isinstance(x, np.ndarray) else x, dtype=np.float32)
    return TrainingRows(x, device, torch.from_numpy(np.ascontiguousarray(everything)).to(device))


def computed_rows(rows: TrainingRows, function: torch.nn.Module) -> TrainingRows:
    """`function` applied to every row, kept resident: the input of the trainable part of a head whose
    leading part is fixed (no parameters, no randomness), computed once instead of every epoch."""
    values = computed_values(rows, function, np.arange(len(rows)))
    return TrainingRows(values, rows.device, values)


def computed_values(
    rows: TrainingRows, function: torch.nn.Module, indices: np.ndarray, batch: int = 256
) -> torch.Tensor:
    """`function` of the rows at `indices`, batch by batch. (no_grad, not inference_mode: the values
    may be a later graph's inputs.)"""
    parts = []
    with torch.no_grad():
        for start in range(0, len(indices), batch):
            parts.append(function(rows.take(indices[start : start + batch])))
    return torch.cat(parts) if parts else torch.zeros((0,), device=rows.device)


def _budget(device: str) -> int:
    if device.startswith("cuda") and torch.cuda.is_available():
        free, _total = torch.cuda.mem_get_info(torch.device(device))
        return int(free * GPU_SHARE)
    return RESIDENT_BYTES_CPU
