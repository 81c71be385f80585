"""One forward pass of T over a corpus: its batches (fixed length: clips cut or padded to
duration_s, in corpus order; variable length: length_batches), every requested layer's output
reduced in its hook to what is stored (layer_rows.Captures: statistics, map rows pooled to
audit.max_map_frames by map_pooling), streamed to the cache's row files."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from privacy_checks import cache_seal, progress
from privacy_checks.attackers.head_layout import batch_first
from privacy_checks.data import Corpus
from privacy_checks.engine.layer_rows import (
    DECLARE,
    INPUT_LAYER,
    STATISTICS,
    Captures,
    Reads,
    batch_first_rows,
    statistics_rows,
)
from privacy_checks.engine.length_batches import ClipBatch, ClipReader, shapes_at_duration, time_frames
from privacy_checks.engine.map_pooling import MAX_MAP_FRAMES, forward_batch_size, pooled_map
from privacy_checks.engine.row_files import StreamedArray
from privacy_checks.features import FeatureSpec, extract
from privacy_checks.model.forward_errors import forward_errors
from privacy_checks.model.target import Target

if TYPE_CHECKING:
    import torch


def feature_batches(
    corpus: Corpus, spec: FeatureSpec, batch_size: int, file_cache: Path | None = None
) -> Iterator[tuple[int, torch.Tensor]]:
    """(offset, model-input batch) over the corpus in order. With `file_cache`, LLD features
    (opensmile runs per file, the slow kind) are cached per audio file across models and runs."""
    if file_cache is not None and spec.kind == "lld":
        yield from _cached_lld_batches(corpus, spec, batch_size, file_cache)
        return
    utterances = corpus.utterances
    for start in range(0, len(utterances), batch_size):
        chunk = utterances[start : start + batch_size]
        waves = [corpus.read_audio(u, spec.sample_rate) for u in chunk]
        longest = max(spec.n_samples, max(len(w) for w in waves))
        batch = np.zeros((len(waves), longest), dtype=np.float32)
        for row, wave in enumerate(waves):
            batch[row, : len(wave)] = wave
        yield start, extract(spec, batch)


def _cached_lld_batches(corpus: Corpus, spec: FeatureSpec, batch_size: int, folder: Path):
    import torch

    folder.mkdir(parents=True, exist_ok=True)
    features = json.dumps(spec.key_dict(), sort_keys=True)
    utterances = corpus.utterances
    for start in range(0, len(utterances), batch_size):
        rows = []
        for utterance in utterances[start : start + batch_size]:
            if utterance.path is not None:  # a file: its path, size and mtime say whether it changed
                stat = os.stat(utterance.path)
                source = f"{utterance.path}|{stat.st_size}|{stat.st_mtime_ns}"
            else:  # generated audio: the corpus fingerprint covers its parameters
                source = f"{corpus.fingerprint}|{utterance.id}"
            path = folder / (hashlib.sha256(f"{source}|{features}".encode()).hexdigest()[:32] + ".npy")
            if cache_seal.is_sealed(path, path.name):
                rows.append(torch.from_numpy(np.load(path, allow_pickle=False)))
                continue
            row = extract(spec, corpus.read_audio(utterance, spec.sample_rate)[None])[0]
            tmp = path.with_suffix(f".{os.getpid()}.tmp.npy")
            np.save(tmp, row.numpy())
            cache_seal.place_sealed(tmp, path, path.name)
            rows.append(row)
        yield start, torch.stack(rows)


class Placement(NamedTuple):
    """Where a pass over part of a corpus writes: the corpus's row of each clip passed (`rows`), of
    `total`; the other rows (`known_rows`) are taken from files already stored (`known`: cache-file
    name -> rows in the order of `known_rows`), e.g. the statistics a maps pass stored."""

    rows: np.ndarray
    total: int
    known_rows: np.ndarray
    known: dict[str, np.ndarray]


def forward_pass(
    target,
    corpus,
    layers,
    folder: Path,
    batch_size,
    device,
    statistics=False,
    max_map_frames=MAX_MAP_FRAMES,
    placement: Placement | None = None,
) -> dict[str, str]:
    """Every layer in `layers` stored batch-first under `folder` (with `statistics`, its per-channel
    statistics; at variable length, both); returns layer -> problem for those that could not be
    read (not stored). Each output is reduced in its hook (layer_rows.Captures); maps longer than
    `max_map_frames` are pooled (map_pooling); the batch is at most `batch_size`, smaller when the
    layers' outputs on one batch would exceed map_pooling.CAPTURE_BUDGET_BYTES. With `placement`,
    `corpus` is part of the stored rows' corpus: see Placement."""
    import torch

    folder.mkdir(parents=True, exist_ok=True)
    if target.surveys_layers:
        target.survey()  # before any hook is registered and on the CPU: the survey runs the model itself
    module = target.module.to(device)
    wanted = set(layers)
    unknown = wanted - {n for n, _ in module.named_modules()} - {INPUT_LAYER}
    if unknown:  # checked before any hook is registered: none may stay on the module
        raise KeyError(f"layers not in the model: {sorted(unknown)}")
    problems: dict[str, str] = {}
    captures = Captures(module, wanted)
    writers: dict[str, StreamedArray] = {}
    total = len(corpus) if placement is None else placement.total
    already = 0 if placement is None else len(placement.known_rows)  # shown as done: rows of the corpus
    progress.update("forward pass", already, total, "utterances")
    try:
        with torch.inference_mode():
            shapes = shapes_at_duration(target, module, captures, device)
            batch_size = forward_batch_size(shapes, layers, batch_size)
            maps = [layer for layer in layers if layer != INPUT_LAYER]  # T's input is never pooled
            any_pooled = any(frames > max_map_frames for frames in time_frames(target, shapes, maps).values())
            variable = target.input_spec.variable_length
            reader = ClipReader(target, module, shapes, layers, max_map_frames) if variable else None
            done = already
            for batch in (
                reader.batches(corpus, batch_size) if reader else _fixed_batches(corpus, target, batch_size, folder)
            ):
                if placement is not None:  # the clips' rows in the stored rows' corpus
                    batch = _placed(batch, placement.rows)
                clip = batch if isinstance(batch, ClipBatch) else None  # variable length
                inputs = batch.inputs.to(device)
                first = int(batch.indices[0])

                def reduce(layer: str, tensor, indices=batch.indices, clip=clip) -> Reads:
                    if layer in problems:
                        return {}
                    if reader and clip:
                        return reader.read(layer, tensor, clip, statistics)
                    return _fixed_reads(target, layer, tensor, indices, statistics, max_map_frames, any_pooled)

                def call(inputs=inputs, first=first, clip=clip) -> None:
                    shown = f"a batch of {len(inputs)} from utterance {first}, input shape {tuple(inputs.shape)}"
                    with forward_errors(target.path, f"forward pass over the corpus, {shown}"):
                        reader.run(inputs, clip) if reader and clip else module(inputs)

                captures.run(reduce, call)
                for layer in layers:
                    if layer in problems:
                        continue
                    if layer == INPUT_LAYER:
                        reads = reduce(layer, inputs)
                    else:
                        reads = captures.reads.get(layer) or reduce(layer, None)
                    for kind, read in reads.items():
                        name = f"{layer}{kind}"
                        if (
                            isinstance(read, np.ndarray)
                            and name in writers
                            and read.shape[1:] != writers[name].row_shape
                        ):
                            read = (
                                f"its per-example shape changes between batches ({writers[name].row_shape} at "
                                f"first, {read.shape[1:]} from utterance {first} on); {DECLARE}"
                            )
                        if isinstance(read, str):
                            problems[layer] = f"layer '{layer}' cannot be read: {read}"
                            for stale in (layer, f"{layer}{STATISTICS}"):
                                if stale in writers:
                                    writers.pop(stale).discard()
                            break
                        if name not in writers:
                            # the entry's cache key and layer: what its seal covers
                            writers[name] = StreamedArray(
                                folder / f"{name}.npy", (total, *read.shape[1:]), f"{folder.name}/{name}"
                            )
                            if placement is not None:
                                known = placement.known[name]
                                assert known.shape[1:] == read.shape[1:], f"{name}: stored rows of another shape"
                                writers[name].write_rows(placement.known_rows, known)
                        if clip or placement is not None:
                            writers[name].write_rows(batch.indices, read)
                        else:
                            writers[name].write(first, read)
                done += len(inputs)
                progress.update("forward pass", min(done, total), total, "utterances")
        for writer in writers.values():
            writer.commit()
    finally:
        captures.remove()
        for writer in writers.values():
            writer.discard()
    return problems


