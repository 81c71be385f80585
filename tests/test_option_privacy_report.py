"""--privacy-report DIR: report.json with the contract's fields, identical across runs."""

from __future__ import annotations

import json
import re
import shutil

import pytest

from tests.conftest import C4_RUN, SAVED_CONFIG, SAVED_RUN, audit_in, f7_c4_run

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


@pytest.mark.xdist_group("baseline-saved")
def test_same_command_twice_writes_identical_reports_and_baselines(shared_audit, tmp_path):
    # The first run is group "baseline-saved"'s (three items, report folder "first", first.json); the
    # second is the same command in the same project, writing "second" and second.json beside them.
    first = shared_audit(*SAVED_RUN, config=SAVED_CONFIG)
    project = first.path
    second_run = tuple(a.replace("first", "second") for a in SAVED_RUN)
    assert second_run != SAVED_RUN and "second.json" in second_run
    # A fresh interpreter, not a preloaded child (tests/preloaded.py): its own hash seed, so that
    # output depending on set order would differ from the first run's.
    second = audit_in(project, *second_run, fresh=True)
    assert first.result.ret == second.ret == pytest.ExitCode.OK, second.stdout.str()
    assert (project / "first.json").read_bytes() == (project / "second.json").read_bytes()
    for name in ("report.json", "report.md", "report.html", "leakage_by_layer.png"):
        assert (project / "first" / name).read_bytes() == (project / "second" / name).read_bytes(), name
    from privacy_checks.cli import main

    before = (project / "first" / "report.json").read_bytes()
    assert main(["report", str(project / "first" / "report.json"), "--out", str(tmp_path / "again")]) == 0
    assert (tmp_path / "again" / "report.md").read_text() == (project / "first" / "report.md").read_text()
    # without --out, into the report's own folder: a copy of "first", which other tests read
    copy = shutil.copytree(project / "first", tmp_path / "first")
    assert main(["report", str(copy / "report.json")]) == 0
    assert (copy / "report.json").read_bytes() == before  # the input is never rewritten


# The report folder as one set (reporting/folder.py): built beside the folder, swapped in at once.


def small_report(leakage: float):
    from privacy_checks.reporting.report import AuditReport
    from tests.test_render import row

    return AuditReport.from_dict(
        {
            "model": {"path": "/m/model.pt", "architecture": "small_vgg", "sha256": "a" * 64},
            "corpus": {"name": "synthetic", "utterances": 80, "speakers": 20},
            "aux_corpus": None,
            "settings": {},
            "results": [row("conv1", leakage, "failed"), row("pool", 0.55, "passed")],
            "safe_split_points": {"worst_case/generic/encoder/tail_clone": "pool"},
        }
    )


def leftovers(folder):
    return sorted(p.name for p in folder.parent.iterdir() if p.name.startswith(f".{folder.name}."))


@pytest.mark.parametrize("failure", [OSError(28, "No space left on device"), KeyboardInterrupt()])
def test_a_failed_write_leaves_the_previous_report_whole(tmp_path, monkeypatch, failure):
    from privacy_checks.reporting import folder as report_folder

    out = tmp_path / "out"
    report_folder.write_report_folder(out, small_report(0.95))
    before = {name: (out / name).read_bytes() for name in ("report.json", "report.html", "report.md")}

    def broken(*args):  # report.html is rendered last: report.json and the plots are already written
        raise failure

    monkeypatch.setattr(report_folder, "html_page", broken)
    with pytest.raises(type(failure)):
        report_folder.write_report_folder(out, small_report(0.75))
    assert {name: (out / name).read_bytes() for name in before} == before  # the old run's, all of them
    assert json.loads(before["report.json"])["results"][0]["leakage"] == 0.95
    assert leftovers(out) == [] and not list(out.glob("*.tmp*"))


