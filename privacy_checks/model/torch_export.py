"""``torch.export`` programs (``.pt2``), with the architecture, input spec and labels in the
archive's privacy_checks.json when privacy-checks wrote it (else from thresholds.yaml ``model:``)."""

from __future__ import annotations

import contextlib
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from privacy_checks.errors import PrivacyInputError
from privacy_checks.model import zoo
from privacy_checks.model.export_shapes import check_input_shape
from privacy_checks.model.files import unreadable
from privacy_checks.model.forward_errors import exception_line
from privacy_checks.model.loading import (
    EXPORT_METADATA,
    archive_metadata,
    build_architecture,
    metadata_spec_and_labels,
)
from privacy_checks.model.target import Target

if TYPE_CHECKING:
    from privacy_checks.config import ModelSettings


class PickledCode(Exception):
    """The archive holds a pickle that is not plain tensors and containers."""


def load_export(
    path: Path, fingerprint: str, model_config: ModelSettings | None, trust_checkpoint: bool = False
) -> Target:
    extra = {EXPORT_METADATA: ""}
    try:
        with contextlib.nullcontext() if trust_checkpoint else _weights_only_unpickling():
            program = torch.export.load(str(path), extra_files=extra)
    except PickledCode as exc:
        raise PrivacyInputError(
            f"{path}: the torch.export archive holds pickled objects that are not plain tensors ({exc}); "
            "unpickling them could run code from the file, so it was not loaded. Export the model again "
            "with torch.export.save from plain tensors, or, if you trust this file, pass "
            "--privacy-trust-checkpoint."
        ) from None
    except Exception as exc:
        if not zipfile.is_zipfile(path):
            raise unreadable(path, exc) from None
        raise PrivacyInputError(
            f"cannot read torch.export program {path}: {exception_line(exc)}. Was it written by torch.export.save "
            "with this torch version or an older one?"
        ) from None
    meta = archive_metadata(extra, path)
    spec, labels = metadata_spec_and_labels(meta, model_config, path)
    check_input_shape(program, spec, path)
    # unflatten restores the original module hierarchy, so forward hooks see named layers.
    try:
        module = torch.export.unflatten(program)
    except Exception as exc:
        raise PrivacyInputError(
            f"{path}: its layers cannot be recovered from the torch.export program ({exception_line(exc)}); "
            "export it again with torch.export.export of the whole nn.Module, or save a state_dict."
        ) from None
    architecture = meta.get("architecture", "torch.export")
    architecture = architecture if isinstance(architecture, str) else "torch.export"
    reference = None
    if architecture in zoo.names():
        where = f"{path} {EXPORT_METADATA} arch_kwargs"
        reference = build_architecture(architecture, meta.get("arch_kwargs", {}), where)
    return Target(module, architecture, spec, labels, fingerprint, path, "torch.export", reference)


@contextlib.contextmanager
def _weights_only_unpickling() -> Iterator[None]:
    """While torch.export.load runs: every torch.load it makes is weights-only (it asks for
    weights_only=False for pickled weights and constants, and falls back to it for sample inputs),
    and its plain-pickle paths (opaque and custom objects) are refused. Process-wide for the
    duration of one load, which is synchronous."""
    from torch.export.pt2_archive import _package

    real_load = torch.load

    def weights_only_load(*args: Any, **kwargs: Any) -> Any:
        kwargs["weights_only"] = True
        try:
            return real_load(*args, **kwargs)
        except Exception as exc:
            if "weights only load failed" in str(exc).lower():
                named = re.search(r"GLOBAL ([\w.]+)", str(exc))
                raise PickledCode(
                    f"it names {named.group(1)}" if named else "an object torch refuses to load safely"
                ) from None
            raise

    def refuse(*_: Any, **__: Any) -> Any:
        raise PickledCode("a pickled custom or opaque object")

    class NoPickle:
        loads = staticmethod(refuse)

    patches = [
        (torch, "load", weights_only_load),
        (_package, "pickle", NoPickle),
        (torch._C, "_pickle_load_obj", refuse),
    ]
    saved = [(owner, name, getattr(owner, name)) for owner, name, _ in patches]
    try:
        for owner, name, value in patches:
            setattr(owner, name, value)
        yield
    finally:
        for owner, name, value in saved:
            setattr(owner, name, value)
