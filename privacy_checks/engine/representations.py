"""Layer outputs of T for a whole corpus: every requested layer from one forward pass, streamed
to a content-addressed disk cache (checkpoint x corpus x feature spec), then read row by row.

Neither side maps a whole layer into memory: writes append batch after batch, and reads fetch only
the rows a training batch needs, so memory stays flat however large the corpus (a memory map would
keep every page it ever touched resident).

Each layer is stored batch-first: its output is moved by its layout (``Target.layouts``) so that the
batch axis is 0, the other axes in the layer's own order ((T, B, D) -> (N, T, D); an RNN's h_n
(layers, B, H) -> (N, layers, H)); ``LayerOutputs.layout`` is the stored rows' layout and
``LayerOutputs.rows`` hands them to an attacker in the order its head reads. A layer that cannot be
read (no tensor, its batch axis not following the batch, its shape changing between batches,
non-finite values) is not stored: its problem is kept, naming the layer, and its own items raise
``UnreadableLayer``; the other layers are unaffected."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple, cast

import numpy as np

from privacy_checks import cache_seal, progress
from privacy_checks.attackers.head_layout import batch_first, in_head_order
from privacy_checks.data import Corpus
from privacy_checks.engine.layer_rows import (
    DECLARE,
    INPUT_LAYER,
    STATISTICS,
    batch_first_rows,
    capture_into,
    statistics_rows,
)
from privacy_checks.engine.length_batches import ClipBatch, ClipReader
from privacy_checks.engine.row_files import RowFile, StreamedArray
from privacy_checks.features import FeatureSpec, extract
from privacy_checks.model.forward_errors import forward_errors
from privacy_checks.model.layers import conventional_layout
from privacy_checks.model.layout import Layout
from privacy_checks.model.target import Target

if TYPE_CHECKING:
    import torch

CACHE_VERSION = 2  # 2: a layer's statistics carry its band spectrum (model/spectra.py)


class UnreadableLayer(Exception):
    """A layer's output could not be stored; the message names the layer and what to do."""