def _fixed_reads(
    target, layer: str, tensor, indices: np.ndarray, statistics: bool, max_map_frames: int, with_statistics: bool
) -> Reads:
    """A fixed-length batch's output of `layer` (`indices`: its clips' corpus indices) as what is
    stored: its statistics, or its map rows (a copy: `tensor` is the model's own output; pooled when
    longer than `max_map_frames`), with `with_statistics` (some layer of the pass is pooled) its
    statistics beside them."""
    read = batch_first_rows(target, layer, tensor, indices)
    if isinstance(read, str):
        return {STATISTICS if statistics else "": read}
    if statistics:
        return {STATISTICS: statistics_rows(target, layer, read)}
    if layer == INPUT_LAYER:  # T's input whole: the intercept attackers train on it
        return {"": np.array(read)}
    time = batch_first(target.layout_of(layer, read.ndim)).time_axis
    pooled = pooled_map(read, time, max_map_frames)
    if not with_statistics:
        return {"": np.array(read) if pooled is read else pooled}
    # the statistics too, from the native output (a pooled map's spread over time is not the layer's):
    # the convex probe reads them when a layer is pooled, and its statistics pass over the same
    # corpus then finds them cached, as at variable length
    stats = statistics_rows(target, layer, read)
    return {"": np.array(read) if pooled is read else pooled, STATISTICS: stats}


def _fixed_batches(corpus: Corpus, target: Target, batch_size: int, folder: Path) -> Iterator[_FixedBatch]:
    """Clips cut or padded to duration_s, in corpus order (variable_length false)."""
    for offset, inputs in feature_batches(corpus, target.input_spec, batch_size, folder.parent.parent / "features"):
        yield _FixedBatch(np.arange(offset, offset + len(inputs)), inputs)


def _placed(batch: _FixedBatch | ClipBatch, rows: np.ndarray) -> _FixedBatch | ClipBatch:
    """`batch` with its clips' indices in a part of a corpus (Placement) mapped to the corpus's rows."""
    indices = rows[batch.indices]
    return (
        batch._replace(indices=indices)
        if isinstance(batch, _FixedBatch)
        else dataclasses.replace(batch, indices=indices)
    )


class _FixedBatch(NamedTuple):
    indices: np.ndarray
    inputs: torch.Tensor
