"""--privacy-report DIR: report.json with the contract's fields, identical across runs."""

from __future__ import annotations

import json

import pytest

RESULT_FIELDS = {"id", "scenario", "attacker", "architecture", "layer", "leakage", "chance", "ci_low",
                 "ci_high", "p_value", "max_excess", "status"}


def test_report_json_has_the_contract_fields(audit_project, pytester):
    result = audit_project("-k", "features.7 or classifier.4", "--privacy-report", "out")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    report = json.loads((pytester.path / "out" / "report.json").read_text())
    assert report["schema_version"] == 1 and report["attribute"] == "gender"
    assert report["model"]["architecture"] == "small_vgg" and len(report["model"]["sha256"]) == 64
    assert report["corpus"]["speakers"] == 20 and report["corpus"]["utterances"] == 80
    rows = {r["layer"]: r for r in report["results"]}
    assert set(rows) == {"features.7", "classifier.4"}
    for row in rows.values():
        assert RESULT_FIELDS <= set(row)
        assert row["ci_low"] <= row["leakage"] <= row["ci_high"]
        assert row["chance"] == 0.5 and row["max_excess"] == 0.1
    assert rows["features.7"]["status"] == "failed" and rows["features.7"]["leakage"] >= 0.8
    assert rows["classifier.4"]["status"] == "passed"


def test_same_command_twice_writes_identical_reports(audit_project, pytester):
    audit_project("-k", "features.7 or pool", "--privacy-report", "first")
    audit_project("-k", "features.7 or pool", "--privacy-report", "second")
    first = (pytester.path / "first" / "report.json").read_bytes()
    assert first == (pytester.path / "second" / "report.json").read_bytes()


def test_report_folder_that_is_a_file_is_a_usage_error(audit_project, pytester):
    (pytester.path / "taken").write_text("a file, not a folder")
    result = audit_project("--privacy-report", "taken")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "--privacy-report" in result.stderr.str() and "not a folder" in result.stderr.str()
    assert (pytester.path / "taken").read_text() == "a file, not a folder"


def test_no_report_without_the_option(audit_project, pytester):
    audit_project("-k", "classifier.4")
    assert not list(pytester.path.rglob("report.json"))
