"""pytest-xdist: `-n 2` gives the serial run's results with the default settings (audit.threads 1:
CPU kernels sum in thread-count-dependent order, so the count is fixed); the controller writes the
one summary and report; each embedding is computed once (file lock on the shared cache). The option
tests' key paths run under -n 2 here."""

from __future__ import annotations

import json
from pathlib import Path
from typing import NamedTuple

import pytest

from tests.conftest import BROKEN_ATTACKER_CONFTEST, DEMO, run_pytest_subprocess

# Two attacks (encoder and intercept access), so each worker gets one group.
ARGS = ("-k", "features.7 or pool", "--privacy-access", "encoder,intercept")


def values(project, folder):
    """report.json's results, safe splits and exposure in `project` (a folder, or a pytester)."""
    root = project if isinstance(project, Path) else project.path
    report = json.loads((root / folder / "report.json").read_text())
    return report["results"], report["safe_split_points"], report["exposure"]


def test_two_workers_give_the_serial_results(audit_project, pytester):
    serial = audit_project(*ARGS, "--privacy-report", "serial")
    baseline = pytester.path / "b.json"
    parallel = audit_project(*ARGS, "-n", "2", "--privacy-report", "parallel", "--privacy-save-baseline", str(baseline))
    assert serial.ret == parallel.ret == pytest.ExitCode.TESTS_FAILED
    assert values(pytester, "serial") == values(pytester, "parallel")
    items = json.loads(baseline.read_text())["items"]  # the baseline, too, is written by the controller
    assert sorted(items) == sorted(r["id"] for r in values(pytester, "parallel")[0])
    assert len(values(pytester, "parallel")[0]) == 4  # every item once, in case order
    assert (pytester.path / "serial" / "report.md").read_text() == (
        pytester.path / "parallel" / "report.md"
    ).read_text()
    out = parallel.stdout.str()
    assert out.count("privacy audit: gender leakage") == 1  # the summary, once, by the controller
    assert "exposure per layer" in out


def test_a_raising_attacker_is_an_error_in_the_report_serially_and_under_two_workers(audit_project, pytester):
    """Its items were missing from report.json and the summary said "verdict: pass" (issue 13):
    each is an error row with the exception, the verdict is ERROR, and the exit code is 3 (the
    audit could not run them), never 1 ("a layer leaks") — the same with -n 2 as serially."""
    from tests.conftest import FAST_CONFIG

    pytester.makeconftest(BROKEN_ATTACKER_CONFTEST)
    # ci_low: the built-in attacker's item passes, so only the broken head's items are not green
    pytester.makefile(".yaml", thresholds=FAST_CONFIG + "limits:\n  rule: ci_low\n")
    runs = {
        folder: audit_project("-k", "classifier.4 or broken and pool", "--privacy-report", folder, *extra)
        for folder, extra in (("serial", ("-p", "no:xdist")), ("parallel", ("-n", "2")))
    }
    for folder, result in runs.items():
        out = result.stdout.str()
        assert result.ret == pytest.ExitCode.INTERNAL_ERROR, out[-3000:]
        rows = {r["id"]: r for r in json.loads((pytester.path / folder / "report.json").read_text())["results"]}
        assert rows["worst_case[generic-linear_probe-classifier.4]"]["status"] == "passed"
        for item in ("broken[generic-broken-pool]", "broken[generic-broken-classifier.4]"):
            assert rows[item]["status"] == "error" and rows[item]["leakage"] is None
            assert rows[item]["reason"].startswith(
                "the 'broken' attacker (broken head, encoder access) raised RuntimeError: my head is broken "
                "(conftest.py:3 in broken)"
            )
        assert "verdict: ERROR — 0 failed, 1 passed, 0 inconclusive, 0 skipped, 2 errors" in out
        assert "2 items could not run; exit code 3" in out
        assert "ERROR at layer pool: the attacker raised an exception" in out and "INTERNALERROR" not in out
        md = (pytester.path / folder / "report.md").read_text()
        assert md.startswith("## Privacy audit: ERROR") and "RuntimeError: my head is broken" in md
    assert values(pytester, "serial") == values(pytester, "parallel")


COUNTING_CONFTEST = """
import os
import torch
from privacy_checks import CustomAttacker

def counted(shape, outputs):
    with open(os.path.join(os.path.dirname(__file__), "trainings.log"), "a") as log:
        log.write(f"{os.getpid()}\\n")
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.LazyLinear(outputs[0]))

def pytest_privacy_attackers(config):
    return [CustomAttacker("counted", build=counted)]
"""


