"""Attackers: heads that read an intercepted representation, and their cross-validated training."""

from privacy_checks.attackers.heads import build_head
from privacy_checks.attackers.names import LINEAR_PROBE, TAIL_CLONE
from privacy_checks.attackers.training import cross_validated_predictions, transfer_predictions

__all__ = ["LINEAR_PROBE", "TAIL_CLONE", "build_head", "cross_validated_predictions", "transfer_predictions"]