def cache_key(target: Target, corpus: Corpus, spec: FeatureSpec) -> str:
    blob = json.dumps(
        {"v": CACHE_VERSION, "model": target.fingerprint, "corpus": corpus.fingerprint, "features": spec.key_dict()},
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


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


class EmbeddingStore:
    """Disk cache of layer outputs under `root/<key>/<layer>.npy`."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def folder(self, key: str) -> Path:
        return self.root / key

    def load(self, key: str, layer: str, kind: str = "") -> RowFile | None:
        """The entry's rows (`kind` STATISTICS: the per-utterance statistics), or None when absent or
        not sealed by this user (then recomputed)."""
        path = self.folder(key) / f"{layer}{kind}.npy"
        return RowFile(path) if cache_seal.is_sealed(path, f"{key}/{layer}{kind}") else None


def layer_outputs(
    target: Target,
    corpus: Corpus,
    layers: Sequence[str],
    store: EmbeddingStore,
    *,
    batch_size: int = 32,
    device: str = "cpu",
    problems: dict[str, str] | None = None,
    statistics: bool = False,
) -> dict[str, RowFile]:
    """An (N, *shape) float32 row reader per layer, batch-first (see the module doc); missing layers
    computed in ONE pass. With `statistics`, each layer's (N, features) per-channel statistics
    instead (layout.per_channel_statistics: what the convex probe reads; a few KB per utterance
    where a whole map takes MBs). A layer that cannot be read is left out and its problem put in
    `problems` (layer -> message); without `problems` it raises UnreadableLayer."""
    key = cache_key(target, corpus, target.input_spec)
    kind = STATISTICS if statistics else ""
    cached = {layer: store.load(key, layer, kind) for layer in layers}
    missing = [layer for layer, array in cached.items() if array is None]
    if missing:
        # Another process (a pytest-xdist worker) may be computing the same entry: one computes it
        # under the lock, the others wait and then read it from the cache.
        with _locked(store.root / f"{key}.lock"):
            cached = {layer: store.load(key, layer, kind) for layer in layers}
            missing = [layer for layer, array in cached.items() if array is None]
            if missing:
                found = _forward_pass(target, corpus, missing, store.folder(key), batch_size, device, statistics)
                cached.update({layer: store.load(key, layer, kind) for layer in missing})
                if found and problems is None:
                    raise UnreadableLayer("; ".join(found.values()))
                if problems is not None:
                    problems.update(found)
    return {layer: rows for layer, rows in cached.items() if rows is not None}


class LayerOutputs:
    """T's outputs at every audited layer (and its input features) per corpus role, each corpus
    from one forward pass or the disk cache, computed once per audit."""

    def __init__(self, target: Target, layers: Sequence[str], store: EmbeddingStore, batch_size: int, device: str):
        self.target = target
        self.layers = [INPUT_LAYER, *layers]
        self.store = store
        self.batch_size = batch_size
        self.device = device
        # RowFile reads rows on demand and stands in for an (N, *shape) array (shape, len, row
        # indexing, __array__): the attackers take it as one.
        self._by_role: dict[str, dict[str, np.ndarray]] = {}
        self._statistics: dict[str, dict[str, np.ndarray]] = {}  # role -> layer -> (N, features)
        self._problems: dict[str, str] = {}  # layer -> why it could not be read (in which corpus)

    def prepare(self, corpora: Sequence[tuple[str, Corpus]], statistics: bool = False) -> None:
        """Each role's layers from one forward pass (or the cache); with `statistics`, only their
        per-channel statistics (`statistics(role, layer)`), for the uncapped corpora."""
        kept = self._statistics if statistics else self._by_role
        for role, corpus in corpora:
            if role not in kept:
                what = f"{role} corpus, every utterance" if statistics else f"{role} corpus"
                with progress.step(what):
                    problems: dict[str, str] = {}
                    rows = layer_outputs(
                        self.target,
                        corpus,
                        self.layers[1:] if statistics else self.layers,  # the probe reads no input
                        self.store,
                        batch_size=self.batch_size,
                        device=self.device,
                        problems=problems,
                        statistics=statistics,
                    )
                    kept[role] = cast("dict[str, np.ndarray]", rows)
                    for layer, problem in problems.items():
                        self._problems.setdefault(layer, f"{problem} (forward pass over the {what})")

    def statistics(self, role: str, layer: str) -> np.ndarray | None:
        """`layer`'s per-channel statistics on the uncapped `role` corpus, if prepared."""
        return self._statistics.get(role, {}).get(layer)

    def __getitem__(self, role: str) -> dict[str, np.ndarray]:
        """Layer -> its stored rows (batch-first, the layer's own order of the other axes)."""
        return self._by_role[role]

    def problem(self, layer: str) -> str | None:
        """Why `layer` could not be read, naming it and what to do; None when it was read."""
        return self._problems.get(layer)

    def layout(self, layer: str) -> Layout:
        """The layout of `layer`'s stored rows (batch on axis 0; one example: drop axis 0)."""
        stored = next(rows[layer] for rows in self._by_role.values() if layer in rows)
        if layer == INPUT_LAYER:
            return conventional_layout(len(stored.shape), "T's input")
        return batch_first(self.target.layout_of(layer, len(stored.shape)))

    def native_batch_axis(self, layer: str) -> int:
        """Where `layer`'s own output has its batch (the stored rows have it on axis 0)."""
        stored = next(rows[layer] for rows in self._by_role.values() if layer in rows)
        return self.target.layout_of(layer, len(stored.shape)).batch_axis

    def rows(self, role: str, layer: str, native: bool = False) -> np.ndarray:
        """`layer`'s rows on the `role` corpus in the order the generic heads read ((T, D)
        sequences, (C, F, T) maps: see attackers/head_layout.py), or with `native` in the layer's
        own order (T's tail clone continues T's forward pass)."""
        stored = self._by_role[role][layer]
        return stored if native else cast("np.ndarray", in_head_order(stored, self.layout(layer)))


@contextlib.contextmanager
def _locked(path: Path):
    """An exclusive advisory lock on `path` (fcntl; where there is none, no lock is taken)."""
    try:
        import fcntl
    except ImportError:
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            # Leave no lock file behind. A process that opened the old file before the unlink then
            # holds a lock nobody else sees: at worst it recomputes an entry, and writes are atomic.
            path.unlink(missing_ok=True)
            fcntl.flock(handle, fcntl.LOCK_UN)


def _forward_pass(target, corpus, layers, folder: Path, batch_size, device, statistics=False) -> dict[str, str]:
    """Every layer in `layers` stored batch-first under `folder` (with `statistics`, its per-channel
    statistics; at variable length, both); returns layer -> problem for those that could not be
    read (not stored)."""
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
    captured: dict[str, torch.Tensor] = {}
    handles = []
    for name, child in module.named_modules():
        if name in wanted:
            handles.append(child.register_forward_hook(capture_into(captured, name)))
    writers: dict[str, StreamedArray] = {}
    total = len(corpus)
    progress.update("forward pass", 0, total, "utterances")
    try:
        with torch.inference_mode():
            reader = ClipReader(target, module, captured, layers, device) if target.input_spec.variable_length else None
            done = 0
            for batch in (
                reader.batches(corpus, batch_size) if reader else _fixed_batches(corpus, target, batch_size, folder)
            ):
                captured.clear()
                clip = batch if isinstance(batch, ClipBatch) else None  # variable length
                inputs = batch.inputs.to(device)
                if INPUT_LAYER in wanted:
                    captured[INPUT_LAYER] = inputs
                first = int(batch.indices[0])
                shown = f"a batch of {len(inputs)} from utterance {first}, input shape {tuple(inputs.shape)}"
                with forward_errors(target.path, f"forward pass over the corpus, {shown}"):
                    reader.run(inputs, clip) if reader and clip else module(inputs)
                for layer in layers:
                    if layer in problems:
                        continue
                    if reader and clip:
                        reads = reader.read(layer, captured.get(layer), clip, statistics)
                    else:
                        read = batch_first_rows(target, layer, captured.get(layer), len(inputs), first)
                        if statistics and isinstance(read, np.ndarray):
                            read = statistics_rows(target, layer, read)
                        reads = {STATISTICS if statistics else "": read}
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
                        if clip:
                            writers[name].write_rows(batch.indices, read)
                        else:
                            writers[name].write(first, read)
                done += len(inputs)
                progress.update("forward pass", min(done, total), total, "utterances")
        for writer in writers.values():
            writer.commit()
    finally:
        for handle in handles:
            handle.remove()
        for writer in writers.values():
            writer.discard()
    return problems


def _fixed_batches(corpus: Corpus, target: Target, batch_size: int, folder: Path) -> Iterator[_FixedBatch]:
    """Clips cut or padded to duration_s, in corpus order (variable_length false)."""
    for offset, inputs in feature_batches(corpus, target.input_spec, batch_size, folder.parent.parent / "features"):
        yield _FixedBatch(np.arange(offset, offset + len(inputs)), inputs)


class _FixedBatch(NamedTuple):
    indices: np.ndarray
    inputs: torch.Tensor
