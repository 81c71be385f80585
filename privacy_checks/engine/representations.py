"""Layer outputs of T for a whole corpus: every requested layer from one forward pass, streamed
to a content-addressed disk cache (checkpoint x corpus x feature spec), then read row by row.

Neither side maps a whole layer into memory: writes append batch after batch, and reads fetch only
the rows a training batch needs, so memory stays flat however large the corpus (a memory map would
keep every page it ever touched resident)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, cast

import numpy as np

from privacy_checks import progress
from privacy_checks.data import Corpus
from privacy_checks.features import FeatureSpec, extract
from privacy_checks.model.target import Target, representation

if TYPE_CHECKING:
    import torch

CACHE_VERSION = 1
INPUT_LAYER = "input"  # pseudo-layer: T's input features (the positive control's representation)


def cache_key(target: Target, corpus: Corpus, spec: FeatureSpec) -> str:
    blob = json.dumps(
        {"v": CACHE_VERSION, "model": target.fingerprint, "corpus": corpus.fingerprint, "features": spec.as_dict()},
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
    features = json.dumps(spec.as_dict(), sort_keys=True)
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
            if path.is_file():
                rows.append(torch.from_numpy(np.load(path)))
                continue
            row = extract(spec, corpus.read_audio(utterance, spec.sample_rate)[None])[0]
            tmp = path.with_suffix(f".{os.getpid()}.tmp.npy")
            np.save(tmp, row.numpy())
            os.replace(tmp, path)
            rows.append(row)
        yield start, torch.stack(rows)


class EmbeddingStore:
    """Disk cache of layer outputs under `root/<key>/<layer>.npy`."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def folder(self, key: str) -> Path:
        return self.root / key

    def load(self, key: str, layer: str) -> RowFile | None:
        path = self.folder(key) / f"{layer}.npy"
        return RowFile(path) if path.is_file() else None


def layer_outputs(
    target: Target,
    corpus: Corpus,
    layers: Sequence[str],
    store: EmbeddingStore,
    *,
    batch_size: int = 32,
    device: str = "cpu",
) -> dict[str, RowFile]:
    """An (N, *shape) float32 row reader per layer; missing layers computed in ONE pass."""
    key = cache_key(target, corpus, target.input_spec)
    cached = {layer: store.load(key, layer) for layer in layers}
    missing = [layer for layer, array in cached.items() if array is None]
    if missing:
        # Another process (a pytest-xdist worker) may be computing the same entry: one computes it
        # under the lock, the others wait and then read it from the cache.
        with _locked(store.root / f"{key}.lock"):
            cached = {layer: store.load(key, layer) for layer in layers}
            missing = [layer for layer, array in cached.items() if array is None]
            if missing:
                _forward_pass(target, corpus, missing, store.folder(key), batch_size, device)
                cached.update({layer: store.load(key, layer) for layer in missing})
    return cached  # type: ignore[return-value]


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

    def prepare(self, corpora: Sequence[tuple[str, Corpus]]) -> None:
        for role, corpus in corpora:
            if role not in self._by_role:
                with progress.step(f"{role} corpus"):
                    rows = layer_outputs(
                        self.target, corpus, self.layers, self.store, batch_size=self.batch_size, device=self.device
                    )
                    self._by_role[role] = cast("dict[str, np.ndarray]", rows)

    def __getitem__(self, role: str) -> dict[str, np.ndarray]:
        return self._by_role[role]


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


