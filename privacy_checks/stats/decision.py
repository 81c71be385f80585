"""Pass/fail decision of one leakage estimate against its limit (DESIGN.md §3).

The decision-rule names live here, once: ``thresholds.yaml`` ``limits.rule`` takes one of them.
"""

from __future__ import annotations

from dataclasses import dataclass

from privacy_checks.errors import PrivacyInputError
from privacy_checks.stats.leakage import LeakageEstimate

RULE_POINT = "point"  # the point estimate
RULE_CI_LOW = "ci_low"  # the interval's lower bound: fail only when leakage is clearly above the limit
RULE_CI_HIGH = "ci_high"  # the interval's upper bound: pass only when leakage is clearly below the limit
DECISION_RULES = (RULE_POINT, RULE_CI_LOW, RULE_CI_HIGH)


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
