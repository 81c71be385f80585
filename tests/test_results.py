"""The typed result row: report.json's row written and read back unchanged, the status enum, the
earliest safe split point and the verdict tally (fast, no pytester, no torch training)."""

from __future__ import annotations

import json

import pytest

from privacy_checks import stats
from privacy_checks.engine.domain import Attack, AuditCase
from privacy_checks.engine.result_parts import Regression
from privacy_checks.engine.results import (
    FAILED,
    PASSED,
    CaseResult,
    ControlResult,
    ResultRow,
    Status,
    attack_key,
    earliest_safe_layer,
    safe_split_points,
)
from privacy_checks.reporting.verdict import Tally
from privacy_checks.threat_model import Access, AttackerKind

CASE = AuditCase(Attack("worst_case", AttackerKind.GENERIC, Access.ENCODER, "tail_clone"), "features.3", "linear_probe")


def estimate(leakage=0.812345678, chance=0.5) -> stats.LeakageEstimate:
    return stats.LeakageEstimate(
        leakage, chance, leakage - 0.0512345, leakage + 0.0498765, 0.00123456789, 0.8, 0.03, 80, 20
    )


def measured(status="failed") -> CaseResult:
    e = estimate()
    group = stats.GroupLeakage("angry", 0.7, 0.5, float("nan"), float("nan"), 10, 5)
    comparison = stats.GroupComparison(("angry", "happy"), 0.1234567, float("nan"), "no test")
    return CaseResult(
        CASE,
        status,
        e,
        stats.decide(e, 0.1, "ci_low"),
        "limits.max_excess",
        "",
        ControlResult("linear_probe", estimate(0.9), estimate(0.51), 0.3333333333, 0.1),
        {"emotion": {"groups": [group.as_dict()], "comparison": comparison.as_dict()}},
        Regression(0.7, e.leakage, 0.05, "margin"),
    )


def old_row(result: CaseResult) -> dict:
    """report.json's row as the engine wrote it before rows were typed (CaseResult.as_dict)."""
    c, e, d = result.case, result.estimate, result.decision
    row = {
        "id": c.name,
        "scenario": c.scenario,
        "attacker": c.attacker,
        "access": c.access,
        "architecture": c.architecture,
        "head": c.attack[3],
        "layer": c.layer,
    }
    if e is not None:
        row.update(
            {
                "leakage": round(e.leakage, 6),
                "chance": round(e.chance, 6),
                "excess": round(e.excess, 6),
                "ci_low": round(e.ci_low, 6),
                "ci_high": round(e.ci_high, 6),
                "p_value": round(e.p_value, 6),
                "fold_mean": round(e.fold_mean, 6),
                "fold_std": round(e.fold_std, 6),
                "n_utterances": e.n_utterances,
                "n_speakers": e.n_speakers,
            }
        )
    else:
        row.update({k: None for k in ("leakage", "chance", "excess", "ci_low", "ci_high", "p_value")})
    row.update({"max_excess": d.max_excess, "rule": d.rule} if d else {"max_excess": None, "rule": None})
    row.update({"limit_key": result.limit_key or None, "status": result.status, "reason": result.reason or None})
    control = result.control
    row["control"] = (
        {
            "architecture": control.architecture,
            "input_gender_accuracy": control.positive.as_dict(),
            "shuffled_gender_accuracy": control.negative.as_dict() if control.negative else None,
            "input_emotion_accuracy": None if control.emotion_accuracy is None else round(control.emotion_accuracy, 6),
            "min_excess": control.min_excess,
            "has_power": control.has_power,
        }
        if control
        else None
    )
    r = result.regression
    row["baseline"] = (
        {
            "leakage_before": round(r.before, 6),
            "rise": round(r.rise, 6),
            "allowed_rise": round(r.allowed, 6),
            "basis": r.basis,
            "regressed": r.regressed,
        }
        if r
        else None
    )
    row["breakdowns"] = result.breakdowns
    return row


@pytest.mark.parametrize("result", [measured(), CaseResult(CASE, "skipped", reason="no aux corpus")])
def test_row_writes_the_old_json_byte_for_byte_and_reads_it_back(result):
    old = json.dumps(old_row(result), indent=2)
    assert json.dumps(result.as_dict(), indent=2) == old
    back = ResultRow.from_dict(json.loads(old))
    assert back == result.row()  # a worker's row, once on the controller, equals the local one
    assert json.dumps(back.as_dict(), indent=2) == old


