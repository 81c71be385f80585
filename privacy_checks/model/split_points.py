"""The split points users mean: leaf modules and the blocks a model is made of, each with the layout
of its output, or the reason it is not a split point.

Candidates, by structure:

* every leaf module (no children other than parametrisations; ``nn.MultiheadAttention``, whose
  ``out_proj`` never runs, counts as one), except ``nn.Dropout`` / ``nn.Identity`` (identity at
  inference: the module before them gives the same output);
* the blocks: each element of an ``nn.Sequential`` / ``nn.ModuleList`` that is itself a container
  (``encoder.layers.0``, a ResNet block), each ``nn.Sequential`` (a named stage such as
  ``conv1 = Sequential(Conv1d, BatchNorm1d, ReLU)``) and each container directly under the root
  (``wav2vec2``, a ``frontend``). A block's output can equal its last child's: both are listed.

Excluded, with the reason (``layer_survey`` keeps them for ``privacy-checks layers``):

* parametrisation internals (``conv.parametrizations.weight.0`` emits a weight, not an activation);
* names with characters that break pytest node ids and globs (``/``, ``[``, ``]``, ``:``,
  whitespace; possible as ``nn.ModuleDict`` keys): excluded rather than renamed, so that every name
  the audit shows is a name ``model.get_submodule`` accepts;
* whatever ``infer_layouts`` excludes by behaviour (no batch axis, called several times per forward,
  not called at all, ...);
* when the loader names the model's blocks (``only``: a Hugging Face folder's conv layers, transformer
  layers, projector, classifier), every other candidate: the survey still decides the layout of
  each named block, whatever its rank (a conv layer's (B, C, T) is never read as (B, T, D));
* what the loader found and could not offer (``exclusions``: an ONNX graph's module scopes whose
  nodes interleave, repeated calls, non-float outputs), with the loader's reason.

Order: execution order, i.e. when each output is produced (a block after its children).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence

import torch
from torch import nn

from privacy_checks.features import FeatureSpec
from privacy_checks.model.layers import SKIPPED_LEAVES
from privacy_checks.model.layout import NOT_CALLED, Excluded, Layout, LayoutResult, MakeInput, infer_layouts
from privacy_checks.model.layout_overrides import apply_overrides

__all__ = ["candidate_points", "layer_survey", "spec_input", "structural_points"]

_NODE_ID_BREAKERS = re.compile(r"[/\[\]:\s]")
_PARAMETRISATION = "parametrizations"
_NO_FORWARD = (nn.ModuleList, nn.ModuleDict)
NOT_A_BLOCK = (
    "not one of the model's blocks, which this format's loader names as its split points (a Hugging Face "
    "folder: conv layers, feature projection, transformer layers, the encoder, projector, classifier; a "
    "TorchScript chain: its children in order)"
)
# Containers that use their children's weights functionally (the children never run): leaves here.
_FUNCTIONAL_CONTAINERS = (nn.MultiheadAttention,)


def _children(module: nn.Module) -> list[nn.Module]:
    """Its submodules other than the parametrisation machinery (a weight-normed conv is a leaf)."""
    return [child for name, child in module.named_children() if name != _PARAMETRISATION]


def structural_points(model: nn.Module) -> dict[str, str | None]:
    """Module name -> None for a candidate by structure, or the reason it is excluded; in definition
    order. Dropout/Identity leaves and list containers (no forward of their own) are left out."""
    parents: dict[str, nn.Module] = {}
    inside_leaf: set[str] = set()
    points: dict[str, str | None] = {}
    for name, module in model.named_modules():
        for child_name, _child in module.named_children():
            child = f"{name}.{child_name}" if name else child_name
            parents[child] = module
            if name in inside_leaf or isinstance(module, _FUNCTIONAL_CONTAINERS):
                inside_leaf.add(child)
        if not name or name in inside_leaf or isinstance(module, _NO_FORWARD):
            continue
        if _PARAMETRISATION in name.split("."):
            points[name] = "parametrisation internals: it computes a weight, not an activation"
            continue
        leaf = not _children(module) or isinstance(module, _FUNCTIONAL_CONTAINERS)
        parent = parents.get(name)
        block = not leaf and (
            isinstance(parent, (nn.Sequential, nn.ModuleList)) or isinstance(module, nn.Sequential) or parent is model
        )
        if (leaf and isinstance(module, SKIPPED_LEAVES)) or not (leaf or block):
            continue
        if _NODE_ID_BREAKERS.search(name):
            points[name] = (
                f"its name {name!r} contains a character that breaks test ids (/, [, ], :, whitespace); "
                "rename the submodule to audit it"
            )
            continue
        points[name] = None
    return points


def layer_survey(
    model: nn.Module,
    make_input: MakeInput,
    overrides: Mapping[str, str] | None = None,
    seconds: float = 1.0,
    override_key: str = "model.layouts",
    only: Sequence[str] | None = None,
    exclusions: Mapping[str, str] | None = None,
) -> dict[str, LayoutResult]:
    """Every structural candidate with its Layout or the reason it is Excluded: the modules the
    forward pass runs in execution order, then the structural exclusions and modules never run.
    ``only`` (module names, blocks or leaves) replaces the structural candidates: the others are
    listed last as excluded, not one of the model's blocks, out of the overrides' reach; so are
    ``exclusions`` (name -> the loader's reason: split points a format's loader found but cannot
    offer). ``overrides`` (layer or glob -> 'batch,channels,time'...) are applied before both."""
    structure: dict[str, str | None] = structural_points(model)
    outside: dict[str, LayoutResult] = {}
    if only is not None:
        named = list(dict.fromkeys(only))
        outside = {name: Excluded(reason or NOT_A_BLOCK) for name, reason in structure.items() if name not in named}
        structure = dict.fromkeys(named)
    wanted = [name for name, reason in structure.items() if reason is None]
    survey: dict[str, LayoutResult] = dict(infer_layouts(model, make_input, wanted, seconds))
    ran = {name: result for name, result in survey.items() if not _never_ran(result)}
    rest = {name: result for name, result in survey.items() if _never_ran(result)}
    excluded = {name: Excluded(reason) for name, reason in structure.items() if reason is not None}
    survey = {**ran, **excluded, **rest}
    listed = {**(apply_overrides(survey, overrides, override_key) if overrides else survey), **outside}
    return {**listed, **{name: Excluded(why) for name, why in (exclusions or {}).items() if name not in listed}}


def candidate_points(
    model: nn.Module, make_input: MakeInput, overrides: Mapping[str, str] | None = None, seconds: float = 1.0
) -> list[str]:
    """The split points an audit attacks, in execution order: the survey's modules with a layout."""
    survey = layer_survey(model, make_input, overrides, seconds)
    return [name for name, result in survey.items() if isinstance(result, Layout)]


def spec_input(spec: FeatureSpec, seed: int = 0) -> MakeInput:
    """``make_input`` for a model fed as ``spec`` says: (batch, *spec.shape) at the given duration,
    standard normal values (shapes are what inference reads), the same for the same arguments."""

    def make_input(batch: int, seconds: float) -> torch.Tensor:
        shape = dataclasses.replace(spec, duration_s=seconds).shape
        return torch.randn((batch, *shape), generator=torch.Generator().manual_seed(seed))

    return make_input


def _never_ran(result: LayoutResult) -> bool:
    return isinstance(result, Excluded) and result.reason.startswith(NOT_CALLED)
