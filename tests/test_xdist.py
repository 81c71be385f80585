"""pytest-xdist: `-n 2` gives the serial run's results with the default settings (audit.threads 1:
CPU kernels sum in thread-count-dependent order, so the count is fixed); the controller writes the
one summary and report; each embedding is computed once (file lock on the shared cache). The option
tests' key paths run under -n 2 here."""

from __future__ import annotations

import json

import pytest

from tests.conftest import BROKEN_ATTACKER_CONFTEST

# Two attacks (encoder and intercept access), so each worker gets one group.
ARGS = ("-k", "features.7 or pool", "--privacy-access", "encoder,intercept")


def values(pytester, folder):
    report = json.loads((pytester.path / folder / "report.json").read_text())
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


def test_workers_share_one_forward_pass(pytester, demo_checkpoint, monkeypatch):
    """With the pytest cache on, two workers find the same cache entry: one computes it under the
    lock, the other reads it; the entry's files are written once."""
    pytester.makefile(
        ".yaml",
        thresholds="audit: {scenarios: [worst_case], budget: quick, bootstrap: 200, permutations: 200}\n"
        "attacker: {epochs: 2, batch_size: 8}\n",
    )
    (pytester.path / "m.pt").write_bytes(demo_checkpoint.read_bytes())
    result = pytester.runpytest_subprocess(
        "--privacy-audit",
        "m.pt",
        "--privacy-data",
        "synthetic:speakers=20,utterances=4,duration=1.0",
        "-n",
        "2",
        "-k",
        "features.3 or pool",
    )
    assert result.ret in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED)
    entries = list((pytester.path / ".pytest_cache" / "d" / "privacy-checks" / "embeddings").glob("*/"))
    entries = [e for e in entries if e.is_dir()]
    assert len(entries) == 1  # one (checkpoint, corpus, features) entry
    assert not list(entries[0].glob("*.tmp*"))


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


def test_workers_train_each_attacker_once_across_the_run(pytester, demo_checkpoint):
    """Items spread over the workers one by one, but what many of them need is computed by one
    worker for all: an attack's controls (every layer's item needs them) and the later layers'
    predictions a failing item's safe-split search reads. Counted: the heads the user's attacker
    builds (one per fold and per control) are as many with -n 2 as serially, and the run's shared
    folder (in pytest's cache) is gone afterwards."""
    from tests.conftest import FAST_CONFIG, TINY_DATA

    pytester.makefile(".yaml", thresholds=FAST_CONFIG)
    pytester.makeconftest(COUNTING_CONFTEST)
    (pytester.path / "m.pt").write_bytes(demo_checkpoint.read_bytes())
    log = pytester.path / "trainings.log"
    select = ("-k", "counted and (features.3 or features.7 or pool or classifier.4)")

    def run(folder: str, *extra: str):
        return pytester.runpytest_subprocess(
            "--privacy-audit", "m.pt", "--privacy-data", TINY_DATA, *select, "--privacy-report", folder, *extra
        )

    serial = run("serial", "-p", "no:xdist")
    serial_builds = log.read_text().split()
    log.unlink()
    parallel = run("parallel", "-n", "2")
    parallel_builds = log.read_text().split()
    assert serial.ret == parallel.ret, parallel.stdout.str()[-2000:]
    assert len(values(pytester, "serial")[0]) == 4
    assert values(pytester, "serial") == values(pytester, "parallel")
    assert len(parallel_builds) == len(serial_builds) > 0
    assert len(set(parallel_builds)) == 2  # both workers trained some
    runs = pytester.path / ".pytest_cache" / "d" / "privacy-checks" / "runs"
    assert runs.is_dir() and not list(runs.iterdir()), "the run's shared folder is removed at the end"
