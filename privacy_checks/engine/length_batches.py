"""Clips at their own length (``model.input.variable_length``): batches of clips of similar length,
each padded to its longest, and what every layer's output holds of each clip.

Clips are read up to ``duration_s`` (now the longest read; longer clips are cut, with one
``ClipCutWarning`` per pass over a corpus naming how many and the longest). A window of
``WINDOW`` batches of clips is read at a time and ordered by length, so memory stays bounded and
padding small; each row is written at its corpus index whatever order the batches ran in.

A model that takes each clip's length (a ForwardAdapter whose call passes lengths or a mask) is
called as ``module(inputs, lengths)`` on padded batches. A model that takes none must not see
padding, so its batches hold clips of ONE length only: on real recordings, where lengths rarely
repeat, that is one clip per forward pass (slower: no batching; the results are exact).

A layer's time axis covers the padded batch; clip i's valid frames are
``ceil(T_layer * samples_i / samples_padded)`` (at least one): exact for layers whose frames
tile the input (a stride-s convolution with kernel s), the nearest whole frame otherwise.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from privacy_checks.attackers.head_layout import batch_first
from privacy_checks.data import Corpus
from privacy_checks.engine.layer_rows import INPUT_LAYER, STATISTICS, Captures, batch_first_rows, non_finite
from privacy_checks.engine.map_pooling import pooled_map
from privacy_checks.errors import PrivacyInputError, warn_or_refuse
from privacy_checks.features import FeatureSpec, extract, input_steps, input_time_axis
from privacy_checks.model.forward_call import takes_lengths
from privacy_checks.model.forward_errors import forward_errors
from privacy_checks.model.layout import Layout
from privacy_checks.model.spectra import probe_statistics
from privacy_checks.model.split_points import spec_input
from privacy_checks.model.target import Target

if TYPE_CHECKING:
    import torch
    from torch import nn

WINDOW = 8  # batches of clips read, then ordered by length, at a time


class ClipCutWarning(UserWarning):
    """Clips longer than model.input.duration_s were cut to it (variable_length)."""


@dataclass(frozen=True)
class ClipBatch:
    """Clips of one forward pass, zero-padded to the longest (`padded` samples)."""

    indices: np.ndarray  # the clips' corpus indices, row by row
    inputs: torch.Tensor  # (B, ...) model inputs of the padded batch
    samples: np.ndarray  # each clip's own samples (after the cut at duration_s)
    padded: int  # samples of the padded batch
    steps: torch.Tensor  # int64 (B,): each clip's valid steps along the input's time axis
    time_axis: int  # the input's time axis

    def frames(self, total: int) -> np.ndarray:
        """Each clip's valid frames on a time axis of `total` frames over the padded batch."""
        return np.clip(-(-total * self.samples // self.padded), 1, total)

    def __len__(self) -> int:
        return len(self.indices)


def clip_batches(
    corpus: Corpus, spec: FeatureSpec, batch_size: int, equal_lengths: bool, warn: bool = True
) -> Iterator[ClipBatch]:
    """The corpus in batches of at most `batch_size` clips ordered by length (within windows of
    WINDOW batches); with `equal_lengths`, only clips of one length share a batch. With `warn`, a
    ClipCutWarning at the end when clips were cut."""
    utterances = corpus.utterances
    cut: list[tuple[int, str]] = []
    window = max(1, batch_size) * WINDOW
    for start in range(0, len(utterances), window):
        waves = []
        for utterance in utterances[start : start + window]:
            wave = np.asarray(corpus.read_audio(utterance, spec.sample_rate), dtype=np.float32)
            if len(wave) > spec.n_samples:
                cut.append((len(wave), utterance.id))
                wave = wave[: spec.n_samples]
            waves.append(wave)
        order = sorted(range(len(waves)), key=lambda k: (len(waves[k]), k))
        for group in _groups(order, [len(w) for w in waves], batch_size, equal_lengths):
            yield _batch(spec, [waves[k] for k in group], start + np.asarray(group, dtype=np.int64))
    if cut and warn:
        samples, name = max(cut)
        _warn_cut(
            f"{len(cut)} of {len(utterances)} clips of {corpus.name} are longer than model.input.duration_s="
            f"{spec.duration_s:g} s and were cut to it (the longest: {name!r}, {samples / spec.sample_rate:.2f} s); "
            "raise model.input.duration_s in thresholds.yaml to read them whole"
        )


def _warn_cut(message: str) -> None:
    warn_or_refuse(ClipCutWarning(message), "raise duration_s", stacklevel=3)


def _groups(order: list[int], lengths: list[int], batch_size: int, equal_lengths: bool) -> Iterator[list[int]]:
    group: list[int] = []
    for k in order:
        if group and (len(group) == batch_size or (equal_lengths and lengths[k] != lengths[group[0]])):
            yield group
            group = []
        group.append(k)
    if group:
        yield group


def _batch(spec: FeatureSpec, waves: list[np.ndarray], indices: np.ndarray) -> ClipBatch:
    import torch

    samples = np.array([len(w) for w in waves], dtype=np.int64)
    padded = int(samples.max())
    if spec.kind == "logmel":
        padded = max(padded, spec.n_fft // 2 + 1)  # torch.stft's reflect padding needs this many
    batch = np.zeros((len(waves), padded), dtype=np.float32)
    for row, wave in enumerate(waves):
        batch[row, : len(wave)] = wave
    inputs = extract(spec, batch, n_samples=padded)
    axis = input_time_axis(spec, inputs.dim())
    if axis is None:
        raise PrivacyInputError(
            f"model.input.variable_length needs an input with a time axis; the {spec.kind} input of shape "
            f"{tuple(inputs.shape[1:])} per clip has none. Set variable_length: false in thresholds.yaml."
        )
    steps = [input_steps(spec, int(s), inputs.shape[axis], padded) for s in samples]
    return ClipBatch(indices, inputs, samples, padded, torch.tensor(steps, dtype=torch.int64), axis)


def input_layout(spec: FeatureSpec, rank: int) -> Layout:
    """The layout of a batch of model inputs with its time axis (input_time_axis) named."""
    time = input_time_axis(spec, rank)
    return Layout(0, time, tuple(a for a in range(1, rank) if a != time), evidence="the input spec")


def fitted(rows: np.ndarray, layout: Layout, frames: np.ndarray, length: int) -> np.ndarray:
    """Batch-first rows with each example's frames after its valid `frames` set to zero, and the
    time axis cut or zero-padded to `length` frames (the layer's frames at duration_s), so that a
    row does not depend on the batch it ran in; rows without a time axis, or with nothing to
    change, are returned as they are (not copied)."""
    axis = layout.time_axis
    if axis is None or (rows.shape[axis] == length and bool((np.asarray(frames) >= length).all())):
        return rows  # nothing to zero, cut or pad (every clip fills the batch): `rows` itself
    moved = np.moveaxis(rows, axis, 1)
    out = np.zeros((len(rows), length, *moved.shape[2:]), dtype=np.float32)
    for row, valid in enumerate(frames):
        keep = min(int(valid), length)
        out[row, :keep] = moved[row, :keep]
    return np.moveaxis(out, 1, axis)


class ClipReader:
    """The variable-length side of one forward pass (representations._forward_pass): its batches,
    the call, and each layer's rows: whole maps with the frames after a clip's valid ones zeroed and
    the time axis cut or padded to the layer's frames at duration_s (one shape for every row; the
    neural heads see those zeros), and per-channel statistics over the valid frames only."""

    def __init__(
        self,
        target: Target,
        module: nn.Module,
        shapes: dict[str, tuple[int, ...]],
        layers: list[str],
        max_map_frames: int,
    ):
        self.target = target
        self.spec = target.input_spec
        self.module = module
        self.passes_lengths = takes_lengths(module)
        self.max_map_frames = max_map_frames
        self.at_duration = time_frames(target, shapes, layers)

    def batches(self, corpus: Corpus, batch_size: int) -> Iterator[ClipBatch]:
        return clip_batches(corpus, self.spec, batch_size, equal_lengths=not self.passes_lengths)

    def run(self, inputs: torch.Tensor, batch: ClipBatch) -> None:
        if self.passes_lengths:
            self.module(inputs, batch.steps.to(inputs.device))
        else:
            self.module(inputs)

    def layout(self, layer: str, rank: int) -> Layout:
        """The layout of `layer`'s whole output (batch where the layer has it)."""
        return input_layout(self.spec, rank) if layer == INPUT_LAYER else self.target.layout_of(layer, rank)

    def read(self, layer: str, tensor, batch: ClipBatch, statistics: bool) -> dict[str, np.ndarray | str]:
        """Cache-file kind ("" for maps, STATISTICS) -> rows of `batch` (or the problem)."""
        import torch

        if tensor is None:
            return {"": batch_first_rows(self.target, layer, None, batch.indices)}
        native = self.layout(layer, tensor.dim())
        rows = batch_first_rows(self.target, layer, tensor, batch.indices, layout=native)
        if isinstance(rows, str):
            return {"": rows}
        stored = batch_first(native)
        time = stored.time_axis
        frames = None
        if time is not None:
            frames = batch.steps.numpy() if layer == INPUT_LAYER else self._frames(layer, batch, rows.shape[time])
            rows = fitted(rows, stored, frames, rows.shape[time])
        checked = non_finite(rows, batch.indices)  # padding may hold anything: only valid frames count
        if isinstance(checked, str):
            return {"": checked}
        out: dict[str, np.ndarray | str] = {}
        if layer != INPUT_LAYER:
            valid = None if frames is None else torch.from_numpy(frames)
            out[STATISTICS] = probe_statistics(torch.from_numpy(rows), stored, valid).numpy()
        if not statistics:
            length = self.at_duration.get(layer)
            if frames is None or length is None:
                out[""] = np.array(rows)  # a copy: without a time axis `rows` may be the model's output
            elif layer == INPUT_LAYER:  # T's input whole: the intercept attackers train on it
                out[""] = fitted(rows, stored, frames, length)
            else:
                whole = fitted(rows, stored, frames, length)
                out[""] = pooled_map(whole, time, self.max_map_frames, np.minimum(frames, length))
            if np.may_share_memory(out[""], rows):  # kept past the hook: never a view of the model's output
                out[""] = np.array(out[""])
        return out

    def _frames(self, layer: str, batch: ClipBatch, total: int) -> np.ndarray:
        """Each clip's valid frames at `layer` (`total` frames over the padded batch): the model's own
        count where it has one and it fits (its count for the padded length is `total`), else in
        proportion to the samples."""
        counts = self.target.frame_counts
        if counts is not None:
            exact = counts(layer, np.append(np.asarray(batch.samples), batch.padded))
            if exact is not None and int(exact[-1]) == total:
                return np.clip(exact[:-1], 1, total)
        return batch.frames(total)


def time_frames(target: Target, shapes: dict[str, tuple[int, ...]], layers: list[str]) -> dict[str, int]:
    """Each of `layers`' frames along its time axis, from its whole output's `shapes` on one clip of
    duration_s (shapes_at_duration): the length its stored maps are cut or padded to."""
    frames = {}
    for layer in layers:
        shape = shapes.get(layer)
        if shape is not None:
            rank = len(shape)
            layout = input_layout(target.input_spec, rank) if layer == INPUT_LAYER else target.layout_of(layer, rank)
            if layout.time_axis is not None and layout.rank == rank:
                frames[layer] = int(shape[layout.time_axis])
    return frames


def shapes_at_duration(
    target: Target, module: nn.Module, captures: Captures, device: str
) -> dict[str, tuple[int, ...]]:
    """The captured layers' (and the input's) whole output shapes on one clip of duration_s."""
    inputs = spec_input(target.input_spec)(1, target.input_spec.duration_s).to(device)

    def call() -> None:
        with forward_errors(target.path, f"forward pass on one clip of duration_s, input shape {tuple(inputs.shape)}"):
            module(inputs)

    captures.run(None, call)
    return {**captures.shapes, INPUT_LAYER: tuple(inputs.shape)}
