"""A pickled whole nn.Module: loading it runs code from the file, so it is refused unless the user
trusts the file explicitly (``--privacy-trust-checkpoint``)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import nn

from privacy_checks.errors import PrivacyInputError
from privacy_checks.model.forward_call import called_as_configured
from privacy_checks.model.loading import config_input_spec, config_labels, first_line
from privacy_checks.model.target import Target

if TYPE_CHECKING:
    from privacy_checks.config import ModelSettings


def is_pickled_code(exc: Exception) -> bool:
    """The weights-only unpickler met a class or function reference: pickled code, not bytes gone bad."""
    return "Unsupported global" in str(exc)


def load_pickled_module(path: Path, fingerprint: str, model_config: ModelSettings | None, trusted: bool) -> Target:
    if not trusted:
        raise PrivacyInputError(
            f"{path} is a pickled nn.Module: loading it runs arbitrary code from the file. Save a state_dict "
            "(torch.save(model.state_dict(), ...)) with model.factory in thresholds.yaml, or, if you trust the "
            "file, pass --privacy-trust-checkpoint."
        )
    try:
        module = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:
        raise PrivacyInputError(f"cannot unpickle {path}: {first_line(exc)}") from None
    if not isinstance(module, nn.Module):
        raise PrivacyInputError(f"{path} unpickles to {type(module).__name__}, not an nn.Module.")
    spec = config_input_spec(model_config, path)
    labels = config_labels(model_config)
    name = type(module).__name__
    module = called_as_configured(module.eval(), model_config, spec, path)
    return Target(module.eval(), name, spec, labels, fingerprint, path, "pickled-module")
