"""--privacy-seed N: one seed drives folds, attackers and resampling."""

from __future__ import annotations

import json

import pytest


def results(pytester, folder):
    return json.loads((pytester.path / folder / "report.json").read_text())["results"]


def test_seed_is_reported_and_changes_the_resampling(audit_project, pytester):
    audit_project("-k", "pool", "--privacy-seed", "7", "--privacy-report", "seven")
    audit_project("-k", "pool", "--privacy-seed", "8", "--privacy-report", "eight")
    seven, eight = results(pytester, "seven")[0], results(pytester, "eight")[0]
    settings = json.loads((pytester.path / "seven" / "report.json").read_text())["settings"]
    assert settings["audit"]["seed"] == 7
    assert (seven["ci_low"], seven["ci_high"], seven["p_value"]) != (
        eight["ci_low"],
        eight["ci_high"],
        eight["p_value"],
    )


def test_negative_seed_is_a_usage_error(audit_project):
    result = audit_project("--privacy-seed", "-3")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "--privacy-seed" in result.stderr.str()
