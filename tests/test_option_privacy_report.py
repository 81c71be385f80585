"""--privacy-report DIR: report.json with the contract's fields, identical across runs."""

from __future__ import annotations

import json

import pytest

from tests.conftest import C4_RUN, f7_c4_run

RESULT_FIELDS = {
    "id",
    "scenario",
    "attacker",
    "architecture",
    "layer",
    "leakage",
    "chance",
    "ci_low",
    "ci_high",
    "p_value",
    "max_excess",
    "status",
}


@pytest.mark.xdist_group("audit-f7-c4")
def test_report_json_has_the_contract_fields(shared_audit):
    run = shared_audit(*f7_c4_run())  # -k "features.7 or classifier.4" --privacy-report out (+ junit XML)
    assert run.result.ret == pytest.ExitCode.TESTS_FAILED
    report = json.loads((run.path / "out" / "report.json").read_text())
    assert report["schema_version"] == 1 and report["attribute"] == "gender"
    assert report["model"]["architecture"] == "small_vgg" and len(report["model"]["sha256"]) == 64
    assert report["corpus"]["speakers"] == 20 and report["corpus"]["utterances"] == 80
    rows = {r["layer"]: r for r in report["results"]}
    assert set(rows) == {"features.7", "classifier.4"}
    for row in rows.values():
        assert set(row) >= RESULT_FIELDS
        assert row["ci_low"] <= row["leakage"] <= row["ci_high"]
        assert row["chance"] == 0.5 and row["max_excess"] == 0.1
    assert rows["features.7"]["status"] == "failed" and rows["features.7"]["leakage"] >= 0.8
    # 20 speakers cannot show the output layer within the limit: inconclusive, saying how many would
    assert rows["classifier.4"]["status"] == "inconclusive" and rows["classifier.4"]["rule"] == "interval"
    assert "straddles the limit 0.100" in rows["classifier.4"]["reason"]
    assert "speakers (now 20) would decide it" in rows["classifier.4"]["reason"]


def test_report_folder_that_is_a_file_is_a_usage_error(audit_project, pytester):
    (pytester.path / "taken").write_text("a file, not a folder")
    result = audit_project("--privacy-report", "taken")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "--privacy-report" in result.stderr.str() and "not a folder" in result.stderr.str()
    assert (pytester.path / "taken").read_text() == "a file, not a folder"


@pytest.mark.xdist_group("audit-c4")
def test_no_report_without_the_option(shared_audit):
    run = shared_audit(*C4_RUN)  # -k classifier.4, no --privacy-report
    assert "--privacy-report" not in C4_RUN
    assert not list(run.path.rglob("report.json"))


@pytest.mark.xdist_group("audit-f7-c4")
def test_report_folder_has_markdown_html_and_plots(shared_audit):
    run = shared_audit(*f7_c4_run())  # -k "features.7 or classifier.4" --privacy-report out (+ junit XML)
    assert run.result.ret == pytest.ExitCode.TESTS_FAILED
    out = run.path / "out"
    assert sorted(p.name for p in out.iterdir()) == [
        "leakage_by_emotion.png",
        "leakage_by_layer.png",
        "report.html",
        "report.json",
        "report.md",
    ]
    md = (out / "report.md").read_text()
    assert md.startswith("## Privacy audit: FAIL")  # the verdict first
    assert "| layer | worst_case · generic · tail_clone |" in md
    assert "### What failed and why" in md and "`worst_case[generic-tail_clone-features.7]`: L = " in md
    page = (out / "report.html").read_text()
    assert page.count("src='data:image/png;base64,") == 2 and "<h1>Privacy audit: FAIL</h1>" in page
    for png in ("leakage_by_layer.png", "leakage_by_emotion.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(out.glob("*.tmp*"))


def test_same_command_twice_writes_identical_reports_and_baselines(audit_project, pytester):
    for name in ("first", "second"):
        audit_project(
            "-k",
            "features.7 or pool",
            "--privacy-report",
            name,
            "--privacy-save-baseline",
            str(pytester.path / f"{name}.json"),
        )
    assert (pytester.path / "first.json").read_bytes() == (pytester.path / "second.json").read_bytes()
    for name in ("report.json", "report.md", "report.html", "leakage_by_layer.png"):
        assert (pytester.path / "first" / name).read_bytes() == (pytester.path / "second" / name).read_bytes(), name
    from privacy_checks.cli import main

    before = (pytester.path / "first" / "report.json").read_bytes()
    assert main(["report", str(pytester.path / "first" / "report.json"), "--out", str(pytester.path / "again")]) == 0
    assert (pytester.path / "again" / "report.md").read_text() == (pytester.path / "first" / "report.md").read_text()
    assert main(["report", str(pytester.path / "first" / "report.json")]) == 0
    assert (pytester.path / "first" / "report.json").read_bytes() == before  # the input is never rewritten
