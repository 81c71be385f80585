"""A read-only working folder (issue 13): the audit runs with its caches in this user's private
cache folder; a report or baseline that would go there is a usage error before the audit; never a
traceback. The plugin writes nothing else relative to the working folder."""

from __future__ import annotations

import os
import shlex
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import DEMO, FAST_CONFIG, REPO, TINY_DATA, WITHOUT_HYPOTHESIS


def _denied(folder: Path) -> bool:
    try:
        (folder / "probe").write_text("")
    except OSError:
        return True
    (folder / "probe").unlink()
    return False


@dataclass(frozen=True)
class ReadOnly:
    pytester: pytest.Pytester
    path: Path  # the working folder: mode 0555, or (as root, who writes anywhere) a read-only mount
    mounted: bool

    def run(self, *args: str) -> pytest.RunResult:
        # pytester's own files (stdout, --basetemp) go beside it, in the writable test folder
        if not self.mounted:
            return self.pytester.runpytest_subprocess("--privacy-audit", DEMO.name, *args)
        command = [sys.executable, "-m", "pytest", "-p", "no:randomly", "--privacy-audit", DEMO.name, *args]
        basetemp = self.pytester.path / "basetemp"
        inner = " ".join(shlex.quote(part) for part in [*command, f"--basetemp={basetemp}"])
        folder = shlex.quote(str(self.path))
        script = f"mount --bind {folder} {folder} && mount -o remount,bind,ro {folder} && cd {folder} && {inner}"
        env = {"PYTHONPATH": str(REPO), "PY_COLORS": "0", "PYTEST_ADDOPTS": " ".join(WITHOUT_HYPOTHESIS)}
        with pytest.MonkeyPatch.context() as patch:
            for name, value in env.items():
                patch.setenv(name, value)
            return self.pytester.run("unshare", "--mount", "--", "sh", "-c", script)


def _can_mount_read_only(folder: Path) -> bool:
    """Whether this (root) process may make a private read-only bind mount (a container may refuse)."""
    quoted = shlex.quote(str(folder))
    script = f"mount --bind {quoted} {quoted} && mount -o remount,bind,ro {quoted} && ! touch {quoted}/probe"
    try:
        done = subprocess.run(["unshare", "--mount", "--", "sh", "-c", script], capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0 and not (folder / "probe").exists()


@pytest.fixture
def read_only_project(pytester, monkeypatch):
    project = pytester.path / "project"
    project.mkdir()
    (project / "thresholds.yaml").write_text(FAST_CONFIG)
    (project / DEMO.name).write_bytes(DEMO.read_bytes())
    monkeypatch.chdir(project)
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # root writes into a 0555 folder
        if not _can_mount_read_only(project):
            pytest.skip("running as root and no read-only bind mount is allowed here")
        yield ReadOnly(pytester, project, mounted=True)
        return
    project.chmod(stat.S_IRUSR | stat.S_IXUSR | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH)
    try:
        if not _denied(project):
            pytest.skip("this filesystem ignores the folder's mode")
        yield ReadOnly(pytester, project, mounted=False)
    finally:
        project.chmod(0o755)


def test_an_audit_in_a_read_only_folder_caches_elsewhere(read_only_project):
    # pytest's cache plugin on (the default): .pytest_cache cannot be created here
    result = read_only_project.run("--privacy-data", TINY_DATA, "-k", "pool")
    out = result.stdout.str() + result.stderr.str()
    assert result.ret == pytest.ExitCode.TESTS_FAILED, out[-3000:]  # the demo's pool layer leaks
    assert "verdict: FAIL" in out and "pytest's cache folder cannot be written" in out
    assert "Traceback" not in out and "INTERNALERROR" not in out
    assert sorted(p.name for p in read_only_project.path.iterdir()) == [DEMO.name, "thresholds.yaml"]


@pytest.mark.parametrize("option", ["--privacy-report", "--privacy-save-baseline"])
def test_a_report_into_a_read_only_folder_is_a_usage_error(read_only_project, option):
    target = "out" if option == "--privacy-report" else "baseline.json"
    result = read_only_project.run(option, target)
    err = result.stderr.str()
    assert result.ret == pytest.ExitCode.USAGE_ERROR, err
    assert f"{option} {read_only_project.path / target}: " in err and "writ" in err
    assert "Traceback" not in err and "INTERNALERROR" not in err


class _Unwritable:
    def mkdir(self, name):
        raise PermissionError(13, "Permission denied", name)


class _Config:
    """What session._cache_dir reads of pytest's config: its cache and config-time warnings."""

    def __init__(self):
        self.cache = _Unwritable()
        self.warnings: list[Warning] = []

    def issue_config_time_warning(self, warning, stacklevel):
        self.warnings.append(warning)


def test_an_unwritable_pytest_cache_falls_back_to_the_private_cache_folder():
    from privacy_checks.cache_seal import fallback_cache_root
    from privacy_checks.pytest_plugin.session import _cache_dir

    config = _Config()
    assert _cache_dir(config) == fallback_cache_root() / "embeddings"
    (warning,) = config.warnings
    assert isinstance(warning, pytest.PytestCacheWarning)
    assert "cannot be written (" in str(warning) and str(fallback_cache_root()) in str(warning)
