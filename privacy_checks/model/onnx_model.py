"""ONNX models (``.onnx``) through onnxruntime, the optional extra ``privacy-checks[onnx]``.

The graph's split points (model/onnx_graph.py: torch module scopes where the exporter recorded
them, else nodes) are added to its outputs, and the session runs on the CPU. ``OnnxModule`` wraps
it as an ``nn.Module`` whose submodules are pass-through taps, one per split point, under the split
point's name (``features.3`` is the tap ``3`` inside the scope ``features``): its forward runs the
session and calls each tap on its tensor in the order they are computed, so the engine's forward
hooks read the layer outputs as from any torch model, and layouts come from the same survey. There
is no tail to clone (the convex probe and the generic heads stand in) and no architecture to rebuild.

An ONNX file runs no Python, but it may name external data files: only regular files inside the
model's folder are read (model/onnx_graph.py ``check_external_data``). No custom operator library is
ever registered. The input spec comes from thresholds.yaml ``model.input``, or from the JSON a
project's export stored under the model's ``privacy_checks`` metadata key (the content of a .pt2's
privacy_checks.json; a spec naming code is refused as for .pt2)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from privacy_checks.digests import file_sha256, text_sha256
from privacy_checks.errors import PrivacyInputError
from privacy_checks.model.forward_errors import exception_line
from privacy_checks.model.loading import describe_value, metadata_spec_and_labels
from privacy_checks.model.onnx_graph import (
    FLOAT_TYPES,
    SplitPoint,
    check_external_data,
    graph_input,
    split_points,
)
from privacy_checks.model.target import Target

if TYPE_CHECKING:
    from privacy_checks.config import ModelSettings

METADATA_KEY = "privacy_checks"  # model metadata_props key: the JSON a .pt2 keeps in privacy_checks.json
INSTALL = "pip install 'privacy-checks[onnx]'"
# Where a session built from bytes finds the external data files (onnxruntime >= 1.20)
EXTERNAL_DATA_FOLDER = "session.model_external_initializers_file_folder_path"


class OnnxTap(nn.Sequential):
    """A split point's output, passed through so that forward hooks see it; a Sequential so that a
    scope holding other split points (a block) is a split point too. Never runs its children."""

    def forward(self, value: torch.Tensor) -> torch.Tensor:
        return value


class OnnxScope(nn.ModuleDict):
    """A module path with no output of its own in the graph: only holds taps (no forward)."""


class OnnxModule(nn.Module):
    """An onnxruntime session as a torch module: ``forward(x)`` returns the graph's first output
    and passes every split point's tensor through its tap. ``untapped``: the split points whose name
    cannot be placed in the module tree, with the reason."""

    rebuildable = False  # no architecture to re-initialise (Target.fresh_model)

    def __init__(self, session: Any, input_name: str, input_type: int, output: str, points: list[SplitPoint]):
        super().__init__()
        self._session = session
        self._input_name = input_name
        self._input_dtype = np.dtype(FLOAT_TYPES[input_type]) if input_type != 16 else np.dtype(np.float32)
        self._output = output
        self.untapped: dict[str, str] = {}
        self._points = [point for point in points if self._add_tap(point.name, {p.name for p in points})]
        self._fetch = list(dict.fromkeys([output, *(point.tensor for point in self._points)]))

    def _add_tap(self, name: str, names: set[str]) -> bool:
        """Place the tap for `name` in the module tree; False (the reason in ``untapped``) where a
        part of the name cannot be a submodule name (empty, or it clashes with an attribute such as
        ``forward``)."""
        owner: nn.Module = self
        parts = name.split(".")
        for depth, part in enumerate(parts):
            path = ".".join(parts[: depth + 1])
            child = owner._modules.get(part)
            if child is None:
                child = OnnxTap() if path in names else OnnxScope()
                try:
                    owner.add_module(part, child)
                except (KeyError, TypeError):
                    self.untapped[name] = (
                        f"its name part {part!r} cannot name a submodule of the audit's module tree (empty, or an "
                        "attribute every module has, such as forward or training); rename the module to audit it"
                    )
                    return False
            owner = child
        if not isinstance(owner, OnnxTap):
            self.untapped[name] = "its scope already holds an output of another split point; rename the module"
            return False
        return True

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        fed = features.detach().cpu().numpy().astype(self._input_dtype, copy=False)
        try:
            values = dict(zip(self._fetch, self._session.run(self._fetch, {self._input_name: fed})))
        except Exception as exc:  # onnxruntime names the offending axis and its sizes after the first line
            raise RuntimeError(f"{type(exc).__name__}: {' '.join(str(exc).split())}") from None
        for point in self._points:
            self.get_submodule(point.name)(_tensor(values[point.tensor], features.device))
        return _tensor(values[self._output], features.device)


def load_onnx(path: Path, fingerprint: str, model_config: ModelSettings | None) -> Target:
    """The Target of an ONNX file; PrivacyInputError naming the file and the fix for anything that
    keeps it from running (onnxruntime missing, external data outside its folder, a fixed batch
    size, no input spec, layers inside control flow, a graph onnxruntime cannot load)."""
    try:
        import onnx
        import onnxruntime
    except ImportError:
        raise PrivacyInputError(
            f"{path} is an ONNX model, which is read with onnxruntime, not installed here: {INSTALL}."
        ) from None
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:
        raise PrivacyInputError(
            f"cannot read ONNX model {path}: {exception_line(exc)}. Was it written completely (torch.onnx.export or "
            "onnx.save)? Export or copy it again."
        ) from None
    data_files = check_external_data(model, path)
    # The weights in external data files stay there: onnxruntime reads them from the model's folder,
    # so the graph handed to it is small (no 2 GB protobuf limit, no second copy of the weights).
    fingerprint = _with_data_files(fingerprint, data_files)
    spec, labels = metadata_spec_and_labels(_metadata(model, path), model_config, path)
    input_name, input_type = graph_input(model.graph, spec, path)
    types = _value_types(onnx, model)
    found = split_points(model.graph, input_name, types, path)
    points = found.points
    if not model.graph.output:
        raise PrivacyInputError(f"{path}: the ONNX graph has no outputs; export the model with its logits as output.")
    output = model.graph.output[0].name
    known = {value.name for value in model.graph.output}
    for point in points:
        if point.tensor not in known:
            known.add(point.tensor)
            model.graph.output.append(
                onnx.helper.make_tensor_value_info(point.tensor, types.get(point.tensor, 1), None)
            )
    session = _session(onnxruntime, model, path, external_data=bool(data_files))
    module = OnnxModule(session, input_name, input_type, output, points)
    exclusions = {**found.dropped, **module.untapped}
    return Target(module.eval(), "onnx", spec, labels, fingerprint, path, "onnx", exclusions=exclusions)


def _metadata(model: Any, path: Path) -> dict[str, Any]:
    text = next((prop.value for prop in model.metadata_props if prop.key == METADATA_KEY), "")
    if not text:
        return {}
    where = f"{path}: its metadata {METADATA_KEY!r}"
    try:
        meta = json.loads(text)
    except ValueError as exc:
        raise PrivacyInputError(f"{where} is not valid JSON ({exc}); export the model again.") from None
    if not isinstance(meta, dict):
        raise PrivacyInputError(
            f"{where} holds {describe_value(meta)}; expected a JSON object with input_spec and labels."
        )
    return meta


def _value_types(onnx: Any, model: Any) -> dict[str, int]:
    """Value name -> element type, where shape inference finds it (an empty map where it fails)."""
    try:
        inferred = onnx.shape_inference.infer_shapes(model)
    except Exception:  # a graph shape inference cannot follow: onnxruntime still knows the types
        return {}
    values = [*inferred.graph.value_info, *inferred.graph.output, *inferred.graph.input]
    return {v.name: v.type.tensor_type.elem_type for v in values if v.type.HasField("tensor_type")}


def _with_data_files(fingerprint: str, data_files: list[Path]) -> str:
    """The model's fingerprint covering its external data files too: new weights in a data file
    beside an unchanged .onnx must not reuse the old layer outputs."""
    if not data_files:
        return fingerprint
    parts = [fingerprint, *(f"{file.name}:{file_sha256(file)}" for file in data_files)]
    return text_sha256("|".join(parts))


def _session(onnxruntime: Any, model: Any, path: Path, external_data: bool) -> Any:
    """A CPU session on `model` (read from `path`); `external_data` files are read from path's folder."""
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3  # errors only: the audit reports what matters in its own words
    options.intra_op_num_threads = max(1, torch.get_num_threads())
    if external_data:
        options.add_session_config_entry(EXTERNAL_DATA_FOLDER, str(path.parent.resolve()))
    try:
        serialised = model.SerializeToString()
        return onnxruntime.InferenceSession(serialised, options, providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise PrivacyInputError(
            f"{path}: onnxruntime cannot load the model: {exception_line(exc)}. Custom operators are not "
            "supported (no operator library is ever loaded from a model); export the model with standard ONNX "
            "operators, or export a .pt2 (torch.export) or a state_dict instead."
        ) from None


def _tensor(value: Any, device: torch.device) -> torch.Tensor:
    array = np.asarray(value)
    if array.dtype == np.float16 or array.dtype == np.float64:
        array = array.astype(np.float32)
    return torch.from_numpy(np.ascontiguousarray(array)).to(device)
