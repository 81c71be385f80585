"""pytest_privacy_attackers and the privacy_audit fixture, through the README's example."""

from __future__ import annotations

import json

import pytest

from tests.conftest import BROKEN_ATTACKER_CONFTEST, FAST_CONFIG, REPO

EXAMPLE = REPO / "examples" / "custom_attacker"


def test_readme_example_runs(audit_project, pytester):
    for name in ("conftest.py", "test_split_point.py"):
        (pytester.path / name).write_text((EXAMPLE / name).read_text())
    result = audit_project(
        "test_split_point.py",
        "-v",
        "-rA",
        "-k",
        "time_average_mlp and (features.7 or classifier.4) or test_transmitted",
    )
    out = result.stdout.str()
    assert "demo_ser.pt::time_average_mlp[generic-time_average_mlp-features.7] FAILED" in out
    assert "PASSED test_split_point.py::test_transmitted_layer_does_not_leak_gender" in out
    assert "time_average_mlp (custom attacker)" in out  # its own block in the summary


def test_a_raising_attacker_fails_only_its_own_items(audit_project, pytester):
    pytester.makeconftest(BROKEN_ATTACKER_CONFTEST)
    # ci_low explicitly: the built-in attacker's item passes, so only the broken head's item fails
    pytester.makefile(".yaml", thresholds=FAST_CONFIG + "limits:\n  rule: ci_low\n")
    result = audit_project("-k", "classifier.4")
    outcomes = result.parseoutcomes()
    assert outcomes["failed"] == 1 and outcomes["passed"] == 1
    assert "RuntimeError: my head is broken" in result.stdout.str()
    assert "FAILED demo_ser.pt::broken[generic-broken-classifier.4]" in result.stdout.str()


def test_fixture_skips_without_the_audit(pytester):
    pytester.makepyfile(test_it="def test_it(privacy_audit):\n    pass\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-rs")
    result.assert_outcomes(skipped=1)
    assert "privacy_audit needs --privacy-audit CHECKPOINT" in result.stdout.str()


def test_an_attacker_refusing_its_input_is_a_usage_error_not_a_leak(audit_project, pytester):
    """A PrivacyInputError raised while an item runs (here by the user's own head) is the item's
    error row and exit 4 with the message alone: no traceback, never exit 1."""
    pytester.makeconftest(
        "from privacy_checks import CustomAttacker\n"
        "from privacy_checks.errors import PrivacyInputError\n"
        "def picky(shape, outputs):\n"
        "    raise PrivacyInputError(f'picky: needs a 2-D layer, got shape {shape}; set audit.layers')\n"
        "def pytest_privacy_attackers(config):\n"
        "    return [CustomAttacker('picky', build=picky)]\n"
    )
    result = audit_project("-k", "picky and pool", "--privacy-report", "out")
    out = result.stdout.str()
    assert result.ret == pytest.ExitCode.USAGE_ERROR, out[-3000:]
    assert "ERROR at layer pool: the item could not run" in out
    assert "  picky: needs a 2-D layer, got shape (64, 1, 1); set audit.layers" in out
    assert "1 item could not run; exit code 4" in out and "verdict: ERROR" in out
    assert "Traceback" not in out and "INTERNALERROR" not in out and "conftest.py:4" not in out
    (row,) = json.loads((pytester.path / "out" / "report.json").read_text())["results"]
    assert row["status"] == "error" and row["reason"].startswith("picky: needs a 2-D layer")
