"""--privacy-seed N: one seed drives folds, attackers and resampling."""

from __future__ import annotations

import json

import pytest

from tests.conftest import f7_c4_run


def results(folder):
    return {row["layer"]: row for row in json.loads((folder / "report.json").read_text())["results"]}


@pytest.mark.xdist_group("audit-f7-c4")
def test_seed_is_reported_and_changes_the_resampling(audit_project, pytester, shared_audit):
    # Against group "audit-f7-c4"'s run: the same items and FAST_CONFIG at the default seed (0); the
    # runs differ by the seed (and that one writes junit XML).
    default = shared_audit(*f7_c4_run())  # -k "features.7 or classifier.4" --privacy-report out (+ junit XML)
    assert "--privacy-seed" not in f7_c4_run() and f7_c4_run()[:2] == ("-k", "features.7 or classifier.4")
    audit_project("-k", "features.7 or classifier.4", "--privacy-seed", "7", "--privacy-report", "seven")
    seven, zero = results(pytester.path / "seven")["classifier.4"], results(default.path / "out")["classifier.4"]
    settings = json.loads((pytester.path / "seven" / "report.json").read_text())["settings"]
    assert settings["audit"]["seed"] == 7
    assert json.loads((default.path / "out" / "report.json").read_text())["settings"]["audit"]["seed"] == 0
    assert (seven["ci_low"], seven["ci_high"], seven["p_value"]) != (
        zero["ci_low"],
        zero["ci_high"],
        zero["p_value"],
    )


def test_negative_seed_is_a_usage_error(audit_project):
    result = audit_project("--privacy-seed", "-3")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "--privacy-seed" in result.stderr.str()
