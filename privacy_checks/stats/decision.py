"""Pass/fail decision of one leakage estimate against its limit (DESIGN.md §3).

The decision-rule names live here, once: ``thresholds.yaml`` ``limits.rule`` takes one of them.
"""

from __future__ import annotations

from dataclasses import dataclass

from privacy_checks.config.limits import RULE_CI_HIGH, RULE_CI_LOW, RULE_POINT
from privacy_checks.config.limits import RULES as DECISION_RULES
from privacy_checks.errors import PrivacyInputError
from privacy_checks.stats.leakage import LeakageEstimate


@dataclass(frozen=True)
class Decision:
    status: str  # "passed" | "failed"
    rule: str  # one of DECISION_RULES
    compared_excess: float  # the excess the rule compares: point, or a CI bound minus chance
    max_excess: float


def decide(estimate: LeakageEstimate, max_excess: float, rule: str) -> Decision:
    """Fail when the rule's excess over chance is strictly above ``max_excess``."""
    compared = {
        RULE_POINT: estimate.excess,
        RULE_CI_LOW: estimate.excess_low,
        RULE_CI_HIGH: estimate.excess_high,
    }
    if rule not in compared:
        raise PrivacyInputError(
            f"decision rule {rule!r} is unknown: use one of {', '.join(DECISION_RULES)} in thresholds.yaml"
        )
    status = "failed" if compared[rule] > max_excess else "passed"
    return Decision(status=status, rule=rule, compared_excess=compared[rule], max_excess=max_excess)
