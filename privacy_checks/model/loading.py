"""Helpers every checkpoint loader shares: error text, fitting weights, and the input spec and
labels that a checkpoint, an archive's metadata or the ``model:`` section of thresholds.yaml gives."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from privacy_checks.errors import PrivacyInputError
from privacy_checks.features import FeatureSpec
from privacy_checks.model import zoo

if TYPE_CHECKING:
    from privacy_checks.config import ModelSettings

EXPORT_METADATA = "privacy_checks.json"  # extra file inside .pt2 and TorchScript archives


def first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def describe_value(value: Any) -> str:
    """A value found in a model file, for a message: its type and a short repr."""
    shown = repr(value)
    return f"{type(value).__name__} {shown[:60] + '...' if len(shown) > 60 else shown}"


LISTED = 10  # names a mismatch message lists per kind before "... and N more"
WEIGHTS_FIX = (
    "Names must match exactly (loading is strict): check that the factory and model.kwargs build the "
    "architecture the weights were saved from (sizes in model.kwargs change shapes and names), and, for a "
    "training checkpoint, that model.state_key picks the model's weights."
)
RESAVE_FIX = "The architecture the file names does not match its weights: re-save it with privacy-checks train."


def load_weights(module: nn.Module, state: Mapping[str, Any], path: Path, fix: str = WEIGHTS_FIX) -> None:
    """module.load_state_dict(state), strictly; PrivacyInputError listing the missing, unexpected and
    mis-shaped names (counts when long) and `fix` when the weights do not fit."""
    bad = next(((k, v) for k, v in state.items() if not (isinstance(k, str) and isinstance(v, torch.Tensor))), None)
    if bad is not None:
        raise PrivacyInputError(
            f"{path}: the weights (state_dict) map {bad[0]!r} to {describe_value(bad[1])}; expected parameter "
            "names mapped to tensors, as model.state_dict() gives."
        )
    try:
        module.load_state_dict(state)
    except RuntimeError as exc:
        problems = weight_mismatch(module.state_dict(), state)
        if not problems:  # torch's own lines: something other than names and shapes
            problems = " ".join(line.strip() for line in str(exc).strip().splitlines()[1:]) or first_line(exc)
        raise PrivacyInputError(f"{path}: the weights do not fit the model's architecture: {problems}. {fix}") from None


def weight_mismatch(own: Mapping[str, torch.Tensor], state: Mapping[str, torch.Tensor]) -> str:
    """'N missing (in the model, not in the file): ...; M unexpected (in the file, not in the model):
    ...; K with other shapes: name file (a, b) vs model (c, d)', or '' when names and shapes agree."""
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    reshaped = [
        f"{k} file {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
        for k in own
        if k in state and tuple(state[k].shape) != tuple(own[k].shape)
    ]
    parts = [
        f"{len(names)} {what}: {_listed(names)}"
        for what, names in (
            ("missing (in the model, not in the file)", missing),
            ("unexpected (in the file, not in the model)", unexpected),
            ("with other shapes", reshaped),
        )
        if names
    ]
    return "; ".join(parts)


def _listed(names: list[str]) -> str:
    shown = ", ".join(names[:LISTED])
    return shown + (f" ... and {len(names) - LISTED} more" if len(names) > LISTED else "")


def build_architecture(name: str, arch_kwargs: Mapping[str, Any], where: str) -> nn.Module:
    """The zoo architecture `name` built with keyword arguments read from a model file."""
    try:
        return zoo.build(name, **dict(arch_kwargs))
    except (TypeError, ValueError) as exc:  # arguments the architecture does not take, or bad values
        raise PrivacyInputError(
            f"{where} do not fit architecture {name!r}: {type(exc).__name__}: {first_line(exc)}"
        ) from None


def checked_labels(value: Any, where: str) -> tuple[str, ...]:
    """Emotion labels read from a model file: a list of names."""
    if not isinstance(value, (list, tuple)) or not all(isinstance(label, str) for label in value):
        raise PrivacyInputError(
            f"{where} holds {describe_value(value)}; expected a list of label names, e.g. ['angry', 'happy', "
            "'neutral', 'sad'] (or no labels key)."
        )
    return tuple(value)


def archive_metadata(extra: Mapping[str, str], where: Path) -> dict[str, Any]:
    """The privacy_checks.json an archive carries (read into `extra` by the loader), or {}."""
    text = extra[EXPORT_METADATA]
    if not text:
        return {}
    try:
        meta = json.loads(text)
    except ValueError as exc:
        raise PrivacyInputError(
            f"{where}: its {EXPORT_METADATA} is not valid JSON ({exc}); re-save the archive with privacy-checks."
        ) from None
    if not isinstance(meta, dict):
        raise PrivacyInputError(
            f"{where}: its {EXPORT_METADATA} holds {describe_value(meta)}; expected a JSON object with "
            "architecture, input_spec and labels."
        )
    return meta


def metadata_spec_and_labels(
    meta: Mapping[str, Any], model_config: ModelSettings | None, path: Path
) -> tuple[FeatureSpec, tuple[str, ...]]:
    """Input spec and labels from an archive's privacy_checks.json, else from thresholds.yaml model:."""
    if "input_spec" in meta:
        spec = model_file_spec(meta["input_spec"], f"{path} {EXPORT_METADATA}", model_config)
        return spec, checked_labels(meta.get("labels", ()), f"{path} {EXPORT_METADATA} 'labels'")
    return config_input_spec(model_config, path), config_labels(model_config)


def model_file_spec(data: Any, where: str, model_config: ModelSettings | None) -> FeatureSpec:
    """An input spec read from a model file, which never decides what code runs: a spec naming a
    function (kind custom) is accepted only when thresholds.yaml's model.input names the same one."""
    if not isinstance(data, Mapping):
        raise PrivacyInputError(f"{where}: the input spec is not a mapping; re-save the model with privacy-checks.")
    function = data.get("function")
    if data.get("kind") == "custom" or function is not None:
        configured = model_config.input if model_config is not None else None
        if not (configured and configured.get("kind") == "custom" and configured.get("function") == function):
            raise PrivacyInputError(
                f"{where} names code to run (feature function {function!r}); a model file never decides what "
                "code the audit runs. If it is your own feature function, name it in your thresholds.yaml: "
                f"model: {{input: {{kind: custom, function: {function!r}}}}}."
            )
    return FeatureSpec.from_mapping(data, where=where)


def config_input_spec(model_config: ModelSettings | None, path: Path) -> FeatureSpec:
    if model_config is None or model_config.input is None:
        raise PrivacyInputError(
            f"{path} does not say how its input is computed: add `model: {{input: {{kind: logmel, "
            "sample_rate: 16000, n_mels: 40, layout: channels}}` to thresholds.yaml (layout: channels for a "
            "(batch, bands, frames) input, sequence for (batch, frames, bands), image for (batch, 1, bands, "
            "frames); kind: waveform for raw audio)."
        )
    return FeatureSpec.from_mapping(dict(model_config.input), where="thresholds.yaml model.input")


def config_labels(model_config: ModelSettings | None) -> tuple[str, ...]:
    return tuple(model_config.labels) if model_config else ()