def test_status_is_an_enum_that_is_still_its_string():
    result = CaseResult(CASE, "passed")
    assert result.status is Status.PASSED is PASSED
    assert result.status == "passed" and f"{result.status}" == "passed" and str(FAILED) == "failed"
    assert json.dumps({"status": Status.INCONCLUSIVE}) == '{"status": "inconclusive"}'


def row(layer: str, status: str, head="tail_clone", access="encoder") -> ResultRow:
    return ResultRow(f"x[{layer}]", "worst_case", "generic", access, head, head, layer, Status(status))


def test_earliest_safe_split_point_is_where_every_later_layer_passes():
    rows = [row("a", "passed"), row("b", "failed"), row("c", "passed"), row("d", "passed")]
    rows += [row("a", "failed", access="intercept"), row("b", "skipped", access="intercept")]
    assert safe_split_points(rows) == {
        "worst_case/generic/encoder/tail_clone": "c",
        "worst_case/generic/intercept/tail_clone": None,
    }
    assert rows[0].attack_key == attack_key("worst_case", "generic", "encoder", "tail_clone")


def test_the_safe_split_search_reads_rows_lazily_from_the_last_layer():
    read = []

    def last_first():
        for r in (row("d", "passed"), row("c", "inconclusive"), row("b", "passed")):
            read.append(r.layer)
            yield r

    assert earliest_safe_layer(last_first()) == "d"
    assert read == ["d", "c"]  # nothing before the first layer that does not pass


def test_tally_counts_each_status_and_fails_on_any_failure():
    tally = Tally.of([row("a", "failed"), row("b", "passed"), row("c", "passed"), row("d", "skipped")])
    assert tally.overall == "FAIL" and not tally.green
    assert tally.phrase(lambda text: f"**{text}**") == "**1 failed**, 2 passed, 0 inconclusive, 1 skipped"
    assert Tally.of([row("a", "passed"), row("b", "skipped")]).overall == "pass"


def test_inconclusive_is_not_green_and_errors_win():
    """Issue 12: "0 passed, 10 inconclusive" was a green `pass`. A failure still beats an inconclusive
    item; a layer that could not be measured (error) beats both."""
    undecided = Tally.of([row("a", "passed"), row("b", "inconclusive")])
    assert undecided.overall == "INCONCLUSIVE" and not undecided.green
    assert Tally.of([row("a", "failed"), row("b", "inconclusive")]).overall == "FAIL"
    broken = Tally.of([row("a", "failed"), row("b", "error"), row("c", "error")])
    assert broken.overall == "ERROR" and broken.errors == 2
    assert broken.phrase() == "1 failed, 0 passed, 0 inconclusive, 0 skipped, 2 errors"


def test_an_item_that_raised_is_an_error_row_and_says_why():
    """items.ItemError: an attacker that raised is a crash (exit 3) whose row names the exception
    and where it was raised; a PrivacyInputError found while the item ran is a usage error (exit 4)."""
    from privacy_checks.errors import PrivacyInputError
    from privacy_checks.pytest_plugin.items import CRASH, USAGE, ItemError

    def build_head():
        raise ValueError("shape (4,) is too small\nsecond line")

    try:
        build_head()
    except ValueError as exc:
        crash = ItemError.of(CASE, exc)
    assert crash.kind == CRASH and crash.result.status == Status.ERROR
    row = crash.result.row()
    assert row.status == "error" and row.estimate is None and row.id == CASE.name
    assert row.reason is not None and row.reason.startswith(
        "the 'worst_case' attacker (linear_probe head, encoder access) raised ValueError: shape (4,) is too small ("
    )
    assert "test_results.py:" in row.reason and "in build_head)" in row.reason and "second line" not in row.reason
    usage = ItemError.of(CASE, PrivacyInputError("thresholds.yaml: attacker.epochs must be >= 1"))
    assert usage.kind == USAGE and usage.result.reason == "thresholds.yaml: attacker.epochs must be >= 1"
