"""Layer outputs of T for a whole corpus: every requested layer from one forward pass, streamed
to a content-addressed disk cache (checkpoint x corpus x feature spec), then read row by row.

Neither side maps a whole layer into memory: writes append batch after batch, and reads fetch only
the rows a training batch needs, so memory stays flat however large the corpus (a memory map would
keep every page it ever touched resident).

Each layer is stored batch-first: its output is moved by its layout (``Target.layouts``) so that the
batch axis is 0, the other axes in the layer's own order ((T, B, D) -> (N, T, D); an output
(layers, B, H) -> (N, layers, H)); ``LayerOutputs.layout`` is the stored rows' layout and
``LayerOutputs.rows`` hands them to an attacker in the order its head reads. A layer that cannot be
read (no tensor, its batch axis not following the batch, its shape changing between batches,
non-finite values) is not stored: its problem is kept, naming the layer, and its own items raise
``UnreadableLayer``; the other layers are unaffected."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import cast

import numpy as np

from privacy_checks import cache_seal, progress
from privacy_checks.attackers.head_layout import batch_first, in_head_order
from privacy_checks.data import Corpus
from privacy_checks.engine.file_lock import locked
from privacy_checks.engine.forward_pass import Placement, feature_batches, forward_pass
from privacy_checks.engine.layer_rows import INPUT_LAYER, STATISTICS
from privacy_checks.engine.map_pooling import MAX_MAP_FRAMES, pooled_layers
from privacy_checks.engine.row_files import RowFile
from privacy_checks.features import FeatureSpec
from privacy_checks.model.layout import Layout
from privacy_checks.model.target import Target

__all__ = ["INPUT_LAYER", "EmbeddingStore", "LayerOutputs", "RowFile", "UnreadableLayer", "feature_batches"]

# 5: a layer whose time axis is unknown also gets statistics over each of its axes (model/spectra.py);
# 4: a TorchScript chain's and a custom input's layouts surveyed (their statistics and pooled maps
# follow the time axis); 3: an RNN on packed input stored as its padded per-frame outputs; 2: band spectrum
CACHE_VERSION = 5


class UnreadableLayer(Exception):
    """A layer's output could not be stored; the message names the layer and what to do."""


def cache_key(target: Target, corpus: Corpus, spec: FeatureSpec, max_map_frames: int = MAX_MAP_FRAMES) -> str:
    entry = {"v": CACHE_VERSION, "model": target.fingerprint, "corpus": corpus.fingerprint, "features": spec.key_dict()}
    if max_map_frames != MAX_MAP_FRAMES:  # the default's entries keep the key they had before the setting
        entry["max_map_frames"] = max_map_frames
    if target.layout_overrides:  # model.layouts moves the time axis the statistics and pooling run over
        entry["layouts"] = dict(target.layout_overrides)
    blob = json.dumps(entry, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


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
    max_map_frames: int = MAX_MAP_FRAMES,
    within: Corpus | None = None,
) -> dict[str, RowFile]:
    """An (N, *shape) float32 row reader per layer, batch-first (see the module doc); missing layers
    computed in ONE pass. With `statistics`, each layer's (N, features) per-channel statistics
    instead (spectra.probe_statistics: what the convex probe reads; a few KB per utterance
    where a whole map takes MBs). A layer that cannot be read is left out and its problem put in
    `problems` (layer -> message); without `problems` it raises UnreadableLayer. Maps longer than
    `max_map_frames` frames are stored average-pooled to that many (map_pooling). With `statistics`
    and `within` (a corpus of some of `corpus`'s clips, in its order: the budget's capped corpus),
    the statistics that `within`'s maps pass stored beside its maps (at variable length, or when a
    layer is pooled) are taken for its clips, and the forward pass runs over the other clips only."""
    key = cache_key(target, corpus, target.input_spec, max_map_frames)
    kind = STATISTICS if statistics else ""

    def load(layer: str) -> RowFile | None:
        rows = store.load(key, layer, kind)
        if rows is None or statistics or layer == INPUT_LAYER:
            return rows
        # a map stored whole before maps were bounded: recomputed, pooled
        time = batch_first(target.layout_of(layer, len(rows.shape))).time_axis
        return None if time is not None and rows.shape[time] > max_map_frames else rows

    cached = {layer: load(layer) for layer in layers}
    missing = [layer for layer, array in cached.items() if array is None]
    if missing:
        # Another process (a pytest-xdist worker) may be computing the same entry: one computes it
        # under the lock, the others wait and then read it from the cache.
        with locked(store.root / f"{key}.lock"):
            cached = {layer: load(layer) for layer in layers}
            missing = [layer for layer, array in cached.items() if array is None]
            if missing:
                folder = store.folder(key)
                placement = None
                if statistics and within is not None:
                    placement = _known_statistics(target, corpus, within, missing, store, max_map_frames)
                passed = corpus if placement is None else _part(corpus, placement.rows)
                found = forward_pass(
                    target, passed, missing, folder, batch_size, device, statistics, max_map_frames, placement
                )
                cached.update({layer: store.load(key, layer, kind) for layer in missing})
                if found and problems is None:
                    raise UnreadableLayer("; ".join(found.values()))
                if problems is not None:
                    problems.update(found)
    return {layer: rows for layer, rows in cached.items() if rows is not None}


