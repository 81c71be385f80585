"""A plain state_dict checkpoint: the weights only, with the code that builds the model named as
``model.factory`` (``module:callable``) in thresholds.yaml."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from privacy_checks.errors import PrivacyInputError
from privacy_checks.model.loading import config_input_spec, load_weights
from privacy_checks.model.target import Target

if TYPE_CHECKING:
    from privacy_checks.config import ModelSettings


def is_state_dict(payload: Any) -> bool:
    return isinstance(payload, Mapping) and bool(payload) and all(isinstance(v, torch.Tensor) for v in payload.values())


def from_state_dict(
    path: Path, fingerprint: str, state: Mapping[str, torch.Tensor], model_config: ModelSettings | None
) -> Target:
    if model_config is None or not model_config.factory:
        raise PrivacyInputError(
            f"{path} is a plain state_dict: name the code that builds the model as model.factory in thresholds.yaml, "
            "e.g. `model: {factory: 'mypkg.models:build', input: {kind: logmel, sample_rate: 16000}}`."
        )
    module = _call_factory(model_config.factory, model_config.kwargs_dict())
    load_weights(module, state, path)
    spec = config_input_spec(model_config, path)
    return Target(
        module.eval(), model_config.factory, spec, tuple(model_config.labels), fingerprint, path, "state_dict"
    )


def _call_factory(reference: str, kwargs: dict[str, Any]) -> nn.Module:
    module_name, _, attr = reference.partition(":")
    try:
        factory = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise PrivacyInputError(
            f"thresholds.yaml model.factory {reference!r} cannot be imported: {exc}. "
            "Is the module on sys.path (run pytest from your project root)?"
        ) from None
    module = factory(**kwargs)
    if not isinstance(module, nn.Module):
        raise PrivacyInputError(f"model.factory {reference!r} returned {type(module).__name__}, not an nn.Module.")
    return module
