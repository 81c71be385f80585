"""Intercept access (the paper's protocol): the attacker's own full model, trained on raw input
features of its corpus (per fold on the target corpus, once on the auxiliary one), reads T's h_T
at the matching layer through a moment-matching adapter; at INPUT_LAYER it reads raw features (its
positive control). One trained model per fold serves every layer of an attack."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from privacy_checks import progress
from privacy_checks.attackers import build_head
from privacy_checks.attackers.head_layout import batch_first, head_shape
from privacy_checks.attackers.intercept import (
    Adapter,
    Injected,
    InsertionPoint,
    ModelCache,
    Moments,
    insertion_points,
    matching_point,
    own_moments,
    source_moments,
)
from privacy_checks.attackers.names import TAIL_CLONE
from privacy_checks.attackers.training import predict, train_attacker
from privacy_checks.config import AttackerSettings
from privacy_checks.engine.corpora import TARGET, AuditCorpora, TrainingData
from privacy_checks.engine.domain import Attack
from privacy_checks.engine.file_lock import locked
from privacy_checks.engine.representations import INPUT_LAYER, LayerOutputs
from privacy_checks.model.target import Target
from privacy_checks.seeds import fold_seed

# An attacker architecture: its head and output sizes (gender, or gender and emotions).
Architecture = tuple[str, tuple[int, ...]]


class InterceptAttack:
    def __init__(
        self,
        target: Target,
        corpora: AuditCorpora,
        outputs: LayerOutputs,
        settings: AttackerSettings,
        device: str,
        cache_dir: Path,
        base_checkpoint: Target | None,
    ):
        self.target = target
        self.corpora = corpora
        self.outputs = outputs
        self.settings = settings
        self.device = device
        self.base_checkpoint = base_checkpoint
        self._cache = ModelCache(cache_dir)  # trained models across runs
        self._models: dict[str, Any] = {}  # cache key -> trained model
        # Built once per architecture, not once per (fold, layer):
        self._reprs: dict[Architecture, str] = {}  # repr of a fresh model (it keys the cache)
        self._points: dict[Architecture, list[InsertionPoint]] = {}  # traced insertion points
        self._own_moments: dict[tuple[str, str], Moments] = {}  # (model key, insertion point)
        self._source_moments: dict[tuple[str, tuple[int, ...], bool], Moments] = {}  # (T's layer, to, native)

    def predictions(self, attack: Attack, data: TrainingData, layer: str, seed: int) -> np.ndarray:
        """Gender prediction per target utterance (with the emotion column when an
        application-aware attacker is cross-validated on the target corpus). `seed` is the
        attack's, not the case's: its models serve every layer."""
        raw = self.outputs[data.role][INPUT_LAYER]
        head, input_shape = attack.head, tuple(raw.shape[1:])
        make_head = self._head_factory(head, input_shape, data.outputs)
        corpora, n_target = self.corpora, len(self.corpora.target)
        if data.role == TARGET:
            folds = corpora.folds
            splits = [(np.flatnonzero(folds != f), np.flatnonzero(folds == f)) for f in np.unique(folds)]
        else:
            assert corpora.aux_train_rows is not None  # an auxiliary corpus has its training rows
            splits = [(corpora.aux_train_rows, np.arange(n_target))]
        columns = 2 if data.emotions is not None and data.role == TARGET else 1
        predictions = np.full((n_target, columns), -1, dtype=np.int64)
        targets = data.genders if data.emotions is None else (data.genders, data.emotions)
        architecture = (head, data.outputs)
        speakers = np.asarray(data.corpus.speakers)
        if architecture not in self._reprs:
            self._reprs[architecture] = repr(make_head())
        base = self.base_checkpoint
        base_sha = base.fingerprint if base is not None and head == TAIL_CLONE else None
        for index, (train, test) in enumerate(splits):
            key = ModelCache.key(
                head=head,
                architecture=self._reprs[architecture],
                input=self.target.input_spec.key_dict(),
                base=base_sha,
                corpus=data.corpus.fingerprint,
                rows=train,
                genders=data.genders,
                emotions=data.emotions,
                settings=dataclasses.asdict(self.settings),
                seed=fold_seed(seed, index),
            )
            with progress.step(f"fold {index + 1}/{len(splits)}" if len(splits) > 1 else "auxiliary corpus"):
                model = self._model(key, head, make_head, raw, targets, train, fold_seed(seed, index), speakers)
            if layer == INPUT_LAYER:
                reader, x = model, self.outputs[TARGET][INPUT_LAYER]
            else:
                # T's own architecture takes h_T in the layer's own order (its batch axis moved back
                # where the layer has it); the family heads in theirs ((T, D), (C, F, T)).
                native = head == TAIL_CLONE
                batch_axis = self.outputs.native_batch_axis(layer) if native else 0
                point, shape = self._insertion(architecture, model, layer, input_shape)
                own = self._own(key, model, raw, train, point, batch_axis)
                adapter = Adapter(shape, self._source(layer, shape, native), own)
                reader = Injected(model, point, adapter, input_shape, batch_axis).to(self.device)
                x = self.outputs.rows(TARGET, layer, native)
            predicted = predict(reader, x, test, self.device)
            predicted = np.stack(predicted, axis=1) if isinstance(predicted, tuple) else predicted[:, None]
            predictions[test] = predicted[:, :columns]
        return predictions[:, 0] if columns == 1 else predictions

    def _head_factory(self, head: str, input_shape: tuple[int, ...], outputs: tuple[int, ...]) -> Callable:
        if head == TAIL_CLONE:  # T's own architecture, from the public weights T was fine-tuned from
            base = self.base_checkpoint
            return lambda: self.target.fresh_model(outputs, base.module.state_dict() if base else None)
        return lambda: build_head(head, input_shape, lambda: None, outputs)

    def _model(
        self,
        key: str,
        head: str,
        make_head: Callable,
        raw: Any,
        targets: Any,
        train: np.ndarray,
        seed: int,
        speakers: np.ndarray,
    ):
        """Trained once per key: from memory, else the disk cache (across runs), else trained."""
        if key not in self._models:
            # one process trains it (pytest-xdist workers need the same model for other layers)
            with locked(self._cache.folder / f"{key}.lock"):
                model = self._cache.load(key, make_head)
                if model is None:
                    # T's own architecture sees raw features as T does (from the same public weights).
                    model = train_attacker(
                        make_head,
                        raw,
                        targets,
                        train,
                        self.settings,
                        seed,
                        self.device,
                        standardize=head != TAIL_CLONE,
                        speakers=speakers,
                    )
                    self._cache.save(key, model)
            self._models[key] = model.to(self.device).eval()
        return self._models[key]

    def _insertion(
        self, architecture: Architecture, model: Any, layer: str, input_shape: tuple[int, ...]
    ) -> tuple[str, tuple[int, ...]]:
        """Where in the attacker's model h_T of `layer` goes in, and the shape it is reshaped to."""
        shapes = self.target.layer_shapes()
        if architecture[0] == TAIL_CLONE:  # the same layer of the attacker's own copy of T
            return layer, tuple(shapes[layer])
        if architecture not in self._points:
            self._points[architecture] = insertion_points(model[1], input_shape)
        layouts = self.target.layouts()
        target_shapes = {
            name: head_shape(tuple(shapes[name]), batch_first(layouts[name]))
            if name in layouts
            else tuple(shapes[name])
            for name in self.target.candidate_layers()
            if name in shapes
        }
        point = matching_point(layer, target_shapes, self._points[architecture])
        return point.module, point.shape

    def _own(self, key: str, model: Any, raw: Any, train: np.ndarray, point: str, batch_axis: int) -> Moments:
        """The attacker's own activations' moments at the insertion point, on its training rows."""
        if (key, point) not in self._own_moments:
            moments = own_moments(model, raw, train, [point], self.device, batch_axis=batch_axis)
            self._own_moments[key, point] = moments[point]
        return self._own_moments[key, point]

    def _source(self, layer: str, shape: tuple[int, ...], native: bool) -> Moments:
        """The moments of T's h_T at `layer` (in the order the reader takes it), reshaped to the
        insertion point's shape."""
        if (layer, shape, native) not in self._source_moments:
            rows = self.outputs.rows(TARGET, layer, native)
            self._source_moments[layer, shape, native] = source_moments(rows, shape)
        return self._source_moments[layer, shape, native]
