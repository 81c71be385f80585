"""--privacy-access MODES: encoder (default; gates CI) and/or intercept (the paper's protocol)."""

from __future__ import annotations

import json

import pytest

from tests.conftest import COLLECT_RUN


@pytest.mark.xdist_group("collect")
def test_default_access_is_encoder_only(shared_audit):
    result = shared_audit(*COLLECT_RUN).result  # --collect-only -q
    ids = [line for line in result.outlines if "::" in line]
    assert ids and not any("intercept" in i for i in ids)


def test_both_access_modes_collect_separately_named_items(audit_project):
    result = audit_project("--collect-only", "-q", "--privacy-access", "encoder,intercept")
    ids = [line for line in result.outlines if "::" in line]
    assert "worst_case[generic-tail_clone-features.3]" in " ".join(ids)
    assert "worst_case[intercept-generic-tail_clone-features.3]" in " ".join(ids)
    encoder = [i for i in ids if "intercept" not in i]
    intercept = [i for i in ids if "intercept" in i]
    assert len(encoder) == len(intercept) == 10  # every candidate layer in both modes


def test_intercept_run_reports_access_and_skips_the_output_layer(audit_project, pytester):
    result = audit_project(
        "--privacy-access", "intercept", "--privacy-report", "out", "-k", "features.3 or classifier.4"
    )
    assert result.ret in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED)
    rows = json.loads((pytester.path / "out" / "report.json").read_text())["results"]
    by_layer = {r["layer"]: r for r in rows}
    assert set(by_layer) == {"features.3", "classifier.4"}
    assert all(r["access"] == "intercept" for r in rows)
    assert by_layer["classifier.4"]["status"] == "skipped" and "output layer" in by_layer["classifier.4"]["reason"]
    measured = by_layer["features.3"]
    assert measured["status"] in ("passed", "failed", "inconclusive") and 0 <= measured["leakage"] <= 1
    assert measured["control"]["input_gender_accuracy"]["leakage"] is not None


def test_unknown_access_mode_is_a_usage_error(audit_project):
    result = audit_project("--privacy-access", "encoder,sniffer")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    err = result.stderr.str()
    assert "--privacy-access: unknown access mode(s) sniffer; valid: encoder, intercept" in err
    assert "Traceback" not in err


def test_empty_access_list_in_config_is_a_usage_error(audit_project, pytester):
    pytester.makefile(".yaml", thresholds="audit:\n  access: []\n")
    result = audit_project()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "audit.access" in result.stderr.str() and "encoder, intercept" in result.stderr.str()


def test_access_without_audit_is_a_usage_error(pytester):
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--privacy-access", "intercept")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "--privacy-access needs --privacy-audit" in result.stderr.str()


def test_base_checkpoint_path_is_relative_to_the_config_file(audit_project, pytester, demo_checkpoint):
    (pytester.path / "weights").mkdir()
    (pytester.path / "weights" / "base.pt").write_bytes(demo_checkpoint.read_bytes())
    pytester.makefile(".yaml", thresholds="model:\n  base_checkpoint: weights/missing.pt\n")
    result = audit_project("--privacy-access", "intercept", "--collect-only")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert f"model.base_checkpoint: {pytester.path / 'weights' / 'missing.pt'} does not exist" in result.stderr.str()
    pytester.makefile(".yaml", thresholds="model:\n  base_checkpoint: weights/base.pt\n")
    assert audit_project("--privacy-access", "intercept", "--collect-only", "-q").ret == pytest.ExitCode.OK