@pytest.fixture(scope="module")
def counted_runs(tmp_path_factory):
    """A user's counting attacker at four layers, first with -n 2 (pytest's cache on, empty), then
    serially; what the parallel run left in the cache is listed before the serial run starts."""
    from tests.conftest import FAST_CONFIG, TINY_DATA

    path = tmp_path_factory.mktemp("counted")
    (path / "thresholds.yaml").write_text(FAST_CONFIG)
    (path / "conftest.py").write_text(COUNTING_CONFTEST)
    (path / "m.pt").write_bytes(DEMO.read_bytes())
    log = path / "trainings.log"
    select = ("-k", "counted and (features.3 or features.7 or pool or classifier.4)")

    def run(folder: str, *extra: str):
        args = ("--privacy-audit", "m.pt", "--privacy-data", TINY_DATA, *select, "--privacy-report", folder, *extra)
        result = run_pytest_subprocess(path, *args)
        builds = log.read_text().split()
        log.unlink()
        return result, builds

    parallel = run("parallel", "-n", "2")
    embeddings = path / ".pytest_cache" / "d" / "privacy-checks" / "embeddings"
    entries = sorted(entry for entry in embeddings.glob("*/") if entry.is_dir())
    left = {entry.name: sorted(f.name for f in entry.iterdir()) for entry in entries}
    serial = run("serial", "-p", "no:xdist")
    return CountedRuns(path, serial, parallel, left)


class CountedRuns(NamedTuple):
    path: Path
    serial: tuple[pytest.RunResult, list[str]]  # the result and the pid of each head built
    parallel: tuple[pytest.RunResult, list[str]]
    entries_after_parallel: dict[str, list[str]]  # cache entry -> its files


@pytest.mark.xdist_group("counted")
def test_workers_share_one_forward_pass(counted_runs):
    """With the pytest cache on, two workers find the same cache entry: one computes it under the
    lock, the other reads it; the entry's files are written once."""
    result = counted_runs.parallel[0]
    assert result.ret in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED), result.stdout.str()[-2000:]
    entries = counted_runs.entries_after_parallel
    assert len(entries) == 1  # one (checkpoint, corpus, features) entry
    files = next(iter(entries.values()))
    assert files and not [name for name in files if ".tmp" in name]


@pytest.mark.xdist_group("counted")
def test_workers_train_each_attacker_once_across_the_run(counted_runs):
    """Items spread over the workers one by one, but what many of them need is computed by one
    worker for all: an attack's controls (every layer's item needs them) and the later layers'
    predictions a failing item's safe-split search reads. Counted: the heads the user's attacker
    builds (one per fold and per control) are as many with -n 2 as serially, and the run's shared
    folder (in pytest's cache) is gone afterwards."""
    (serial, serial_builds), (parallel, parallel_builds) = counted_runs.serial, counted_runs.parallel
    path = counted_runs.path
    assert serial.ret == parallel.ret, parallel.stdout.str()[-2000:]
    assert len(values(path, "serial")[0]) == 4
    assert values(path, "serial") == values(path, "parallel")
    assert len(parallel_builds) == len(serial_builds) > 0
    assert len(set(parallel_builds)) == 2  # both workers trained some
    runs = path / ".pytest_cache" / "d" / "privacy-checks" / "runs"
    assert runs.is_dir() and not list(runs.iterdir()), "the run's shared folder is removed at the end"


def test_each_worker_shares_the_cores_it_may_run_on_not_the_machines(monkeypatch):
    """audit.threads null under -n 2 in a job allowed 4 of a host's 16 cores (taskset, a cpuset):
    2 threads a worker, not 8."""
    import os

    import torch

    from privacy_checks.pytest_plugin import session

    class Worker:
        workerinput = None  # what marks a pytest-xdist worker's config

    monkeypatch.setattr(os, "cpu_count", lambda: 16)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3}, raising=False)
    monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", "2")
    threads = torch.get_num_threads()
    try:
        session._share_cores(Worker())
        assert torch.get_num_threads() == 2
        monkeypatch.delattr(os, "sched_getaffinity")  # no affinity API: the machine's count
        assert session.usable_cores() == 16
    finally:
        torch.set_num_threads(threads)
