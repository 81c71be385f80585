"""Command-line option parsing without a pytest run: name lists against the threat model's catalog."""

from __future__ import annotations

import argparse

import pytest

from privacy_checks.pytest_plugin.options import _name_list, non_negative_int


def test_name_list_keeps_order_and_drops_duplicates_and_blanks():
    assert _name_list("--privacy-scenarios", "scenario_2, worst_case,,scenario_2", "scenario") == (
        "scenario_2",
        "worst_case",
    )
    assert _name_list("--privacy-access", None, "access mode") is None


def test_unknown_name_lists_the_valid_ones_and_suggests_the_closest():
    with pytest.raises(pytest.UsageError) as info:
        _name_list("--privacy-scenarios", "worstcase", "scenario")
    assert str(info.value) == (
        "--privacy-scenarios: unknown scenario(s) worstcase; "
        "valid: worst_case, scenario_1, scenario_2, scenario_3, scenario_4 (did you mean 'worst_case'?)"
    )
    with pytest.raises(
        pytest.UsageError, match=r"^--privacy-access: unknown access mode\(s\) sniffer; valid: encoder, intercept$"
    ):
        _name_list("--privacy-access", "sniffer", "access mode")
    with pytest.raises(pytest.UsageError, match=r"unknown access mode\(s\) \(none given\)"):
        _name_list("--privacy-access", " , ", "access mode")


def test_non_negative_int():
    assert non_negative_int("7") == 7
    with pytest.raises(argparse.ArgumentTypeError, match="expected a number >= 0, got -1"):
        non_negative_int("-1")
    with pytest.raises(argparse.ArgumentTypeError, match="expected a whole number, got '1.5'"):
        non_negative_int("1.5")
