"""Layer outputs of T for a whole corpus: every requested layer from one forward pass, streamed
to a content-addressed disk cache (checkpoint x corpus x feature spec), then memory-mapped."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np

from .corpora import Corpus
from .features import FeatureSpec, extract
from .target import Target, representation

CACHE_VERSION = 1
INPUT_LAYER = "input"  # pseudo-layer: T's input features (the positive control's representation)

Progress = Callable[[int, int], None]


def cache_key(target: Target, corpus: Corpus, spec: FeatureSpec) -> str:
    blob = json.dumps(
        {"v": CACHE_VERSION, "model": target.fingerprint, "corpus": corpus.fingerprint, "features": spec.as_dict()},
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def feature_batches(corpus: Corpus, spec: FeatureSpec, batch_size: int) -> Iterator[tuple[int, "torch.Tensor"]]:
    """(offset, model-input batch) over the corpus in order."""
    utterances = corpus.utterances
    for start in range(0, len(utterances), batch_size):
        chunk = utterances[start : start + batch_size]
        waves = [corpus.read_audio(u, spec.sample_rate) for u in chunk]
        longest = max(spec.n_samples, max(len(w) for w in waves))
        batch = np.zeros((len(waves), longest), dtype=np.float32)
        for row, wave in enumerate(waves):
            batch[row, : len(wave)] = wave
        yield start, extract(spec, batch)


class EmbeddingStore:
    """Disk cache of layer outputs under `root/<key>/<layer>.npy`."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def folder(self, key: str) -> Path:
        return self.root / key

    def load(self, key: str, layer: str) -> np.ndarray | None:
        path = self.folder(key) / f"{layer}.npy"
        return np.load(path, mmap_mode="r") if path.is_file() else None


def layer_outputs(
    target: Target,
    corpus: Corpus,
    layers: Sequence[str],
    store: EmbeddingStore,
    *,
    batch_size: int = 32,
    device: str = "cpu",
    progress: Progress | None = None,
) -> dict[str, np.ndarray]:
    """Memory-mapped (N, *shape) float32 array per layer; missing layers computed in ONE pass."""
    key = cache_key(target, corpus, target.input_spec)
    cached = {layer: store.load(key, layer) for layer in layers}
    missing = [layer for layer, array in cached.items() if array is None]
    if missing:
        _forward_pass(target, corpus, missing, store.folder(key), batch_size, device, progress)
        cached.update({layer: store.load(key, layer) for layer in missing})
    return cached  # type: ignore[return-value]


def _forward_pass(target, corpus, layers, folder: Path, batch_size, device, progress) -> None:
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
    try:
        with torch.inference_mode():
            for offset, inputs in feature_batches(corpus, target.input_spec, batch_size):
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
                if progress:
                    progress(min(offset + len(inputs), total), total)
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
    """A .npy written batch by batch through a memmap (never all layers in RAM), renamed when complete."""

    def __init__(self, path: Path, shape: tuple[int, ...]):
        self.path = path
        self.tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        self.array = np.lib.format.open_memmap(self.tmp, mode="w+", dtype=np.float32, shape=shape)

    def write(self, offset: int, batch: np.ndarray) -> None:
        self.array[offset : offset + len(batch)] = batch

    def commit(self) -> None:
        self.array.flush()
        del self.array
        os.replace(self.tmp, self.path)

    def discard(self) -> None:
        self.tmp.unlink(missing_ok=True)
