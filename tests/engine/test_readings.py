"""An item read by several attackers (the scenario's head and the convex probe): the strongest decides,
a pass needs an attacker with power, and the readings reach the report row."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from privacy_checks.config import PrivacyConfig
from privacy_checks.engine.domain import Attack, AuditCase
from privacy_checks.engine.probe_attack import CONVEX_PROBE
from privacy_checks.engine.readings import Reading
from privacy_checks.engine.results import CaseResult, ControlResult, ResultRow
from privacy_checks.engine.verdict import judge
from privacy_checks.stats import LeakageEstimate
from privacy_checks.stats.decision import above
from privacy_checks.threat_model import Access, AttackerKind

CASE = AuditCase(Attack("worst_case", AttackerKind.GENERIC, Access.ENCODER, "tail_clone"), "pool", "tail_clone")


def estimate(value: float, half_width: float = 0.05) -> LeakageEstimate:
    return LeakageEstimate(value, 0.5, value - half_width, value + half_width, 0.01, value, 0.02, 80, 20)


def reading(architecture: str, value: float, power: float = 0.9, half_width: float = 0.05) -> Reading:
    control = ControlResult(architecture, estimate(power), None, None, 0.1)
    return Reading(architecture, estimate(value, half_width), control)


def test_the_strongest_failing_reading_decides():
    head, probe = reading("tail_clone", 0.55), reading(CONVEX_PROBE, 0.95)
    verdict = judge(CASE, [head, probe], PrivacyConfig())
    assert verdict.status == "failed" and verdict.reading is probe


def test_a_powerless_head_passes_when_the_probe_has_power():
    # a waveform model: the head on raw samples sees nothing, the probe on log-mel statistics does
    head, probe = reading("linear_probe", 0.52, power=0.5), reading(CONVEX_PROBE, 0.53)
    verdict = judge(CASE, [head, probe], PrivacyConfig())
    assert verdict.status == "passed" and verdict.reading is probe  # the higher point decides the row


def test_no_attacker_with_power_is_inconclusive_and_names_each():
    readings = [reading("tail_clone", 0.52, power=0.55), reading(CONVEX_PROBE, 0.51, power=0.52)]
    verdict = judge(CASE, readings, PrivacyConfig())
    assert verdict.status == "inconclusive"
    assert "the tail_clone on T's input features reaches only L=0.550" in verdict.reason
    assert "the convex_probe on log-mel statistics of the audio reaches only L=0.520" in verdict.reason


def test_one_straddling_reading_makes_the_item_inconclusive():
    readings = [reading("tail_clone", 0.52), reading(CONVEX_PROBE, 0.60)]  # excess 0.10 +- 0.05
    verdict = judge(CASE, readings, PrivacyConfig())
    assert verdict.status == "inconclusive" and "straddles" in verdict.reason


def test_the_row_lists_every_reading_and_which_decided():
    head, probe = reading("tail_clone", 0.55), reading(CONVEX_PROBE, 0.95)
    verdict = judge(CASE, [head, probe], PrivacyConfig())
    result = CaseResult(
        CASE, verdict.status, probe.estimate, verdict.decision, verdict.limit_key, verdict.reason, probe.control,
        readings=(head, probe),
    )  # fmt: skip
    row = json.loads(json.dumps(result.as_dict()))
    assert [(a["architecture"], a["leakage"], a["decides"]) for a in row["attackers"]] == [
        ("tail_clone", 0.55, False),
        (CONVEX_PROBE, 0.95, True),
    ]
    assert row["leakage"] == 0.95 and row["control"]["architecture"] == CONVEX_PROBE
    assert ResultRow.from_dict(row).as_dict() == row


_excess = st.floats(-0.5, 0.5, allow_nan=False)
_reading = st.tuples(_excess, _excess, _excess, st.floats(0, 1))


@settings(max_examples=300, deadline=None)
@given(readings=st.lists(_reading, min_size=1, max_size=3), limit=st.floats(0, 0.5))
def test_no_reading_with_a_point_excess_above_its_limit_lets_the_item_pass(readings, limit):
    """Issue 12's acceptance over several attackers: whichever reading decides, an item with any
    reading whose point excess is above the limit never passes."""
    built = []
    for index, (point, a, b, power) in enumerate(readings):
        figures = LeakageEstimate(0.5 + point, 0.5, 0.5 + min(a, b), 0.5 + max(a, b), 0.05, 0.5, 0, 100, 20)
        control = ControlResult(f"attacker{index}", estimate(power), None, None, 0.1)
        built.append(Reading(f"attacker{index}", figures, control))
    config = PrivacyConfig().with_overrides("test", limits={"max_excess": limit})
    verdict = judge(CASE, built, config)
    if any(above(r.estimate.excess, limit) for r in built):  # to 9 decimals, as decisions compare
        assert verdict.status != "passed"
    if verdict.status == "passed":
        assert any(r.control.has_power for r in built)
    if verdict.status == "inconclusive":
        assert verdict.reason
