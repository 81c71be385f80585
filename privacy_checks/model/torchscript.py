"""TorchScript checkpoints, intercepted without hooks on the ScriptModule.

Forward hooks on a loaded ScriptModule never run: its compiled forward calls the submodules inside
the graph. So the audit gets in another way:

1. An archive that names a zoo architecture (``privacy-checks train --format torchscript`` stores
   ``privacy_checks.json`` inside): the eager architecture is rebuilt and given the archive's
   weights, and must reproduce the archive's outputs on a probe input.
2. Any other archive: the module runs as a chain of its children (Sequential containers opened up),
   each called from Python through a plain wrapper that hooks can see, under the children's own
   names (``features.3``); a map reaching a Linear is flattened first, as forward methods do. The
   chain must reproduce the archive's output on a probe input; a residual, branching or reshaping forward
   does not, and then no layer can be intercepted: the error says so and names the fixes.
"""

from __future__ import annotations

import io
import json
import warnings
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from privacy_checks.errors import PrivacyInputError
from privacy_checks.features import FeatureSpec
from privacy_checks.fileio import atomic_write_bytes
from privacy_checks.model import zoo
from privacy_checks.model.forward_errors import forward_errors
from privacy_checks.model.layers import SKIPPED_LEAF_KINDS, representation
from privacy_checks.model.loading import (
    EXPORT_METADATA,
    RESAVE_FIX,
    archive_metadata,
    build_architecture,
    first_line,
    load_weights,
    metadata_spec_and_labels,
)
from privacy_checks.model.target import Target

if TYPE_CHECKING:
    from privacy_checks.config import ModelSettings


class ScriptStep(nn.Module):
    """One child of a ScriptModule, called from Python. The scripted module is held outside the
    module tree so this wrapper is a leaf (where layer tracing and interception hook in)."""

    def __init__(self, scripted, kind: str):
        super().__init__()
        self._scripted = (scripted,)
        self.kind = kind  # the child's original class name, e.g. Conv2d

    def forward(self, x):
        return self._scripted[0](x)

    def _apply(self, fn, recurse=True):  # .to(device) and friends reach the scripted weights
        self._scripted[0]._apply(fn)
        return super()._apply(fn, recurse)

    def extra_repr(self) -> str:
        return f"scripted {self.kind}"


class ScriptChain(nn.Module):
    """A ScriptModule's children run in order, under their own dotted names."""

    rebuildable = False  # no fresh copy of an unknown architecture can be made from this

    def __init__(self, scripted):
        super().__init__()
        self.order: list[str] = []
        for name, child in _flatten(scripted, ""):
            self._place(name, ScriptStep(child, child.original_name))
            self.order.append(name)

    def _place(self, dotted: str, step: nn.Module) -> None:
        parent: nn.Module = self
        *path, leaf = dotted.split(".")
        for part in path:
            if not hasattr(parent, part):
                parent.add_module(part, nn.Module())
            parent = getattr(parent, part)
        parent.add_module(leaf, step)

    def forward(self, x):
        for name in self.order:
            step = self.get_submodule(name)
            if step.kind == "Linear" and x.dim() > 2:  # the torch.flatten(x, 1) of a forward method
                x = x.flatten(1)
            x = step(x)
        return x

    def split_points(self) -> tuple[str, ...]:
        """The children an attacker may intercept. Only their names: not `candidate_layers`, which
        would declare them read in the conventional layout; what an unknown child's axes mean (a
        Conv1d's (C, T), a GRU's (T, H)) the layout survey finds by running the chain."""
        return tuple(n for n in self.order if self.get_submodule(n).kind not in SKIPPED_LEAF_KINDS)


def _flatten(module: Any, prefix: str) -> Iterator[tuple[str, Any]]:
    for name, child in module.named_children():
        dotted = f"{prefix}{name}"
        if child.original_name == "Sequential":
            yield from _flatten(child, dotted + ".")
        else:
            yield dotted, child


