"""The target model T: checkpoint loading, layer listing and the attacker's view of T's tail.

Formats (DESIGN.md §4): the project's checkpoint (architecture name + weights + input spec + labels,
read with ``weights_only=True``), a plain state_dict with a ``module:callable`` factory from the
config, and ``torch.export`` programs (``.pt2``). A pickled whole module runs code on load and is
refused unless the user trusts it explicitly.
"""

from __future__ import annotations

import importlib
import json
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from privacy_checks.digests import file_sha256
from privacy_checks.errors import PrivacyInputError
from privacy_checks.features import FeatureSpec
from privacy_checks.model import zoo

CHECKPOINT_FORMAT = "privacy-checks.checkpoint"
CHECKPOINT_VERSION = 1
EXPORT_METADATA = "privacy_checks.json"  # extra file inside .pt2 archives
# Modules whose output is never a useful split point (identity at inference or pure containers).
_SKIPPED_LEAVES = (nn.Dropout, nn.Identity)


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
            declared = getattr(self._architecture(), "candidate_layers", None)
            wanted = set(declared()) if callable(declared) else set()
            self._layer_shapes = _trace_layer_shapes(self.module, self.input_spec, wanted)
        return self._layer_shapes

    def _architecture(self) -> nn.Module:
        return self.reference if self.reference is not None else self.module

    @property
    def family(self) -> str:
        """'cnn' or 'sequence': the attacker families of DESIGN.md §2 are relative to it."""
        declared = getattr(self._architecture(), "family", None)
        if declared:
            return declared
        return "cnn" if len(self.input_spec.shape) == 3 else "sequence"

    def candidate_layers(self) -> list[str]:
        declared = getattr(self._architecture(), "candidate_layers", None)
        names = declared() if callable(declared) else list(self.layer_shapes())
        return list(names)

    def tail_from(self, layer: str) -> nn.Module | None:
        """T's architecture after `layer`, freshly initialised, ending in 2 gender logits; None when
        the model cannot rebuild its tail (the caller falls back to a probe)."""
        make_tail = getattr(self._architecture(), "tail_from", None)
        return make_tail(layer, num_classes=2) if callable(make_tail) else None

    def fresh_model(self, outputs: tuple[int, ...] = (2,), base_state: Mapping | None = None) -> nn.Module | None:
        """T's whole architecture with new weights (or `base_state`, the public weights both sides
        start from, wherever shapes fit) and its last nn.Linear replaced by `outputs` logits: the
        intercept attacker's same-architecture model. None when the checkpoint does not say what
        the architecture is (a .pt2 program outside the zoo)."""
        from privacy_checks.attackers.heads import multitask_from_tail

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


def load_target(path: Path, model_config=None, trust_checkpoint: bool = False) -> Target:
    """Load any supported checkpoint; PrivacyInputError (naming the file and the fix) otherwise.

    `model_config` is the thresholds.yaml ``model:`` section (factory, kwargs, input, labels).
    """
    if not path.is_file():
        raise PrivacyInputError(f"--privacy-audit: checkpoint {path} does not exist; pass the path to a model file.")
    fingerprint = file_sha256(path)
    if _is_torchscript(path):
        from privacy_checks.model.torchscript import load_torchscript

        return load_torchscript(path, fingerprint, model_config)
    if path.suffix == ".pt2":
        return _load_export(path, fingerprint, model_config)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        if _is_pickled_code(exc):
            return _load_pickled_module(path, fingerprint, model_config, trust_checkpoint)
        raise PrivacyInputError(
            f"cannot read checkpoint {path}: {_first_line(exc)}. Is it a file written by torch.save or privacy-checks train?"
        ) from None
    if isinstance(payload, Mapping) and payload.get("format") == CHECKPOINT_FORMAT:
        return _from_project_checkpoint(path, fingerprint, payload)
    if isinstance(payload, Mapping) and payload and all(isinstance(v, torch.Tensor) for v in payload.values()):
        return _from_state_dict(path, fingerprint, payload, model_config)
    raise PrivacyInputError(
        f"{path}: not a checkpoint this tool understands (expected a privacy-checks checkpoint, a state_dict, "
        "or a .pt2 torch.export program); see README 'Checkpoint formats'."
    )


