"""The public pretrained weights an intercept attacker's copy of T starts from (model.base_checkpoint)."""

from __future__ import annotations

from pathlib import Path

from privacy_checks.errors import PrivacyInputError
from privacy_checks.model import Target, load_target


def load_base_checkpoint(path: Path, target: Target) -> Target:
    """A checkpoint of T's own architecture: the weights T was fine-tuned from."""
    if not path.is_file():
        raise PrivacyInputError(
            f"model.base_checkpoint: {path} does not exist; give the path to the pretrained "
            "weights (a privacy-checks checkpoint), relative to thresholds.yaml."
        )
    try:
        base = load_target(path)
    except PrivacyInputError as exc:
        raise PrivacyInputError(f"model.base_checkpoint: {exc}") from None
    if base.architecture != target.architecture:
        raise PrivacyInputError(
            f"model.base_checkpoint {path}: architecture {base.architecture!r} is not the audited model's "
            f"{target.architecture!r}; name the pretrained weights T was fine-tuned from."
        )
    return base
