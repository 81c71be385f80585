"""The target model T: loading a checkpoint of any supported format, its layers, and the reference
architectures (``zoo``).

Modules: ``loader`` (``load_target``: which format reader a file goes to), one reader per format
(``checkpoint``: the project's own, also ``save_checkpoint``; ``state_dict``: weights + a factory
from thresholds.yaml; ``torch_export``: .pt2 programs; ``pickled``: a whole pickled module, only
when trusted; ``torchscript``), ``loading`` (what the readers share), ``target`` (``Target``),
``layers`` (split points, shapes, ``representation``), ``multitask`` (per-task outputs).
"""

from __future__ import annotations

from privacy_checks.model import zoo
from privacy_checks.model.checkpoint import CHECKPOINT_FORMAT, CHECKPOINT_VERSION, save_checkpoint
from privacy_checks.model.layers import SKIPPED_LEAVES, representation
from privacy_checks.model.loader import load_target
from privacy_checks.model.loading import EXPORT_METADATA, metadata_spec_and_labels
from privacy_checks.model.multitask import MultiTask, multitask_from_tail
from privacy_checks.model.target import Target
from privacy_checks.model.torchscript import save_torchscript

__all__ = [
    "CHECKPOINT_FORMAT",
    "CHECKPOINT_VERSION",
    "EXPORT_METADATA",
    "SKIPPED_LEAVES",
    "MultiTask",
    "Target",
    "load_target",
    "metadata_spec_and_labels",
    "multitask_from_tail",
    "representation",
    "save_checkpoint",
    "save_torchscript",
    "zoo",
]