def _known_statistics(
    target: Target, corpus: Corpus, within: Corpus, layers: Sequence[str], store: EmbeddingStore, max_map_frames: int
) -> Placement | None:
    """The statistics of `within`'s clips stored by its maps pass, placed at their rows of `corpus`;
    None when some layer's are not stored or `within` is not a part of `corpus` in its order."""
    rows: list[int] = []
    taken = 0
    for row, utterance in enumerate(corpus.utterances):
        if taken < len(within) and utterance == within.utterances[taken]:
            rows.append(row)
            taken += 1
    if taken < len(within) or taken == len(corpus):
        return None
    key = cache_key(target, within, target.input_spec, max_map_frames)
    known = {layer: store.load(key, layer, STATISTICS) for layer in layers}
    if any(stored is None or len(stored) != len(within) for stored in known.values()):
        return None
    known_rows = np.asarray(rows, dtype=np.int64)
    rest = np.setdiff1d(np.arange(len(corpus)), known_rows)
    arrays = {f"{layer}{STATISTICS}": np.asarray(stored) for layer, stored in known.items()}
    return Placement(rest, len(corpus), known_rows, arrays)


def _part(corpus: Corpus, rows: np.ndarray) -> Corpus:
    """`corpus`'s clips at `rows` (its fingerprint kept: the LLD file cache keys generated audio by it)."""
    utterances = tuple(corpus.utterances[int(row)] for row in rows)
    return dataclasses.replace(corpus, utterances=utterances, name=f"{corpus.name} (beyond the budget's cap)")


class LayerOutputs:
    """T's outputs at every audited layer (and its input features) per corpus role, each corpus
    from one forward pass or the disk cache, computed once per audit."""

    def __init__(
        self,
        target: Target,
        layers: Sequence[str],
        store: EmbeddingStore,
        batch_size: int,
        device: str,
        max_map_frames: int = MAX_MAP_FRAMES,
    ):
        self.target = target
        self.max_map_frames = max_map_frames
        self._pooled: dict[str, int] | None = None
        self.layers = [INPUT_LAYER, *layers]
        self.store = store
        self.batch_size = batch_size
        self.device = device
        # RowFile reads rows on demand and stands in for an (N, *shape) array (shape, len, row
        # indexing, __array__): the attackers take it as one.
        self._by_role: dict[str, dict[str, np.ndarray]] = {}
        self._statistics: dict[str, dict[str, np.ndarray]] = {}  # role -> layer -> (N, features)
        self._problems: dict[str, str] = {}  # layer -> why it could not be read (in which corpus)
        self._corpora: dict[str, Corpus] = {}  # role -> the corpus of its maps

    def prepare(self, corpora: Sequence[tuple[str, Corpus]], statistics: bool = False) -> None:
        """Each role's layers from one forward pass (or the cache); with `statistics`, only their
        per-channel statistics (`statistics(role, layer)`), for the uncapped corpora: the clips of
        the role's maps (the capped corpus) keep the statistics their maps pass stored, when it did."""
        kept = self._statistics if statistics else self._by_role
        for role, corpus in corpora:
            if not statistics:
                self._corpora.setdefault(role, corpus)
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
                        max_map_frames=self.max_map_frames,
                        within=self._corpora.get(role) if statistics else None,
                    )
                    kept[role] = cast("dict[str, np.ndarray]", rows)
                    for layer, problem in problems.items():
                        self._problems.setdefault(layer, f"{problem} (forward pass over the {what})")

    def pooled(self, layer: str) -> int | None:
        """`layer`'s native frames at duration_s when its stored maps are pooled to max_map_frames
        (map_pooling), else None: known from the layer shapes, before any forward pass."""
        if self._pooled is None:
            self._pooled = pooled_layers(self.target, self.layers[1:], self.max_map_frames)
        return self._pooled.get(layer)

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
        return batch_first(self.target.layout_of(layer, len(self.stored_shape(layer))))

    def stored_shape(self, layer: str) -> tuple[int, ...]:
        """The shape of `layer`'s stored rows (batch on axis 0), on any corpus."""
        return tuple(next(rows[layer] for rows in self._by_role.values() if layer in rows).shape)

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
