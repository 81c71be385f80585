"""The project's own checkpoint format: architecture name + keyword arguments, weights, input spec
and labels, read with ``weights_only=True`` (no pickled code) and written atomically."""

from __future__ import annotations

import io
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from privacy_checks.errors import PrivacyInputError
from privacy_checks.features import FeatureSpec
from privacy_checks.fileio import atomic_write_bytes
from privacy_checks.model import zoo
from privacy_checks.model.loading import first_line, load_weights, model_file_spec
from privacy_checks.model.target import Target

if TYPE_CHECKING:
    from privacy_checks.config import ModelSettings

CHECKPOINT_FORMAT = "privacy-checks.checkpoint"
CHECKPOINT_VERSION = 1


def is_project_checkpoint(payload: Any) -> bool:
    return isinstance(payload, Mapping) and payload.get("format") == CHECKPOINT_FORMAT


def from_project_checkpoint(
    path: Path, fingerprint: str, payload: Mapping[str, Any], model_config: ModelSettings | None = None
) -> Target:
    version = payload.get("format_version")
    if version != CHECKPOINT_VERSION:
        raise PrivacyInputError(
            f"{path}: checkpoint format_version {version!r} is not supported (expected {CHECKPOINT_VERSION})."
        )
    name = payload.get("architecture")
    try:
        arch_kwargs = dict(payload.get("arch_kwargs", {}))
        if not isinstance(name, str):  # missing or not a name: unknown, like a name outside the zoo
            raise KeyError(name)
        module = zoo.build(name, **arch_kwargs)
    except KeyError:
        raise PrivacyInputError(f"{path}: unknown architecture {name!r}; known: {', '.join(zoo.names())}.") from None
    except TypeError as exc:  # arch_kwargs the architecture does not take
        raise PrivacyInputError(f"{path}: arch_kwargs do not fit architecture {name!r}: {first_line(exc)}") from None
    load_weights(module, payload["state_dict"], path)
    spec = model_file_spec(payload.get("input_spec"), f"{path} input_spec", model_config)
    return Target(module.eval(), name, spec, tuple(payload.get("labels", ())), fingerprint, path, "privacy-checks")


def save_checkpoint(
    path: Path,
    module: nn.Module,
    architecture: str,
    arch_kwargs: Mapping[str, Any],
    spec: FeatureSpec,
    labels: tuple[str, ...],
    training: Mapping[str, Any] | None = None,
) -> None:
    """Write the project's checkpoint format atomically (temp file + rename)."""
    payload = {
        "format": CHECKPOINT_FORMAT,
        "format_version": CHECKPOINT_VERSION,
        "architecture": architecture,
        "arch_kwargs": dict(arch_kwargs),
        "state_dict": {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()},
        "input_spec": spec.as_dict(),
        "labels": list(labels),
        "training": dict(training or {}),
    }
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    atomic_write_bytes(path, buffer.getvalue())
