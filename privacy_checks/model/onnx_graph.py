"""What an ONNX graph offers the audit, read without running it: its one input checked against the
input spec, external data files that stay inside the model's folder, and the split points.

Split points are named by the torch module scope the exporter recorded, where it left one: the
``torch.onnx.export(dynamo=True)`` exporter writes each node's module path in the node's
``pkg.torch.onnx.name_scopes`` metadata; the TorchScript-based exporter (``dynamo=False``) names
nodes ``/features/features.3/Relu``. A module's output is the first output of the last node
computed within its scope (nodes that do not depend on the input, such as shape constants, do not
count); a module whose computation leaves its scope and comes back (one module called twice: its
output goes through another module into it again), or, from the TorchScript-based exporter, a
scope ``act`` beside ``act_1`` (its name for a second call), is left out, and so is an output that
is not floating point (a shape, a mask): each is listed with the reason (``GraphPoints.dropped``,
shown by ``privacy-checks layers`` as not a split point). Nodes outside a scope that exporters
place between its nodes without a data path through them (a mask computed at the top level) do
not split it. A graph without scopes (built by hand, or by another framework) offers each node's
first output, named after the node. Order: where each output is computed, a block after its last child.

onnx is imported by the caller (model/onnx_model.py); this module only reads its protobufs."""

from __future__ import annotations

import ast
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from privacy_checks.errors import PrivacyInputError
from privacy_checks.features import FeatureSpec

NAME_SCOPES = "pkg.torch.onnx.name_scopes"  # the dynamo exporter's node metadata
CONTROL_FLOW = frozenset({"If", "Loop", "Scan"})
FLOAT_TYPES = {1: "float32", 10: "float16", 11: "float64", 16: "bfloat16"}  # TensorProto elem types
OTHER_TYPES = {2: "uint8", 3: "int8", 4: "uint16", 5: "int16", 6: "int32", 7: "int64", 8: "string", 9: "bool"}
REEXPORT = (
    "export it again with a dynamic batch axis: torch.onnx.export(model, (example,), 'model.onnx', "
    'input_names=["input"], dynamic_axes={"input": {0: "batch"}}) (or, with dynamo=True, '
    'dynamic_shapes=({0: torch.export.Dim("batch")},))'
)
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9_-]+")


@dataclass(frozen=True)
class SplitPoint:
    name: str  # a module path (``features.3``) or a node's name made safe for test ids
    tensor: str  # the graph value it reads
    depth: int  # scope depth (0 for a node split point): a block after its children on ties


@dataclass(frozen=True)
class GraphPoints:
    """The split points a graph offers, and the module scopes (or nodes) it offers none for."""

    points: list[SplitPoint]
    dropped: dict[str, str]  # name -> why it is not a split point, in graph order


def graph_input(graph: Any, spec: FeatureSpec, path: Path) -> tuple[str, int]:
    """(name, element type) of the graph's one input; PrivacyInputError unless it takes one float
    tensor with a dynamic batch axis whose other fixed axes are those of `spec`."""
    initializers = {tensor.name for tensor in graph.initializer}
    inputs = [value for value in graph.input if value.name not in initializers]
    if len(inputs) != 1:
        raise PrivacyInputError(
            f"{path}: the ONNX graph takes {len(inputs)} inputs ({', '.join(v.name for v in inputs) or 'none'}); "
            "the audit calls the model with one tensor (a batch of the features model.input describes). Export "
            "a module whose forward takes that one tensor."
        )
    value = inputs[0]
    tensor_type = value.type.tensor_type if value.type.HasField("tensor_type") else None
    if tensor_type is None or tensor_type.elem_type not in FLOAT_TYPES:
        raise PrivacyInputError(
            f"{path}: the ONNX graph's input {value.name!r} is not a floating-point tensor; the audit feeds the "
            "model a float tensor of features. Export the model on float input."
        )
    if not tensor_type.HasField("shape"):
        return value.name, tensor_type.elem_type  # no shape recorded: onnxruntime says what does not fit
    dims: list[int | None] = [dim.dim_value if dim.HasField("dim_value") else None for dim in tensor_type.shape.dim]
    shown = "(" + ", ".join("dynamic" if dim is None else str(dim) for dim in dims) + ")"
    if len(dims) != 1 + len(spec.shape):
        raise PrivacyInputError(
            f"{path}: the ONNX graph takes inputs of shape {shown}, but the input spec ({spec.kind}, layout "
            f"{spec.layout}) gives (batch, {', '.join(map(str, spec.shape))}); check model.input in "
            "thresholds.yaml (kind and layout) or export the model on that input."
        )
    if dims[0] is not None:
        raise PrivacyInputError(
            f"{path}: the ONNX graph fixes the batch size at {dims[0]} (input {value.name!r} of shape {shown}), "
            f"but the audit runs it on batches of other sizes; {REEXPORT}."
        )
    for axis, (got, want) in enumerate(zip(dims[1:], spec.shape), start=1):
        if got is not None and got != want:
            raise PrivacyInputError(
                f"{path}: the ONNX graph fixes input axis {axis} at {got} (input shape {shown}), but the input "
                f"spec gives {want} there (per example {tuple(spec.shape)}: {spec.kind}, {spec.duration_s:g} s "
                "clips). Set model.input in thresholds.yaml (duration_s for the time axis, n_mels for the mel "
                "bins) to what the model was exported on, or export it with that axis dynamic."
            )
    return value.name, tensor_type.elem_type


