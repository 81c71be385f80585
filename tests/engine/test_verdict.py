"""Estimate -> decision -> status: the limit and its rule, inconclusive when the positive control
has no power, and a rise against the baseline failing an item under its limit."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from privacy_checks.config import PrivacyConfig
from privacy_checks.engine.baseline import Baseline
from privacy_checks.engine.domain import Attack, AuditCase
from privacy_checks.engine.readings import Reading
from privacy_checks.engine.results import ControlResult
from privacy_checks.engine.verdict import judge
from privacy_checks.stats import LeakageEstimate
from privacy_checks.stats.decision import above
from privacy_checks.threat_model import CONVEX_PROBE, Access, AttackerKind

CASE = AuditCase(Attack("worst_case", AttackerKind.GENERIC, Access.ENCODER, "tail_clone"), "pool", "tail_clone")


def leakage(value: float, half_width: float = 0.05) -> LeakageEstimate:
    return LeakageEstimate(value, 0.5, value - half_width, value + half_width, 0.01, value, 0.02, 80, 20)


def control(positive: float = 0.9, min_excess: float = 0.1) -> ControlResult:
    return ControlResult("tail_clone", leakage(positive), None, None, min_excess)


def config(**limits) -> PrivacyConfig:
    return PrivacyConfig().with_overrides("test", limits={"max_excess": 0.1, "rule": "ci_low", **limits})


@pytest.mark.parametrize(
    ("value", "rule", "status"),
    [
        (0.58, "ci_low", "passed"),  # ci_low 0.53: excess 0.03
        (0.70, "ci_low", "failed"),  # ci_low 0.65: excess 0.15 > 0.1
        (0.64, "ci_low", "passed"),  # ci_low 0.59: excess 0.09
        (0.64, "ci_high", "failed"),  # ci_high 0.69: excess 0.19
        (0.64, "point", "failed"),  # excess 0.14
    ],
)
def test_decision_compares_the_rules_estimate_with_the_limit(value, rule, status):
    verdict = judge(CASE, [Reading("tail_clone", leakage(value), control())], config(rule=rule))
    assert verdict.status == verdict.decision.status == status
    assert verdict.decision.rule == rule and verdict.limit_key == "limits.max_excess"
    assert verdict.reason == "" and verdict.regression is None


def test_a_pass_without_power_is_inconclusive():
    verdict = judge(CASE, [Reading("tail_clone", leakage(0.5), control(positive=0.55))], config())
    assert verdict.decision.status == "passed"
    assert verdict.status == "inconclusive"
    assert "reaches only L=0.550" in verdict.reason and "could not have found leakage" in verdict.reason


def test_a_control_whose_interval_reaches_chance_has_no_power():
    # 0.62 on a few clips: the excess clears 0.10, but its interval [0.48, 0.76] reaches chance.
    lucky = ControlResult("tail_clone", leakage(0.62, half_width=0.14), None, None, 0.1)
    assert not lucky.has_power
    verdict = judge(CASE, [Reading("tail_clone", leakage(0.5), lucky)], config())
    assert verdict.status == "inconclusive"
    assert "reads L=0.620 but its interval [0.480, 0.760] reaches chance 0.500" in verdict.reason
    assert ControlResult("tail_clone", leakage(0.62, half_width=0.1), None, None, 0.1).has_power


def test_a_leak_needs_no_power_check():
    assert judge(CASE, [Reading("tail_clone", leakage(0.9), control(positive=0.5))], config()).status == "failed"


def test_the_limit_for_the_layer_applies():
    cfg = config(layers={"po*": 0.3})
    verdict = judge(CASE, [Reading("tail_clone", leakage(0.70), control())], cfg)
    assert verdict.status == "passed" and verdict.decision.max_excess == 0.3
    assert "po*" in verdict.limit_key


def baseline(before: float, half_width: float = 0.05) -> Baseline:
    entry = {"leakage": before, "ci_low": before - half_width, "ci_high": before + half_width}
    return Baseline(Path("baseline.json"), "small_vgg", {}, {CASE.name: entry})


def test_a_rise_beyond_the_combined_uncertainty_fails_under_the_limit():
    verdict = judge(CASE, [Reading("tail_clone", leakage(0.60), control())], config(), baseline(0.50))
    assert verdict.decision.status == "passed"  # 0.55 - 0.5 = 0.05 <= 0.1
    assert verdict.status == "failed"
    assert verdict.regression is not None and verdict.regression.regressed
    assert verdict.reason.startswith("leakage rose from 0.500 to 0.600 against the baseline baseline.json")


def test_a_rise_within_the_uncertainty_or_margin_keeps_the_status():
    assert judge(CASE, [Reading("tail_clone", leakage(0.55), control())], config(), baseline(0.50)).status == "passed"
    with_margin = config().with_overrides("test", baseline={"margin": 0.2})  # rule: ci_low, as config()
    verdict = judge(CASE, [Reading("tail_clone", leakage(0.60), control())], with_margin, baseline(0.50))
    assert verdict.status == "passed" and verdict.regression is not None and verdict.regression.basis == "margin"


def test_an_item_missing_from_the_baseline_is_not_compared():
    other = Baseline(Path("baseline.json"), "small_vgg", {}, {})
    assert judge(CASE, [Reading("tail_clone", leakage(0.60), control())], config(), other).regression is None


def test_a_regression_overrules_inconclusive():
    verdict = judge(CASE, [Reading("tail_clone", leakage(0.60), control(positive=0.5))], config(), baseline(0.40))
    assert verdict.status == "failed" and verdict.reason.startswith("leakage rose")


# --- the default rule: interval, three outcomes (issue 12) -----------------------------------------


def default_config(**limits) -> PrivacyConfig:
    return PrivacyConfig().with_overrides("test", limits=limits) if limits else PrivacyConfig()


def test_the_default_rule_is_interval_and_ci_low_is_an_explicit_relaxation():
    assert PrivacyConfig().limits.rule == "interval"
    straddling = leakage(0.64)  # excess 0.14, interval [0.09, 0.19] around the limit 0.1
    assert (
        judge(CASE, [Reading("tail_clone", straddling, control())], config()).status == "passed"
    )  # rule: ci_low, explicitly
    verdict = judge(CASE, [Reading("tail_clone", straddling, control())], default_config())
    assert verdict.status == "inconclusive" and verdict.decision.rule == "interval"
    assert "straddles the limit 0.100" in verdict.reason
    assert f"about {verdict.decision.speakers_needed} speakers (--privacy-data)" in verdict.reason
    assert verdict.decision.speakers_needed is not None and verdict.decision.speakers_needed > 20


@pytest.mark.parametrize(("value", "status"), [(0.90, "failed"), (0.52, "passed"), (0.60, "inconclusive")])
def test_the_interval_rule_fails_passes_or_cannot_tell(value, status):
    # excess 0.40 +- 0.05: wholly above; 0.02 +- 0.05: wholly within; 0.10 +- 0.05: straddles
    assert judge(CASE, [Reading("tail_clone", leakage(value), control())], default_config()).status == status


def test_a_straddle_under_the_thorough_budget_asks_for_speakers_only():
    standard = judge(CASE, [Reading("tail_clone", leakage(0.60), control())], default_config())
    assert "--privacy-budget thorough" in standard.reason
    thorough = PrivacyConfig().with_overrides("test", audit={"budget": "thorough"})
    verdict = judge(CASE, [Reading("tail_clone", leakage(0.60), control())], thorough)
    assert verdict.status == "inconclusive" and "--privacy-budget thorough" not in verdict.reason


def test_a_straddling_convex_probe_asks_for_speakers_only_under_any_budget():
    # the probe reads every utterance whatever the budget's cap: more of them is not on offer
    verdict = judge(CASE, [Reading(CONVEX_PROBE, leakage(0.60), control())], default_config())
    assert verdict.status == "inconclusive" and "--privacy-budget thorough" not in verdict.reason
    assert "this audit used every utterance" in verdict.reason
    assert "this audit used every utterance: 80 utterances of 20 speakers" in verdict.reason


def test_no_power_says_so_and_what_to_add():
    verdict = judge(CASE, [Reading("tail_clone", leakage(0.52), control(positive=0.55))], default_config())
    assert verdict.status == "inconclusive"
    assert verdict.reason.startswith("no power: the tail_clone on T's input features reaches only L=0.550")
    assert "controls.positive_min_excess 0.1" in verdict.reason and "--privacy-budget" in verdict.reason
    both = judge(CASE, [Reading("tail_clone", leakage(0.60), control(positive=0.55))], default_config())
    assert both.reason.startswith("no power") and "besides" in both.reason and "straddles" in both.reason


_excess = st.floats(-0.5, 0.5, allow_nan=False)


@settings(max_examples=300, deadline=None)
@given(
    point=_excess,
    a=_excess,
    b=_excess,
    limit=st.floats(0, 0.5),
    positive=st.floats(0, 1),
    n_speakers=st.integers(4, 400),
)
def test_with_the_default_rule_no_point_excess_above_its_limit_passes(point, a, b, limit, positive, n_speakers):
    """Issue 12's acceptance, over the whole decision (rule, limit lookup, positive control): the
    interval need not hold the point (a percentile bootstrap's may not), and still nothing passes."""
    estimate = LeakageEstimate(0.5 + point, 0.5, 0.5 + min(a, b), 0.5 + max(a, b), 0.05, 0.5, 0, 100, n_speakers)
    verdict = judge(CASE, [Reading("tail_clone", estimate, control(positive))], default_config(max_excess=limit))
    if above(estimate.excess, limit):  # to 9 decimals, as decisions compare
        assert verdict.status != "passed"
    if verdict.status == "inconclusive":
        assert verdict.reason  # always says why
