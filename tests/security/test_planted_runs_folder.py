"""A planted `runs` link in pytest's cache: pytest-xdist workers share a run's results in a folder
privacy-checks creates under .pytest_cache/d/privacy-checks/runs. Were that a link (a checked-out
.pytest_cache), the run's files would be written wherever it points."""

from __future__ import annotations

import pytest

from tests.conftest import DEMO, FAST_CONFIG, TINY_DATA


@pytest.mark.parametrize("planted", ["link", "file"])
def test_a_planted_runs_entry_is_a_usage_error_before_any_worker_writes(pytester, planted):
    pytester.makefile(".yaml", thresholds=FAST_CONFIG)
    (pytester.path / DEMO.name).write_bytes(DEMO.read_bytes())
    elsewhere = pytester.mkdir("elsewhere")
    cache = pytester.path / ".pytest_cache" / "d" / "privacy-checks"
    cache.mkdir(parents=True)
    runs = cache / "runs"
    if planted == "link":
        runs.symlink_to(elsewhere, target_is_directory=True)
    else:
        runs.write_text("not a folder")
    result = pytester.runpytest_subprocess("-n", "2", "--privacy-audit", DEMO.name, "--privacy-data", TINY_DATA)
    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stdout.str()
    result.stderr.fnmatch_lines([f"*{runs} is a link or a file, not a folder*remove {runs} and run again*"])
    assert "Traceback" not in result.stderr.str()
    assert list(elsewhere.iterdir()) == []
    assert runs.is_symlink() or runs.read_text() == "not a folder"  # the user's entry is left as it was