def _from_project_checkpoint(path: Path, fingerprint: str, payload: Mapping) -> Target:
    version = payload.get("format_version")
    if version != CHECKPOINT_VERSION:
        raise PrivacyInputError(
            f"{path}: checkpoint format_version {version!r} is not supported (expected {CHECKPOINT_VERSION})."
        )
    name = payload.get("architecture")
    try:
        module = zoo.build(name, **dict(payload.get("arch_kwargs", {})))
    except KeyError:
        raise PrivacyInputError(f"{path}: unknown architecture {name!r}; known: {', '.join(zoo.names())}.") from None
    except TypeError as exc:  # arch_kwargs the architecture does not take
        raise PrivacyInputError(f"{path}: arch_kwargs do not fit architecture {name!r}: {_first_line(exc)}") from None
    _load_weights(module, payload["state_dict"], path)
    spec = FeatureSpec.from_mapping(payload["input_spec"], where=f"{path} input_spec")
    return Target(module.eval(), name, spec, tuple(payload.get("labels", ())), fingerprint, path, "privacy-checks")


def _from_state_dict(path: Path, fingerprint: str, state: Mapping, model_config) -> Target:
    if model_config is None or not model_config.factory:
        raise PrivacyInputError(
            f"{path} is a plain state_dict: name the code that builds the model as model.factory in thresholds.yaml, "
            "e.g. `model: {factory: 'mypkg.models:build', input: {kind: logmel, sample_rate: 16000}}`."
        )
    module = _call_factory(model_config)
    _load_weights(module, state, path)
    spec = _config_input_spec(model_config, path)
    return Target(
        module.eval(), model_config.factory, spec, tuple(model_config.labels), fingerprint, path, "state_dict"
    )


def _load_export(path: Path, fingerprint: str, model_config) -> Target:
    extra = {EXPORT_METADATA: ""}
    try:
        program = torch.export.load(str(path), extra_files=extra)
    except Exception as exc:
        raise PrivacyInputError(f"cannot read torch.export program {path}: {_first_line(exc)}") from None
    meta = json.loads(extra[EXPORT_METADATA]) if extra[EXPORT_METADATA] else {}
    spec, labels = metadata_spec_and_labels(meta, model_config, path)
    # unflatten restores the original module hierarchy, so forward hooks see named layers.
    module = torch.export.unflatten(program)
    architecture = meta.get("architecture", "torch.export")
    reference = None
    if architecture in zoo.names():
        reference = zoo.build(architecture, **dict(meta.get("arch_kwargs", {})))
    return Target(module, architecture, spec, labels, fingerprint, path, "torch.export", reference)


def metadata_spec_and_labels(meta: Mapping, model_config, path: Path) -> tuple[FeatureSpec, tuple[str, ...]]:
    """Input spec and labels from an archive's privacy_checks.json, else from thresholds.yaml model:."""
    if "input_spec" in meta:
        spec = FeatureSpec.from_mapping(meta["input_spec"], where=f"{path} {EXPORT_METADATA}")
        return spec, tuple(meta.get("labels", ()))
    return _config_input_spec(model_config, path), tuple(model_config.labels) if model_config else ()


def _load_pickled_module(path: Path, fingerprint: str, model_config, trusted: bool) -> Target:
    if not trusted:
        raise PrivacyInputError(
            f"{path} is a pickled nn.Module: loading it runs arbitrary code from the file. Save a state_dict "
            "(torch.save(model.state_dict(), ...)) with model.factory in thresholds.yaml, or, if you trust the "
            "file, pass --privacy-trust-checkpoint."
        )
    try:
        module = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:
        raise PrivacyInputError(f"cannot unpickle {path}: {_first_line(exc)}") from None
    if not isinstance(module, nn.Module):
        raise PrivacyInputError(f"{path} unpickles to {type(module).__name__}, not an nn.Module.")
    spec = _config_input_spec(model_config, path)
    labels = tuple(model_config.labels) if model_config else ()
    return Target(module.eval(), type(module).__name__, spec, labels, fingerprint, path, "pickled-module")


