"""From an item's readings to its status (docs/design.md §4): each reading's estimate against the
limit, combined so that the strongest attacker decides; then the two things that can overrule a pass:
no attacker with power makes it inconclusive, and a rise against the baseline fails an item even
under its limit."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from privacy_checks import stats
from privacy_checks.config import PrivacyConfig
from privacy_checks.engine.baseline import Baseline, Regression
from privacy_checks.engine.domain import AuditCase
from privacy_checks.engine.readings import Reading
from privacy_checks.engine.results import FAILED, INCONCLUSIVE, PASSED, ControlResult, Status
from privacy_checks.threat_model import BUDGETS, CONVEX_PROBE


@dataclass(frozen=True)
class Verdict:
    status: Status  # passed | failed | inconclusive
    reading: Reading  # the reading that decided: the item's exposure
    decision: stats.Decision  # that reading's estimate against the limit alone
    limit_key: str  # the thresholds.yaml key the limit came from
    reason: str  # why inconclusive, or failed against the baseline ("" otherwise)
    regression: Regression | None  # against the baseline, when it has an entry for the item


@dataclass(frozen=True)
class _Judged:
    reading: Reading
    decision: stats.Decision
    straddles: bool  # the interval straddles the limit


def judge(
    case: AuditCase,
    readings: Sequence[Reading],
    config: PrivacyConfig,
    baseline: Baseline | None = None,
) -> Verdict:
    """The item's status from all its readings (each attacker that read the layer):

    * FAILED when any reading's decision fails (the strongest failing one is the exposure);
    * INCONCLUSIVE when no reading's attacker showed power on its positive control (then no pass
      proves anything; the reason says so first), or when any reading's interval straddles the limit;
    * PASSED only when every reading is within the limit and at least one attacker had power.

    A baseline rise then fails an item even under its limit."""
    if not readings:
        raise ValueError(f"{case.name}: no reading to judge")
    limits = config.limits
    max_excess, key = limits.lookup(case.scenario, case.attacker, case.layer)
    judged = [_judge_one(r, max_excess, limits.rule) for r in readings]
    strongest = max(judged, key=lambda j: j.reading.estimate.leakage)
    failing = [j for j in judged if j.decision.status == FAILED]
    straddling = [j for j in judged if j.straddles]
    # a budget without a per-speaker cap reads every utterance already, and the convex probe reads them
    # at any budget: suggesting thorough for such a reading changes nothing
    uncapped = BUDGETS[config.audit.budget].utterances_per_speaker is None

    def every(j: _Judged) -> bool:
        return uncapped or j.reading.architecture == CONVEX_PROBE

    if failing:
        chosen, status, why = max(failing, key=lambda j: j.reading.estimate.leakage), FAILED, ""
    elif not any(j.reading.control.has_power for j in judged):
        # no attacker could have found gender: the root cause, whatever the intervals say
        chosen, status = strongest, INCONCLUSIVE
        why = no_power_reason([j.reading.control for j in judged])
        if straddling:
            why += "; besides, " + straddle_reason(
                straddling[0].decision, straddling[0].reading.estimate, every(straddling[0])
            )
    elif straddling:
        chosen = max(straddling, key=lambda j: j.reading.estimate.leakage)
        status, why = INCONCLUSIVE, straddle_reason(chosen.decision, chosen.reading.estimate, every(chosen))
    else:
        chosen, status, why = strongest, PASSED, ""
    leakage = chosen.reading.estimate
    regression = None
    if baseline is not None:
        regression = baseline.compare(
            case.name, leakage.leakage, leakage.ci_low, leakage.ci_high, config.baseline.margin
        )
        if regression is not None and regression.regressed and status != FAILED:
            status = FAILED
            why = (
                f"leakage rose from {regression.before:.3f} to {regression.after:.3f} against the baseline "
                f"{baseline.path.name} (+{regression.rise:.3f} > {regression.allowed:.3f}, the {regression.basis})"
            )
    return Verdict(status, chosen.reading, chosen.decision, key, why, regression)


def _judge_one(reading: Reading, max_excess: float, rule: str) -> _Judged:
    decision = stats.decide(reading.estimate, max_excess, rule)
    return _Judged(reading, decision, decision.status == INCONCLUSIVE)


def straddle_reason(decision: stats.Decision, leakage: stats.LeakageEstimate, every_utterance: bool = False) -> str:
    """Why an interval decision is inconclusive (the decision's own words), and what would decide it
    (`every_utterance`: the budget already reads them all, so only more speakers can)."""
    more = (
        f"audit on a corpus of about {decision.speakers_needed} speakers (--privacy-data)"
        if decision.speakers_needed is not None
        else "more speakers alone may not decide it: set the limit for this layer deliberately"
    )
    used = f"{leakage.n_utterances} utterances of {leakage.n_speakers} speakers"
    if every_utterance:
        return f"{decision.reason}. What to do: {more} (this audit used every utterance: {used})"
    return (
        f"{decision.reason}. What to do: {more}, or use every utterance of each speaker "
        f"(--privacy-budget thorough; this audit used {used})"
    )


def no_power_reason(controls: Sequence[ControlResult]) -> str:
    """Why attackers without power prove nothing, and what to add."""
    readings = "; ".join(f"the {c.architecture} on {_control_input(c)} {_shortfall(c)}" for c in controls)
    return (
        f"no power: {readings}, so the audit could not have found leakage here. "
        "What to do: audit on a corpus whose voices carry gender, with more speakers (--privacy-data), "
        "or a larger budget (--privacy-budget standard or thorough)"
    )


def _shortfall(c: ControlResult) -> str:
    """How a positive control fell short of power: too small an excess, or an interval down to chance."""
    p = c.positive
    if p.excess < c.min_excess:
        return (
            f"reaches only L={p.leakage:.3f} (chance {p.chance:.3f}, excess {p.excess:+.3f} < "
            f"controls.positive_min_excess {c.min_excess})"
        )
    return (
        f"reads L={p.leakage:.3f} but its interval [{p.ci_low:.3f}, {p.ci_high:.3f}] reaches chance "
        f"{p.chance:.3f} (too few speakers or utterances to show it)"
    )


def _control_input(control: ControlResult) -> str:
    return "log-mel statistics of the audio" if control.architecture == CONVEX_PROBE else "T's input features"