def check_external_data(model: Any, path: Path) -> list[Path]:
    """The data files the model keeps tensors in (sorted, each once); PrivacyInputError for a tensor
    stored outside the model file whose data file is not a regular file inside the model's folder:
    an absolute path, one that leads out of the folder (``../../etc/passwd``), a symbolic link or a
    missing file. Nothing is read before this passes."""
    folder = path.parent.resolve()
    files: set[Path] = set()
    for tensor in _all_tensors(model.graph):
        if tensor.data_location != 1:  # TensorProto.EXTERNAL
            continue
        location = next((entry.value for entry in tensor.external_data if entry.key == "location"), "")
        where = f"{path}: tensor {tensor.name!r} keeps its data in another file ({location!r})"
        file = folder / location
        if not location or os.path.isabs(location) or not _inside(file, folder):
            raise PrivacyInputError(
                f"{where}, which lies outside the model's folder {folder}; an ONNX file may only refer to data "
                "files beside it, so it was not loaded. Export the model again with its data inside the file "
                "(or in a file next to it), e.g. onnx.save(model, 'model.onnx', save_as_external_data=False)."
            )
        if any(part.is_symlink() for part in [file, *file.parents] if _inside(part, folder) and part != folder):
            raise PrivacyInputError(
                f"{where}, which is a symbolic link; data files of an ONNX model must be regular files in its "
                "folder, so it was not loaded. Copy the data file there in place of the link."
            )
        if not file.is_file():
            raise PrivacyInputError(
                f"{where}, which does not exist in {folder}; copy the model's data files next to it (onnx.save "
                "with save_as_external_data writes them beside the .onnx file)."
            )
        files.add(file.resolve())
    return sorted(files)


def split_points(graph: Any, input_name: str, types: dict[str, int], path: Path) -> GraphPoints:
    """The graph's split points in the order their outputs are computed, and those it leaves out
    with the reason (see the module doc); `types` maps value names to their element types where
    shape inference found them."""
    depends = _input_dependent(graph, input_name)
    nodes = [node for node in graph.node if any(out in depends for out in node.output)]
    _check_control_flow(nodes, path)
    scopes = [_scopes(node) for node in nodes]
    order = {node_output: index for index, node in enumerate(nodes) for node_output in node.output[:1]}
    dropped: dict[str, tuple[int, str]] = {}  # name -> (where in the graph, why)
    if any(scopes):
        points = _scope_points(nodes, scopes, dropped)
        if not any(prop.key == NAME_SCOPES for node in nodes for prop in node.metadata_props):
            points = _without_repeated_calls(points, order, dropped)
    else:
        points = _node_points(nodes)
    floats = []
    for point in points:
        kind = types.get(point.tensor)
        if kind is None or kind in FLOAT_TYPES:
            floats.append(point)
        else:
            shown = OTHER_TYPES.get(kind, f"of ONNX element type {kind}")
            dropped[point.name] = (order[point.tensor], f"its output is {shown}, not floating point: not an activation")
    kept = sorted(floats, key=lambda p: (order[p.tensor], -p.depth))
    return GraphPoints(kept, {name: why for name, (_at, why) in sorted(dropped.items(), key=lambda kv: kv[1][0])})


def _scope_points(
    nodes: list[Any], scopes: list[tuple[str, ...]], dropped: dict[str, tuple[int, str]]
) -> list[SplitPoint]:
    last: dict[str, int] = {}
    first: dict[str, int] = {}
    for index, node_scopes in enumerate(scopes):
        for scope in node_scopes:
            first.setdefault(scope, index)
            last[scope] = index
    known = [_placed(node) for node in nodes]
    points = []
    for scope, end in last.items():
        detour = _detour(nodes, scopes, known, scope, range(first[scope], end + 1))
        if detour is not None:  # called more than once: no one output
            other = f"{scopes[detour][-1]}'s nodes" if scopes[detour] else f"the node {nodes[detour].name!r}"
            dropped[scope] = (
                end,
                f"its computation in the graph leaves it for {other} and comes back (a module called more than "
                "once per forward, or one that hands work to another module mid-way): it has no one output to read",
            )
            continue
        points.append(SplitPoint(scope, nodes[end].output[0], scope.count(".") + 1))
    return points


