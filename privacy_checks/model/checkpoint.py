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
from privacy_checks.model.loading import (
    RESAVE_FIX,
    build_architecture,
    checked_labels,
    describe_value,
    load_weights,
    model_file_spec,
)
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
    if not isinstance(name, str) or name not in zoo.names():
        raise PrivacyInputError(f"{path}: unknown architecture {name!r}; known: {', '.join(zoo.names())}.")
    arch_kwargs = _entry(path, payload, "arch_kwargs", Mapping, "a mapping of keyword arguments", default={})
    module = build_architecture(name, arch_kwargs, f"{path}: arch_kwargs")
    state = _entry(path, payload, "state_dict", Mapping, "the model's weights, a mapping of names to tensors")
    load_weights(module, state, path, RESAVE_FIX)
    _entry(path, payload, "input_spec", Mapping, "the input spec, a mapping such as {kind: logmel, n_mels: 40}")
    spec = model_file_spec(payload["input_spec"], f"{path} input_spec", model_config)
    labels = checked_labels(payload.get("labels", ()), f"{path}: checkpoint key 'labels'")
    return Target(module.eval(), name, spec, labels, fingerprint, path, "privacy-checks")


def _entry(path: Path, payload: Mapping[str, Any], key: str, kind: type, expected: str, default: Any = None) -> Any:
    """payload[key], checked to be a `kind`; PrivacyInputError naming the key, what was found and
    what is expected otherwise (missing too, unless it has a default)."""
    if key not in payload and default is not None:
        return default
    found = payload.get(key)
    if key not in payload or not isinstance(found, kind):
        what = "is missing" if key not in payload else f"holds {describe_value(found)}"
        raise PrivacyInputError(
            f"{path}: checkpoint key {key!r} {what}; expected {expected}. A privacy-checks checkpoint has the "
            "keys format, format_version, architecture, arch_kwargs, state_dict, input_spec and labels: re-save "
            "it with privacy-checks train (or privacy_checks.model.save_checkpoint)."
        )
    return found


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
