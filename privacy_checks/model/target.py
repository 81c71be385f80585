"""The target model T as the audit sees it: its module, input spec, labels and where it came from,
its layers, and the attacker's view of its architecture (the tail after a layer, a fresh copy)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from privacy_checks.features import FeatureSpec
from privacy_checks.model import zoo
from privacy_checks.model.layers import declared_candidate_layers, representation, trace_layer_shapes
from privacy_checks.model.multitask import multitask_from_tail

__all__ = ["Target", "representation"]  # representation: also importable from here, as before


@dataclass
class Target:
    module: nn.Module
    architecture: str
    input_spec: FeatureSpec
    labels: tuple[str, ...]
    fingerprint: str  # sha256 of the checkpoint bytes
    path: Path
    format: str
    # The zoo architecture T is an instance of, when its module can't say so itself (a .pt2
    # program names it in its metadata): source of candidate layers and of the tail to clone.
    reference: nn.Module | None = field(default=None, repr=False)
    _layer_shapes: dict[str, tuple[int, ...]] | None = field(default=None, repr=False)

    def layer_shapes(self) -> dict[str, tuple[int, ...]]:
        """Interceptable layers in execution order -> output shape for one example (batch dim dropped)."""
        if self._layer_shapes is None:
            wanted = set(declared_candidate_layers(self._architecture()) or ())
            self._layer_shapes = trace_layer_shapes(self.module, self.input_spec, wanted)
        return self._layer_shapes

    def _architecture(self) -> nn.Module:
        return self.reference if self.reference is not None else self.module

    @property
    def family(self) -> str:
        """'cnn' or 'sequence': the attacker families of docs/design.md §2 are relative to it."""
        declared = getattr(self._architecture(), "family", None)
        if declared:
            return str(declared)
        return "cnn" if len(self.input_spec.shape) == 3 else "sequence"

    def candidate_layers(self) -> list[str]:
        declared = declared_candidate_layers(self._architecture())
        return declared if declared is not None else list(self.layer_shapes())

    def tail_from(self, layer: str) -> nn.Module | None:
        """T's architecture after `layer`, freshly initialised, ending in 2 gender logits; None when
        the model cannot rebuild its tail (the caller falls back to a probe)."""
        make_tail = getattr(self._architecture(), "tail_from", None)
        return make_tail(layer, num_classes=2) if callable(make_tail) else None

    def fresh_model(
        self, outputs: tuple[int, ...] = (2,), base_state: Mapping[str, torch.Tensor] | None = None
    ) -> nn.Module | None:
        """T's whole architecture with new weights (or `base_state`, the public weights both sides
        start from, wherever shapes fit) and its last nn.Linear replaced by `outputs` logits: the
        intercept attacker's same-architecture model. None when the checkpoint does not say what
        the architecture is (a .pt2 program outside the zoo)."""
        if (self.reference is None and self.format == "torch.export") or not getattr(
            self._architecture(), "rebuildable", True
        ):
            return None
        clone = zoo.fresh_copy(self._architecture())
        if base_state:
            own = clone.state_dict()
            fitting = {k: v for k, v in base_state.items() if k in own and own[k].shape == v.shape}
            clone.load_state_dict(fitting, strict=False)
        try:
            return multitask_from_tail(clone, outputs)
        except ValueError:  # no nn.Linear to read gender from
            return None

    def describe(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "sha256": self.fingerprint,
            "format": self.format,
            "architecture": self.architecture,
            "labels": list(self.labels),
            "input": self.input_spec.as_dict(),
        }
