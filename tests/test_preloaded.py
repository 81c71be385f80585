"""tests/preloaded.py: a run forked from the preloaded server is the run a fresh interpreter makes."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests import preloaded

PROBE = """\
import os, sys

def test_sees_its_process():
    print("CWD", os.getcwd())
    print("PATH0", sys.path[0])
    print("VAR", os.environ.get("PRELOADED_PROBE"))
    print("ARGV0", os.path.basename(sys.argv[0]))
    print("MODULE", "privacy_checks.engine.entry" in sys.modules)

def test_fails():
    assert 1 == 2
"""


def _fresh(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(pytester.path), env.get("PYTHONPATH", "")]))
    out, err = pytester.path / "fresh.stdout", pytester.path / "fresh.stderr"
    return preloaded.run_pytest(Path.cwd(), env, list(args), out, err, fresh=True)


def _probe_lines(result: pytest.RunResult) -> list[str]:
    """The probe's lines (the first printed follows the file's name on its line)."""
    return [m.group(0) for line in result.outlines if (m := re.search(r"\b(CWD|PATH0|VAR|ARGV0|MODULE) .*", line))]


def test_a_preloaded_run_sees_what_a_fresh_interpreter_sees(pytester, monkeypatch):
    pytester.makepyfile(test_probe=PROBE)
    monkeypatch.setenv("PRELOADED_PROBE", "set by the test")
    forked = pytester.runpytest_subprocess("-s", "-p", "no:cacheprovider")
    fresh = _fresh(pytester, "-s", "-p", "no:cacheprovider", "--basetemp", str(pytester.path / "fresh-tmp"))
    assert forked.ret == fresh.ret == pytest.ExitCode.TESTS_FAILED
    forked.assert_outcomes(passed=1, failed=1)
    fresh.assert_outcomes(passed=1, failed=1)
    assert _probe_lines(forked) == _probe_lines(fresh)
    assert f"CWD {pytester.path}" in _probe_lines(forked)
    assert "VAR set by the test" in _probe_lines(forked)
    assert "MODULE False" in _probe_lines(forked)  # the server preloads libraries, never the project's code


def test_a_usage_error_keeps_its_exit_code(pytester):
    forked = pytester.runpytest_subprocess("--no-such-option")
    assert forked.ret == pytest.ExitCode.USAGE_ERROR
    assert any("unrecognized arguments: --no-such-option" in line for line in forked.errlines)
