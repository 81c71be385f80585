"""--privacy-save-baseline FILE: write this run's items as a baseline (atomically, diff-friendly;
byte-identical across runs: tests/test_option_privacy_report.py)."""

from __future__ import annotations

import json

import pytest

from tests.conftest import SAVED_CONFIG, SAVED_RUN


@pytest.mark.xdist_group("baseline-saved")
def test_saved_baseline_is_small_sorted_json_keyed_by_item_id(shared_audit):
    # The shared run of group "baseline-saved": -k "features.7 or pool or classifier.1" (any three
    # items whose ids sort otherwise than they are collected; features.7, not features.3: its attacker
    # trains in under half the time) --privacy-save-baseline first.json
    run = shared_audit(*SAVED_RUN, config=SAVED_CONFIG)
    assert "--privacy-save-baseline" in SAVED_RUN and "first.json" in SAVED_RUN
    path = run.path / "first.json"
    text = path.read_text()
    data = json.loads(text)
    assert data["format"] == "privacy-checks.baseline" and data["schema_version"] == 1
    assert list(data["items"]) == sorted(data["items"]) and len(data["items"]) == 3
    assert set(data["items"]["worst_case[generic-tail_clone-pool]"]) == {"leakage", "ci_low", "ci_high"}
    assert data["model"]["architecture"] == "small_vgg" and len(data["model"]["sha256"]) == 64
    assert len(text.splitlines()) < 40  # one line per figure: reviewable in a pull request's diff
    assert not list(run.path.glob("*.tmp*"))  # written through a temporary file and renamed


def test_unwritable_location_is_a_usage_error_before_the_audit(audit_project, pytester):
    (pytester.path / "notes.txt").write_text("mine")
    result = audit_project("--privacy-save-baseline", str(pytester.path / "notes.txt" / "dir" / "b.json"))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "notes.txt is not a folder; pass a path inside a folder" in result.stderr.str()
    result = audit_project("--privacy-save-baseline", str(pytester.path))
    assert result.ret == pytest.ExitCode.USAGE_ERROR and "is a folder" in result.stderr.str()


def test_refuses_to_overwrite_a_file_that_is_not_a_baseline(audit_project, pytester):
    """A typo must not replace the model under audit (or any other file) with JSON (issue 13)."""
    checkpoint = pytester.path / "demo_ser.pt"
    before = checkpoint.read_bytes()
    result = audit_project("--privacy-save-baseline", str(checkpoint))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "exists and is not a privacy-checks baseline; refusing to overwrite it" in result.stderr.str()
    assert checkpoint.read_bytes() == before


def test_save_baseline_needs_audit(pytester):
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--privacy-save-baseline", "b.json")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "--privacy-save-baseline needs --privacy-audit" in result.stderr.str()


@pytest.mark.parametrize("where", ["/proc/b.json", "/dev/null/b.json"])
def test_a_folder_that_only_looks_writable_is_a_usage_error(audit_project, pytester, where):
    """/proc passes os.access as root and /dev/null is no folder: only creating a file tells."""
    (pytester.path / "demo_ser.pt").write_bytes(b"not a checkpoint")  # reaching the model would say so
    result = audit_project("--privacy-save-baseline", where)
    err = result.stderr.str()
    assert result.ret == pytest.ExitCode.USAGE_ERROR, err
    assert f"--privacy-save-baseline {where}: " in err
    assert "cannot write in /proc" in err or "not writable" in err or "not a folder" in err
    assert "demo_ser.pt" not in err and "Traceback" not in err and "INTERNALERROR" not in err
