"""Which loader reads a checkpoint (docs/design.md §4): TorchScript archives, ``torch.export`` programs
(.pt2), ONNX models (.onnx, through onnxruntime), Hugging Face ``save_pretrained`` folders (a folder
holding config.json, through transformers), the project's checkpoint, a plain state_dict with a
factory from the config, and (only when trusted) a pickled whole module; model/files.py says what is
wrong with a file none of them can read. Anything else is a PrivacyInputError naming the file and the fix."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import torch

from privacy_checks.digests import file_sha256
from privacy_checks.errors import PrivacyInputError
from privacy_checks.model.checkpoint import from_project_checkpoint, is_project_checkpoint
from privacy_checks.model.files import check_readable, unreadable
from privacy_checks.model.hf_folder import is_hf_folder, load_hf_folder
from privacy_checks.model.onnx_model import load_onnx
from privacy_checks.model.pickled import is_pickled_code, load_pickled_module
from privacy_checks.model.state_dict import from_state_dict, is_state_dict
from privacy_checks.model.target import Target
from privacy_checks.model.torch_export import load_export
from privacy_checks.model.torchscript import is_torchscript, load_torchscript
from privacy_checks.model.training_checkpoint import find_weights

if TYPE_CHECKING:
    from privacy_checks.config import ModelSettings


def load_target(path: Path, model_config: ModelSettings | None = None, trust_checkpoint: bool = False) -> Target:
    """Load any supported checkpoint; PrivacyInputError (naming the file and the fix) otherwise.

    `model_config` is the thresholds.yaml ``model:`` section (factory, kwargs, input, labels, and
    the ``layouts`` overrides the target's layer survey applies).
    """
    target = _load(path, model_config, trust_checkpoint)
    if model_config is not None and model_config.layouts:
        target.layout_overrides = dict(model_config.layouts)
    return target


def _load(path: Path, model_config: ModelSettings | None, trust_checkpoint: bool) -> Target:
    if is_hf_folder(path):
        return load_hf_folder(path, model_config, trust_checkpoint)
    check_readable(path)
    fingerprint = file_sha256(path)
    if path.suffix.lower() == ".onnx":
        return load_onnx(path, fingerprint, model_config)
    if is_torchscript(path):
        if not trust_checkpoint:
            raise PrivacyInputError(
                f"{path} is a TorchScript archive: loading and checking it runs the code compiled into it "
                "(which could write files or start programs on this machine), so it is refused by default. "
                "If you trust this file, pass --privacy-trust-checkpoint. Formats that run no code from the "
                "file: a state_dict with model.factory in thresholds.yaml, a privacy-checks checkpoint "
                "(privacy-checks train), a torch.export program (.pt2)."
            )
        return load_torchscript(path, fingerprint, model_config)
    if path.suffix == ".pt2":
        return load_export(path, fingerprint, model_config, trust_checkpoint)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        if is_pickled_code(exc):
            return load_pickled_module(path, fingerprint, model_config, trust_checkpoint)
        raise unreadable(path, exc) from None
    if is_project_checkpoint(payload):
        return from_project_checkpoint(path, fingerprint, payload, model_config)
    state_key = model_config.state_key if model_config is not None else None
    if is_state_dict(payload) and not state_key:
        return from_state_dict(path, fingerprint, payload, model_config)
    key, state = find_weights(payload, path, state_key)  # a training checkpoint: weights beside optimizer state
    return from_state_dict(path, fingerprint, state, model_config, state_key=key)
