"""Encoder access: the attacker runs T's on-device part, so it trains its head on h_T itself
(cross-validated over the target's speaker folds, or on the auxiliary corpus and applied to the
target's)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from privacy_checks.attackers import TAIL_CLONE, build_head, cross_validated_predictions, transfer_predictions
from privacy_checks.config import AttackerSettings
from privacy_checks.engine.corpora import AUX, TARGET, AuditCorpora, TrainingData
from privacy_checks.engine.custom import CustomAttacker
from privacy_checks.engine.representations import LayerOutputs
from privacy_checks.model.target import Target


class EncoderAttack:
    def __init__(
        self,
        target: Target,
        corpora: AuditCorpora,
        outputs: LayerOutputs,
        settings: AttackerSettings,
        device: str,
        custom_heads: dict[str, CustomAttacker],
    ):
        self.target = target
        self.corpora = corpora
        self.outputs = outputs
        self.settings = settings
        self.device = device
        self.custom_heads = custom_heads  # shared with the orchestrator, which adds to it

    def predictions(self, data: TrainingData, head: str, layer: str, seed: int) -> np.ndarray:
        """Gender prediction per target utterance (an (N, 2) array with the emotion prediction when
        an application-aware attacker is cross-validated on the target corpus).

        The generic and custom heads read the layer in their order ((T, D), (C, F, T)); T's tail
        clone in the layer's own order, as T's forward pass continues from it."""
        native = head == TAIL_CLONE and head not in self.custom_heads
        train_x = self.outputs.rows(data.role, layer, native)
        make_head = self._head_factory(head, tuple(train_x.shape[1:]), layer, data.outputs)
        if data.role == AUX:
            return transfer_predictions(
                make_head,
                train_x,
                data.genders,
                self.outputs.rows(TARGET, layer, native),
                self.settings,
                seed,
                self.device,
                train_emotions=data.emotions,
                train_rows=self.corpora.aux_train_rows,
                train_speakers=np.asarray(data.corpus.speakers),
            )
        return cross_validated_predictions(
            make_head,
            train_x,
            data.genders,
            self.corpora.folds,
            self.settings,
            seed,
            self.device,
            emotions=data.emotions,
            speakers=np.asarray(data.corpus.speakers),
        )

    def _head_factory(self, head: str, shape: tuple[int, ...], layer: str, outputs: tuple[int, ...]) -> Callable:
        if head in self.custom_heads:
            custom = self.custom_heads[head]
            return lambda: custom.build(shape, outputs)
        return lambda: build_head(head, shape, lambda: self.target.tail_from(layer), outputs=outputs)
