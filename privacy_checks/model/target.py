"""The target model T as the audit sees it: its module, input spec, labels and where it came from,
its layers with the layout of each one's output, and the attacker's view of its architecture (the
tail after a layer, a fresh copy).

Split points: the ones an architecture declares (``candidate_layers()``: the zoo, TorchScript
chains), read in the conventional layouts (see ``conventional_layout``); otherwise the survey of
``model.split_points.layer_survey``: leaves and blocks whose layout behaviour settles (batch axis
following the batch size, time axis the duration), the others excluded with the reason.
``model.layouts`` in thresholds.yaml (``layout_overrides``) settles what behaviour cannot."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from privacy_checks.errors import PrivacyInputError
from privacy_checks.features import FeatureSpec, input_time_axis
from privacy_checks.model import zoo
from privacy_checks.model.forward_errors import call_hint, forward_errors
from privacy_checks.model.layers import (
    INPUT_LAYER,
    conventional_layout,
    declared_candidate_layers,
    representation,
    trace_layer_shapes,
    trace_shapes_by_layout,
)
from privacy_checks.model.layout import Excluded, Layout, LayoutResult, first_tensor
from privacy_checks.model.layout_overrides import apply_overrides
from privacy_checks.model.multitask import multitask_from_tail
from privacy_checks.model.split_points import layer_survey, spec_input

__all__ = ["INPUT_LAYER", "Target", "representation"]  # representation: also importable from here, as before


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
    # thresholds.yaml model.layouts: layer name or glob -> 'batch,channels,time' (model/layout_overrides.py)
    layout_overrides: Mapping[str, str] = field(default_factory=dict)
    # The only modules the survey may keep (a HF folder's blocks); None: every structural candidate
    split_points: tuple[str, ...] | None = None
    # Split points the loader found but cannot offer -> why (an ONNX graph's interleaved scopes):
    # listed by the survey as excluded, never audited
    exclusions: Mapping[str, str] = field(default_factory=dict)
    # (layer, each clip's samples) -> each clip's valid frames at that layer, exactly (a HF model's
    # conv stack); None, or a None answer: counted in proportion to the samples (length_batches)
    frame_counts: Callable[[str, np.ndarray], np.ndarray | None] | None = field(default=None, repr=False)
    _layer_shapes: dict[str, tuple[int, ...]] | None = field(default=None, repr=False)
    _survey: dict[str, LayoutResult] | None = field(default=None, repr=False)

    def layer_shapes(self) -> dict[str, tuple[int, ...]]:
        """Interceptable layers in execution order -> output shape for one example (the batch axis
        dropped, wherever the layer's layout has it). An architecture that declares its split points
        lists every leaf module and its declared blocks; otherwise the surveyed candidates."""
        if self._layer_shapes is None:
            declared = declared_candidate_layers(self._architecture())
            if declared is not None:
                with forward_errors(self.path, f"tracing its layers on one {self._example} input"):
                    self._layer_shapes = trace_layer_shapes(self.module, self.input_spec, set(declared))
            else:
                layouts = self.layouts()
                with forward_errors(self.path, f"tracing its layers on two {self._example} inputs"):
                    self._layer_shapes = trace_shapes_by_layout(self.module, self.input_spec, layouts)
        return self._layer_shapes

    def survey(self) -> dict[str, LayoutResult]:
        """Every split point considered, with its Layout (whole output, batch axis included) or the
        reason it is Excluded; computed once. PrivacyInputError for a model that cannot run on its
        input spec, or for a ``model.layouts`` override that does not fit."""
        if self._survey is None:
            declared = declared_candidate_layers(self._architecture())
            if declared is not None:
                self._survey = self._declared_layouts(declared)
            else:
                self._survey = self._surveyed()
        return self._survey

    def layouts(self) -> dict[str, Layout]:
        """The candidate layers in execution order -> the layout of each one's whole output."""
        return {name: result for name, result in self.survey().items() if isinstance(result, Layout)}

    @property
    def surveys_layers(self) -> bool:
        """Whether layouts come from the survey (which runs the model, see ``survey``): no declared
        split points, or ``model.layouts`` overrides to apply."""
        return bool(self.layout_overrides) or declared_candidate_layers(self._architecture()) is None

    def layout_of(self, layer: str, rank: int) -> Layout:
        """The layout of `layer`'s whole output, which has `rank` axes: its surveyed or declared
        layout, else the conventional one (an architecture declaring its split points, without
        overrides, is read conventionally without tracing it); INPUT_LAYER's: `input_layout`."""
        if layer == INPUT_LAYER:
            return self.input_layout(rank)
        if self.surveys_layers:
            found = self.layouts().get(layer)
            if found is not None:
                return found
        return conventional_layout(rank, "declared by the architecture")

    def input_layout(self, rank: int) -> Layout:
        """The layout of a batch of T's inputs, which has `rank` axes: log-mel, LLD or custom features
        by their spec's layout ((B, D, frames) for channels; input_time_axis), anything else
        conventionally (a waveform as flat features)."""
        spec = self.input_spec
        # (a custom function's batch is taken at its own rank: its shape would run the function again)
        known = spec.kind == "custom" or (spec.kind in ("logmel", "lld") and rank == 1 + len(spec.shape))
        time = input_time_axis(spec, rank) if known else None
        if time is None:
            return conventional_layout(rank, "T's input")
        return Layout(0, time, tuple(a for a in range(1, rank) if a != time), evidence="T's input")

    def unknown_time_axis(self, layer: str) -> str | None:
        """How `layer`'s layout was found when behaviour could not tell its time axis (the model takes
        one input duration only; model/layout.py), else None."""
        found = self.layouts().get(layer) if self.surveys_layers else None
        return found.evidence if isinstance(found, Layout) and found.time_unknown else None

    def axis_sizes(self, layer: str) -> tuple[int | str, ...]:
        """`layer`'s whole output as its axes' sizes, with "batch" where its batch axis is."""
        sizes: list[int | str] = list(self.layer_shapes().get(layer, ()))
        layout = self.layouts().get(layer) if self.surveys_layers else None
        sizes.insert(layout.batch_axis if layout is not None else 0, "batch")
        return tuple(sizes)

    def excluded_layers(self) -> dict[str, str]:
        """Modules considered and not audited -> why (for `privacy-checks layers`)."""
        return {name: result.reason for name, result in self.survey().items() if isinstance(result, Excluded)}

    def _declared_layouts(self, declared: list[str]) -> dict[str, LayoutResult]:
        # layer_shapes traces the declared blocks too; a declared name it never saw keeps no layout
        # here and is read in the conventional layout of whatever rank the forward pass finds.
        shapes = self.layer_shapes()
        layouts: dict[str, LayoutResult] = {
            name: conventional_layout(1 + len(shapes[name]), "declared by the architecture")
            for name in declared
            if name in shapes
        }
        return apply_overrides(layouts, self.layout_overrides) if self.layout_overrides else layouts

    def _surveyed(self) -> dict[str, LayoutResult]:
        make_input = spec_input(self.input_spec)
        try:
            return layer_survey(
                self.module,
                make_input,
                self.layout_overrides,
                self.input_spec.duration_s,
                only=self.split_points,
                exclusions=self.exclusions,
            )
        except RuntimeError as exc:
            raise PrivacyInputError(
                f"{self.path}: cannot find its layers' layouts, the model does not run on its input "
                f"({self._example} per example): {exc}. Check that model.input in thresholds.yaml (or the input "
                "spec saved with the checkpoint) describes the input the model expects, and that its forward "
                f"runs on such a batch outside the audit.{call_hint(str(exc))}"
            ) from None

    def output_classes(self) -> int | None:
        """How many classes T's output scores per example (the last axis of its (B, n) logits; the
        first task's of a multi-task model), from one batch of 2 dummy examples; None when the
        output is not such a matrix."""
        with forward_errors(self.path, f"running it on two {self._example} inputs"), torch.inference_mode():
            output = first_tensor(self.module(torch.zeros((2, *self.input_spec.shape))))
        return int(output.shape[1]) if output is not None and output.dim() == 2 else None

    @property
    def _example(self) -> str:
        return f"{self.input_spec.kind} {self.input_spec.shape}"

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
        """The split points the audit attacks, in execution order: those the architecture declares,
        else the surveyed modules with a layout."""
        declared = declared_candidate_layers(self._architecture())
        return declared if declared is not None else list(self.layouts())

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