def _detour(nodes: list[Any], scopes: list[tuple[str, ...]], known: list[bool], scope: str, span: range) -> int | None:
    """The index of the first node outside `scope` that lies between two of its nodes ON A DATA PATH
    (a value leaves the scope, goes through it, and comes back), else None. A node outside the scope
    that merely sits between its nodes (exporters order independent nodes freely: a mask computed
    at the top level, a shape) does not split it, and a node the exporter recorded no place for (the
    dynamo exporter's decompositions leave some, e.g. the Cast of a floor division) belongs to the
    path it is on."""
    own: set[str] = set()  # values computed inside the scope so far
    detoured: dict[str, int] = {}  # values computed outside it from those -> the first node on that path
    for index in span:
        node = nodes[index]
        outputs = [out for out in node.output if out]
        came_back = next((detoured[name] for name in node.input if name in detoured), None)
        if scope in scopes[index]:
            if came_back is not None:
                return came_back
            own.update(outputs)
        elif not known[index]:  # no recorded place: it carries on the path of its inputs
            if came_back is not None:
                detoured.update((out, came_back) for out in outputs)
            elif any(name in own for name in node.input):
                own.update(outputs)
        elif any(name in own or name in detoured for name in node.input):
            start = came_back if came_back is not None else index
            detoured.update((out, start) for out in outputs)
    return None


def _placed(node: Any) -> bool:
    """Whether the exporter recorded where the node was computed (its scopes, possibly none: the
    model's own forward), as opposed to leaving no trace of its place."""
    return node.name.startswith("/") or any(prop.key == NAME_SCOPES for prop in node.metadata_props)


def _without_repeated_calls(
    points: list[SplitPoint], order: dict[str, int], dropped: dict[str, tuple[int, str]]
) -> list[SplitPoint]:
    """The TorchScript-based exporter names a module's second call ``act_1`` (its first ``act``):
    neither is one module's one output, so both are left out."""
    names = {point.name for point in points}
    repeated = {name for name in names if any(re.fullmatch(re.escape(name) + r"_\d+", other) for other in names)}
    kept = []
    for point in points:
        first = next((name for name in repeated if re.fullmatch(re.escape(name) + r"(_\d+)?", point.name)), None)
        if first is None:
            kept.append(point)
            continue
        reason = (
            f"called more than once per forward (the TorchScript-based exporter names the later calls of {first!r} "
            f"{first}_1, {first}_2, ...): no one call's output is the module's"
            if point.name == first
            else f"the TorchScript-based exporter's name for a later call of {first!r} (a module called more "
            "than once per forward); a module of the model named so cannot be told apart from it in the export"
        )
        dropped[point.name] = (order[point.tensor], reason)
    return kept


def _node_points(nodes: list[Any]) -> list[SplitPoint]:
    points: list[SplitPoint] = []
    taken: set[str] = set()
    for index, node in enumerate(nodes):
        if not node.output or not node.output[0]:
            continue
        base = _UNSAFE_NAME.sub("_", node.name or node.output[0]).strip("_") or f"node_{index}"
        base = base if base[0].isalpha() else f"node_{base}"
        name, suffix = base, 1
        while name in taken:
            suffix += 1
            name = f"{base}_{suffix}"
        taken.add(name)
        points.append(SplitPoint(name, node.output[0], 0))
    return points


def _scopes(node: Any) -> tuple[str, ...]:
    """The module paths a node was computed in, outermost first ('features', 'features.3')."""
    for prop in node.metadata_props:
        if prop.key == NAME_SCOPES:
            try:
                names = ast.literal_eval(prop.value)
            except (ValueError, SyntaxError):
                return ()
            # ['', 'features', 'features.3', 'relu']: the root, the modules, then the node's own name
            return tuple(n for n in names[1:-1] if isinstance(n, str) and n) if isinstance(names, list) else ()
    if not node.name.startswith("/"):
        return ()
    scopes: list[str] = []
    for part in node.name.split("/")[1:-1]:  # '/features/features.3/conv/Conv' -> features, features.3, ...
        parent = scopes[-1] if scopes else ""
        scopes.append(part if not parent or part.startswith(parent + ".") else f"{parent}.{part}")
    return tuple(scopes)


def _check_control_flow(nodes: list[Any], path: Path) -> None:
    for node in nodes:
        if node.op_type in CONTROL_FLOW and any(attr.type == 5 for attr in node.attribute):  # GRAPH
            raise PrivacyInputError(
                f"{path}: the ONNX graph computes part of the model inside a {node.op_type} node "
                f"({node.name or node.op_type}); "
                "tensors inside its subgraph cannot be read as layer outputs. Export the model without "
                "data-dependent control flow (loops unrolled, no torch.cond), or export a .pt2 "
                "(torch.export) or a state_dict instead."
            )


def _input_dependent(graph: Any, input_name: str) -> set[str]:
    depends = {input_name}
    for node in graph.node:
        if any(name in depends for name in node.input):
            depends.update(out for out in node.output if out)
    return depends


def _all_tensors(graph: Any) -> Iterator[Any]:
    yield from graph.initializer
    for sparse in graph.sparse_initializer:
        yield sparse.values
        yield sparse.indices
    for node in graph.node:
        for attr in node.attribute:
            if attr.HasField("t"):
                yield attr.t
            yield from attr.tensors
            if attr.HasField("g"):
                yield from _all_tensors(attr.g)
            for sub in attr.graphs:
                yield from _all_tensors(sub)


def _inside(file: Path, folder: Path) -> bool:
    try:
        file.resolve().relative_to(folder)
    except ValueError:
        return False
    return True