def test_a_failed_swap_puts_the_old_report_back(tmp_path, monkeypatch):
    import os

    from privacy_checks.reporting import folder as report_folder

    out = tmp_path / "out"
    report_folder.write_report_folder(out, small_report(0.95))
    before = (out / "report.json").read_bytes()
    real_rename = os.rename

    def rename(src, dst):
        if ".tmp-" in str(src):  # moving the new set in fails (after the old one was set aside)
            raise OSError(5, "Input/output error")
        real_rename(src, dst)

    monkeypatch.setattr(report_folder.os, "rename", rename)
    with pytest.raises(OSError, match="Input/output"):
        report_folder.write_report_folder(out, small_report(0.75))
    assert (out / "report.json").read_bytes() == before and leftovers(out) == []


def test_a_second_write_replaces_the_whole_set(tmp_path):
    from privacy_checks.reporting.folder import write_report_folder

    out = tmp_path / "out"
    write_report_folder(out, small_report(0.95))
    (out / ".report.json.abc123.tmp").write_text("left by a killed older version")
    stale = tmp_path / ".out.tmp-999999999"  # a killed run's staging folder (no such process)
    stale.mkdir()
    (stale / "report.json").write_text("{}")
    written = write_report_folder(out, small_report(0.75))
    assert json.loads((out / "report.json").read_text())["results"][0]["leakage"] == 0.75
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in written)
    assert leftovers(out) == []


def test_missing_parent_folders_are_created(tmp_path):
    """CI jobs write reports/privacy into a fresh checkout: the parents are made, after the check
    found the nearest existing one writable."""
    from privacy_checks.reporting import folder as report_folder

    out = tmp_path / "reports" / "nightly" / "privacy"
    report_folder.check_report_folder(out)
    assert not (tmp_path / "reports").exists()  # checking creates nothing
    report_folder.write_report_folder(out, small_report(0.95))
    assert {"report.json", "report.md", "report.html"} <= {p.name for p in out.iterdir()}


def test_a_folder_holding_other_files_is_never_replaced(tmp_path):
    from privacy_checks.errors import PrivacyInputError
    from privacy_checks.reporting.folder import write_report_folder

    out = tmp_path / "docs"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(
        PrivacyInputError, match=r"docs: the folder holds files privacy-checks did not write \(notes.txt\)"
    ):
        write_report_folder(out, small_report(0.95))
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"] and leftovers(out) == []


@pytest.mark.parametrize(
    ("where", "says"),
    [
        # /proc passes os.access as root, where only creating a file fails (options.py's older check
        # says "not writable" first for other users)
        ("/proc/privacy-report", r"(cannot write in|is not writable)"),
        ("/dev/null/privacy-report", "/dev/null is not a folder"),
        ("{tmp}/docs/notes.txt/out", r"{tmp}/docs/notes.txt is not a folder"),
        ("{tmp}/docs", r"the folder holds files privacy-checks did not write \(notes.txt\)"),
        ("{tmp}", "is the working folder or above it"),
    ],
)
def test_an_unwritable_report_folder_is_a_usage_error_before_the_audit(audit_project, pytester, where, says):
    tmp = str(pytester.path)
    (pytester.path / "docs").mkdir()
    (pytester.path / "docs" / "notes.txt").write_text("mine")
    # the checkpoint is unreadable: reaching the model (let alone the forward pass) would say so
    (pytester.path / "demo_ser.pt").write_bytes(b"not a checkpoint")
    result = audit_project("--privacy-report", where.format(tmp=tmp))
    err = result.stderr.str()
    assert result.ret == pytest.ExitCode.USAGE_ERROR, err
    assert f"--privacy-report {where.format(tmp=tmp)}: " in err and re.search(says.format(tmp=re.escape(tmp)), err)
    assert "demo_ser.pt" not in err and "Traceback" not in err and "INTERNALERROR" not in err
    assert (pytester.path / "docs" / "notes.txt").read_text() == "mine"
    assert not list(pytester.path.glob(".*.tmp-*"))
