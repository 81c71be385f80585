"""Helpers every checkpoint loader shares: error text, fitting weights, and the input spec and
labels that a checkpoint, an archive's metadata or the ``model:`` section of thresholds.yaml gives."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from torch import nn

from privacy_checks.errors import PrivacyInputError
from privacy_checks.features import FeatureSpec

if TYPE_CHECKING:
    from privacy_checks.config import ModelSettings

EXPORT_METADATA = "privacy_checks.json"  # extra file inside .pt2 and TorchScript archives


def first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def load_weights(module: nn.Module, state: Mapping[str, Any], path: Path) -> None:
    try:
        module.load_state_dict(state)
    except RuntimeError as exc:
        raise PrivacyInputError(f"{path}: weights do not fit the architecture: {first_line(exc)}") from None


def archive_metadata(extra: Mapping[str, str]) -> dict[str, Any]:
    """The privacy_checks.json an archive carries (read into `extra` by the loader), or {}."""
    text = extra[EXPORT_METADATA]
    return json.loads(text) if text else {}


def metadata_spec_and_labels(
    meta: Mapping[str, Any], model_config: ModelSettings | None, path: Path
) -> tuple[FeatureSpec, tuple[str, ...]]:
    """Input spec and labels from an archive's privacy_checks.json, else from thresholds.yaml model:."""
    if "input_spec" in meta:
        spec = FeatureSpec.from_mapping(meta["input_spec"], where=f"{path} {EXPORT_METADATA}")
        return spec, tuple(meta.get("labels", ()))
    return config_input_spec(model_config, path), config_labels(model_config)


def config_input_spec(model_config: ModelSettings | None, path: Path) -> FeatureSpec:
    if model_config is None or model_config.input is None:
        raise PrivacyInputError(
            f"{path} does not say how its input is computed: add `model: {{input: {{kind: logmel, "
            "sample_rate: 16000, n_mels: 40}}` to thresholds.yaml."
        )
    return FeatureSpec.from_mapping(dict(model_config.input), where="thresholds.yaml model.input")


def config_labels(model_config: ModelSettings | None) -> tuple[str, ...]:
    return tuple(model_config.labels) if model_config else ()
