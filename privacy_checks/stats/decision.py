"""Decision of one leakage estimate against its limit (docs/design.md §3).

The decision-rule names are declared in ``config.limits`` (``thresholds.yaml`` ``limits.rule``).
``point``, ``ci_low`` and ``ci_high`` compare one number with the limit: passed or failed.
``interval`` compares the whole interval of the excess and has three outcomes: failed when it lies
wholly above the limit, passed only when it lies wholly within it, inconclusive when it straddles
the limit; an inconclusive decision says roughly how many speakers would settle it. A reading
below chance has its upper end raised by its distance below chance first (see the function).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from privacy_checks.config.limits import RULE_CI_HIGH, RULE_CI_LOW, RULE_INTERVAL, RULE_POINT
from privacy_checks.config.limits import RULES as DECISION_RULES
from privacy_checks.errors import PrivacyInputError
from privacy_checks.stats.leakage import LeakageEstimate

PASSED, FAILED, INCONCLUSIVE = "passed", "failed", "inconclusive"


@dataclass(frozen=True)
class Decision:
    status: str  # PASSED | FAILED, and INCONCLUSIVE under the interval rule
    rule: str  # one of DECISION_RULES
    compared_excess: float  # the excess the rule compares: point, or a CI bound minus chance (interval: point)
    max_excess: float
    # Interval rule only: the interval of the excess it compared (always holding the point excess)
    excess_low: float | None = None
    excess_high: float | None = None
    # Inconclusive only: a rough number of speakers that would decide it (None: more cannot tell)
    speakers_needed: int | None = None
    reason: str = ""  # why an interval decision is inconclusive, in words

    @property
    def exceeds(self) -> bool:
        """The estimate is over the limit by the rule: the item fails."""
        return self.status == FAILED

    @property
    def inconclusive(self) -> bool:
        return self.status == INCONCLUSIVE


def decide(estimate: LeakageEstimate, max_excess: float, rule: str) -> Decision:
    """Fail when the rule's excess over chance is strictly above ``max_excess``; under
    ``interval``, pass only when the interval's upper end is within it (see the module doc)."""
    if rule == RULE_INTERVAL:
        return _decide_on_interval(estimate, max_excess)
    compared = {
        RULE_POINT: estimate.excess,
        RULE_CI_LOW: estimate.excess_low,
        RULE_CI_HIGH: estimate.excess_high + below_chance(estimate.excess),  # as strict as interval's end
    }
    if rule not in compared:
        raise PrivacyInputError(
            f"decision rule {rule!r} is unknown: use one of {', '.join(DECISION_RULES)} in thresholds.yaml"
        )
    status = FAILED if above(compared[rule], max_excess) else PASSED
    return Decision(status=status, rule=rule, compared_excess=compared[rule], max_excess=max_excess)


def above(excess: float, max_excess: float) -> bool:
    """`excess` strictly above the limit, to 9 decimals: float noise (0.6 - 0.5 is 0.09999999999999998)
    must not decide an interval ending on the limit one way on one corpus and the other on the next."""
    return round(excess - max_excess, 9) > 0


def below_chance(excess: float) -> float:
    """How far a reading lies below chance (0 when it does not): the least the estimate is off by.

    An attacker guesses no worse than chance in expectation, so a reading below chance is the
    estimate's own error (few speakers per fold, anti-learning), and an error that large could as
    well hide leakage: the upper ends that pass an item are raised by it.
    """
    return max(0.0, -excess)


def _decide_on_interval(estimate: LeakageEstimate, max_excess: float) -> Decision:
    point = estimate.excess
    # Widened to hold the point: a point excess above the limit must never pass.
    low, high = min(estimate.excess_low, point), max(estimate.excess_high, point)
    deficit = below_chance(point)
    high += deficit

    def outcome(status: str, speakers_needed: int | None = None, reason: str = "") -> Decision:
        return Decision(status, RULE_INTERVAL, point, max_excess, low, high, speakers_needed, reason)

    if not all(math.isfinite(v) for v in (point, low, high, max_excess)):
        return outcome(
            INCONCLUSIVE,
            reason=f"the estimate is not a number (excess {point}, interval [{low}, {high}]): nothing was measured",
        )
    if above(low, max_excess):
        return outcome(FAILED)
    if not above(high, max_excess):
        return outcome(PASSED)
    needed = speakers_to_decide(point, low, high, max_excess, estimate.n_speakers)
    more = (
        f"roughly {needed} speakers (now {estimate.n_speakers}) would decide it"
        if needed is not None
        else "the estimate sits on the limit, so more speakers alone may not decide it"
    )
    raised = (
        f" (its upper end raised by {deficit:.3f}, the reading's distance below chance: an estimate that far"
        " under chance is off by at least as much, which could as well hide leakage)"
        if deficit > 0
        else ""
    )
    return outcome(
        INCONCLUSIVE,
        needed,
        f"the {estimate.metric} excess {point:+.3f} has interval [{low:+.3f}, {high:+.3f}]{raised}, which "
        f"straddles the limit {max_excess:.3f}; {more}",
    )


def speakers_to_decide(point: float, low: float, high: float, max_excess: float, n_speakers: int) -> int | None:
    """Rough number of speakers whose interval would clear the limit, the estimate staying put.

    Rough by design: it assumes the interval's half-width on the limit's side shrinks as
    1/sqrt(speakers) around an unchanged point estimate, so n * (half-width / distance)^2 speakers
    bring that end to the limit. None when the point sits on (or within a millionth of a
    half-width of) the limit: no number of speakers decides it, by this reckoning.
    """
    distance = abs(point - max_excess)
    if distance == 0:
        return None
    half_width = point - low if point > max_excess else high - point
    ratio = half_width / distance
    if ratio > 1e6:  # over 10^12 times the speakers: no count worth printing (and no overflow)
        return None
    return max(n_speakers + 1, math.ceil(n_speakers * ratio**2))
