"""``torch.export`` programs (``.pt2``), with the architecture, input spec and labels in the
archive's privacy_checks.json when privacy-checks wrote it (else from thresholds.yaml ``model:``)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import torch

from privacy_checks.errors import PrivacyInputError
from privacy_checks.model import zoo
from privacy_checks.model.loading import EXPORT_METADATA, archive_metadata, first_line, metadata_spec_and_labels
from privacy_checks.model.target import Target

if TYPE_CHECKING:
    from privacy_checks.config import ModelSettings


def load_export(path: Path, fingerprint: str, model_config: ModelSettings | None) -> Target:
    extra = {EXPORT_METADATA: ""}
    try:
        program = torch.export.load(str(path), extra_files=extra)
    except Exception as exc:
        raise PrivacyInputError(f"cannot read torch.export program {path}: {first_line(exc)}") from None
    meta = archive_metadata(extra)
    spec, labels = metadata_spec_and_labels(meta, model_config, path)
    # unflatten restores the original module hierarchy, so forward hooks see named layers.
    module = torch.export.unflatten(program)
    architecture = meta.get("architecture", "torch.export")
    reference = None
    if architecture in zoo.names():
        reference = zoo.build(architecture, **dict(meta.get("arch_kwargs", {})))
    return Target(module, architecture, spec, labels, fingerprint, path, "torch.export", reference)