def is_torchscript(path: Path) -> bool:
    if not zipfile.is_zipfile(path):
        return False
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, UnicodeDecodeError, ValueError, OSError):
        return False  # a damaged archive (a member name not UTF-8...): torch.load reports it with the file's name
    return any(n.split("/", 1)[-1].startswith(("code/", "constants.pkl")) for n in names)


def load_torchscript(path: Path, fingerprint: str, model_config: ModelSettings | None) -> Target:
    extra = {EXPORT_METADATA: ""}
    try:
        with warnings.catch_warnings():  # torch deprecates TorchScript; users still ship it
            warnings.simplefilter("ignore", DeprecationWarning)
            scripted = torch.jit.load(str(path), map_location="cpu", _extra_files=extra)
    except Exception as exc:
        raise PrivacyInputError(f"cannot read TorchScript archive {path}: {first_line(exc)}") from None
    meta = archive_metadata(extra, path)
    spec, labels = metadata_spec_and_labels(meta, model_config, path)
    scripted.eval()
    probe = torch.randn((2, *spec.shape), generator=torch.Generator().manual_seed(0))
    with torch.inference_mode(), forward_errors(path, f"checking the archive on a batch of {tuple(probe.shape)}"):
        expected = representation(scripted(probe))
    architecture = meta.get("architecture")
    if architecture in zoo.names():
        module = build_architecture(architecture, meta.get("arch_kwargs", {}), f"{path} {EXPORT_METADATA} arch_kwargs")
        load_weights(module, scripted.state_dict(), path, RESAVE_FIX)
        module.eval()
        if not _same(module, probe, expected):
            raise PrivacyInputError(
                f"{path}: its weights in the {architecture!r} architecture it names do not reproduce its own "
                "outputs; re-save it with privacy-checks train --format torchscript."
            )
        return Target(module, architecture, spec, labels, fingerprint, path, "torchscript")
    chain = ScriptChain(scripted).eval()
    if not chain.order or not _same(chain, probe, expected):
        children = ", ".join(chain.order) or "none"
        raise PrivacyInputError(
            f"{path}: no layer of this TorchScript module ({scripted.original_name}) can be intercepted: hooks "
            f"do not run inside compiled code, and running its children in order ({children}) does not "
            "reproduce its output: its forward does more than pass each child's output to the next (a residual or "
            "a branch, or a reshape, transpose or framing between two children). Save a state_dict with "
            "model.factory in thresholds.yaml, or export it with torch.export (.pt2) with the input's time axis "
            "dynamic (dynamic_shapes), so that the audit can find each layer's time axis."
        )
    return Target(
        chain,
        f"torchscript:{scripted.original_name}",
        spec,
        labels,
        fingerprint,
        path,
        "torchscript",
        split_points=chain.split_points(),
    )


def _same(module: nn.Module, probe: torch.Tensor, expected: torch.Tensor | None) -> bool:
    """`module` reproduces the archive's output `expected` (None: the archive returned no tensor)."""
    try:
        with torch.inference_mode():
            got = representation(module(probe))
    except Exception:  # the chain may not even run (a child that takes two inputs)
        return False
    if got is None or expected is None:
        return False
    return got.shape == expected.shape and torch.allclose(got, expected, rtol=1e-4, atol=1e-5)


def save_torchscript(
    model: nn.Module, spec: FeatureSpec, out: Path, arch: str, labels: Sequence[str], arch_kwargs: Mapping[str, Any]
) -> None:
    """A traced archive with the input spec and zoo architecture inside (atomic write)."""
    example = torch.zeros((2, *spec.shape))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        traced = torch.jit.trace(model.eval(), example, check_trace=False)
    meta = json.dumps(
        {"architecture": arch, "arch_kwargs": dict(arch_kwargs), "input_spec": spec.as_dict(), "labels": list(labels)}
    )
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.save(traced, buffer, _extra_files={EXPORT_METADATA: meta})
    atomic_write_bytes(out, buffer.getvalue())