def _config_input_spec(model_config, path: Path) -> FeatureSpec:
    if model_config is None or model_config.input is None:
        raise PrivacyInputError(
            f"{path} does not say how its input is computed: add `model: {{input: {{kind: logmel, "
            "sample_rate: 16000, n_mels: 40}}` to thresholds.yaml."
        )
    return FeatureSpec.from_mapping(dict(model_config.input), where="thresholds.yaml model.input")


def _call_factory(model_config) -> nn.Module:
    module_name, _, attr = model_config.factory.partition(":")
    try:
        factory = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise PrivacyInputError(
            f"thresholds.yaml model.factory {model_config.factory!r} cannot be imported: {exc}. "
            "Is the module on sys.path (run pytest from your project root)?"
        ) from None
    module = factory(**model_config.kwargs_dict())
    if not isinstance(module, nn.Module):
        raise PrivacyInputError(
            f"model.factory {model_config.factory!r} returned {type(module).__name__}, not an nn.Module."
        )
    return module


def _load_weights(module: nn.Module, state: Mapping, path: Path) -> None:
    try:
        module.load_state_dict(state)
    except RuntimeError as exc:
        raise PrivacyInputError(f"{path}: weights do not fit the architecture: {_first_line(exc)}") from None


def _trace_layer_shapes(
    module: nn.Module, spec: FeatureSpec, wanted: set[str] = frozenset()
) -> dict[str, tuple[int, ...]]:
    """Run one dummy example with hooks on every leaf module and on the `wanted` blocks (a ResNet
    block, a transformer layer); record execution order and shapes."""
    shapes: dict[str, tuple[int, ...]] = {}
    handles = []
    for name, child in module.named_modules():
        leaf = not list(child.children()) and not isinstance(child, _SKIPPED_LEAVES)
        if name and (leaf or name in wanted):
            handles.append(child.register_forward_hook(_shape_recorder(shapes, name)))
    try:
        with torch.inference_mode():
            module(torch.zeros((1, *spec.shape)))
    finally:
        for handle in handles:
            handle.remove()
    return shapes


def _shape_recorder(shapes: dict, name: str):
    def hook(_module, _inputs, output):
        tensor = representation(output)
        if tensor is not None and name not in shapes:
            shapes[name] = tuple(tensor.shape[1:])

    return hook


def representation(output: Any) -> torch.Tensor | None:
    """The tensor an attacker intercepts: the output itself, or the first tensor of a tuple/list."""
    if isinstance(output, torch.Tensor):
        return output
    if isinstance(output, (tuple, list)):
        return next((o for o in output if isinstance(o, torch.Tensor)), None)
    return None


def _is_torchscript(path: Path) -> bool:
    if not zipfile.is_zipfile(path):
        return False
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except zipfile.BadZipFile:  # damaged archive: torch.load reports it with the file's name
        return False
    return any(n.split("/", 1)[-1].startswith(("code/", "constants.pkl")) for n in names)


def _is_pickled_code(exc: Exception) -> bool:
    """The weights-only unpickler met a class or function reference: pickled code, not bytes gone bad."""
    return "Unsupported global" in str(exc)


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def save_checkpoint(
    path: Path,
    module: nn.Module,
    architecture: str,
    arch_kwargs: Mapping,
    spec: FeatureSpec,
    labels: tuple[str, ...],
    training: Mapping | None = None,
) -> None:
    """Write the project's checkpoint format atomically (temp file + rename)."""
    import io

    from privacy_checks.fileio import atomic_write_bytes

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