def _forward_pass(target, corpus, layers, folder: Path, batch_size, device) -> None:
    import torch

    folder.mkdir(parents=True, exist_ok=True)
    module = target.module.to(device)
    wanted = set(layers)
    unknown = wanted - {n for n, _ in module.named_modules()} - {INPUT_LAYER}
    if unknown:  # checked before any hook is registered: none may stay on the module
        raise KeyError(f"layers not in the model: {sorted(unknown)}")
    captured: dict[str, torch.Tensor] = {}
    handles = []
    for name, child in module.named_modules():
        if name in wanted:
            handles.append(child.register_forward_hook(_capture_into(captured, name)))
    writers: dict[str, _StreamedArray] = {}
    total = len(corpus)
    progress.update("forward pass", 0, total, "utterances")
    try:
        with torch.inference_mode():
            for offset, inputs in feature_batches(
                corpus, target.input_spec, batch_size, folder.parent.parent / "features"
            ):
                captured.clear()
                inputs = inputs.to(device)
                if INPUT_LAYER in wanted:
                    captured[INPUT_LAYER] = inputs
                module(inputs)
                for layer in layers:
                    batch = captured[layer].detach().float().cpu().numpy()
                    if layer not in writers:
                        writers[layer] = _StreamedArray(folder / f"{layer}.npy", (total, *batch.shape[1:]))
                    writers[layer].write(offset, batch)
                progress.update("forward pass", min(offset + len(inputs), total), total, "utterances")
        for writer in writers.values():
            writer.commit()
    finally:
        for handle in handles:
            handle.remove()
        for writer in writers.values():
            writer.discard()


def _capture_into(store: dict, name: str):
    def hook(_module, _inputs, output):
        tensor = representation(output)
        # A copy: a later in-place op (e.g. ReLU(inplace=True)) would otherwise overwrite this output.
        store[name] = None if tensor is None else tensor.detach().clone()

    return hook


class _StreamedArray:
    """A .npy written batch by batch in row order, renamed into place when complete."""

    def __init__(self, path: Path, shape: tuple[int, ...]):
        self.path = path
        self.tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        self.rows = 0
        self.file = open(self.tmp, "wb")  # noqa: SIM115 -- open across writes; commit/discard close it
        header = {"descr": np.lib.format.dtype_to_descr(np.dtype(np.float32)), "fortran_order": False, "shape": shape}
        np.lib.format.write_array_header_2_0(self.file, header)

    def write(self, offset: int, batch: np.ndarray) -> None:
        assert offset == self.rows, "batches arrive in corpus order"
        self.file.write(np.ascontiguousarray(batch, dtype=np.float32).tobytes())
        self.rows += len(batch)

    def commit(self) -> None:
        self.file.close()
        os.replace(self.tmp, self.path)

    def discard(self) -> None:
        self.file.close()
        self.tmp.unlink(missing_ok=True)


class RowFile:
    """Read-only rows of a C-order .npy file: ``rows[indices]`` reads just those rows from disk."""

    def __init__(self, path: Path):
        self.path = Path(path)
        with open(self.path, "rb") as fh:
            version = np.lib.format.read_magic(fh)
            read_header = (
                np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            )
            shape, fortran, dtype = read_header(fh)
            self.offset = fh.tell()
        if fortran:
            raise ValueError(f"{path}: Fortran-order arrays are not supported")
        self.shape = tuple(shape)
        self.dtype = np.dtype(dtype)
        self.row_bytes = int(np.prod(self.shape[1:], dtype=np.int64)) * self.dtype.itemsize

    def __len__(self) -> int:
        return self.shape[0]

    @property
    def nbytes(self) -> int:
        return self.row_bytes * self.shape[0]

    def __getitem__(self, index) -> np.ndarray:
        rows = np.arange(self.shape[0])[index]
        if np.ndim(rows) == 0:
            return self[np.array([rows])][0]
        out = np.empty((len(rows), *self.shape[1:]), dtype=self.dtype)
        with open(self.path, "rb") as fh:
            start = 0
            while start < len(rows):  # one read per run of consecutive rows
                end = start + 1
                while end < len(rows) and rows[end] == rows[end - 1] + 1:
                    end += 1
                fh.seek(self.offset + int(rows[start]) * self.row_bytes)
                chunk = fh.read((end - start) * self.row_bytes)
                out[start:end] = np.frombuffer(chunk, dtype=self.dtype).reshape(end - start, *self.shape[1:])
                start = end
        return out

    def __array__(self, dtype=None, copy=None):
        array = self[:]
        return array if dtype is None else array.astype(dtype)
