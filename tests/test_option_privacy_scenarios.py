"""--privacy-scenarios NAMES: choose Table 1 scenarios; a wrong name lists the valid ones."""

from __future__ import annotations

import pytest


def test_scenarios_select_items(audit_project):
    result = audit_project("--collect-only", "-q", "--privacy-scenarios", "scenario_2,scenario_4")
    ids = [line for line in result.outlines if "::" in line]
    assert ids and all("::scenario_2[" in i or "::scenario_4[" in i for i in ids)
    assert any("-lstm-" in i for i in ids) and any("-vgg19_style-" in i for i in ids)


def test_unknown_scenario_is_a_usage_error(audit_project):
    result = audit_project("--privacy-scenarios", "scenario_9")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    err = result.stderr.str()
    assert "scenario_9" in err and "worst_case, scenario_1, scenario_2, scenario_3, scenario_4" in err
