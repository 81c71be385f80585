"""--privacy-budget quick|standard|thorough: how many attackers and how much data."""

from __future__ import annotations

import pytest


def ids(result):
    return [line for line in result.outlines if "::" in line]


def test_budgets_grow_the_attacker_set(audit_project, pytester):
    pytester.makefile(".yaml", thresholds="audit:\n  scenarios: [scenario_2]\n")
    quick = ids(audit_project("--collect-only", "-q", "--privacy-budget", "quick"))
    standard = ids(audit_project("--collect-only", "-q", "--privacy-budget", "standard"))
    thorough = ids(audit_project("--collect-only", "-q", "--privacy-budget", "thorough"))
    assert {i.split("[")[1].split("-")[0] for i in quick} == {"generic"}
    assert {i.split("-")[1] for i in quick} == {"vgg19_style"}
    assert {i.split("-")[1] for i in standard} == {"vgg19_style"}
    assert {i.split("[")[1].split("-")[0] for i in standard} == {"generic", "application_aware"}
    assert {i.split("-")[1] for i in thorough} == {"vgg19_style", "resnet_style", "densenet_style", "linear_probe"}
    assert len(quick) < len(standard) < len(thorough)


def test_unknown_budget_is_a_usage_error(audit_project):
    result = audit_project("--privacy-budget", "lavish")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "--privacy-budget" in result.stderr.str()
