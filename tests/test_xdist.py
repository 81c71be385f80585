"""pytest-xdist: `-n 2` gives the serial run's results with the default settings (audit.threads 1:
CPU kernels sum in thread-count-dependent order, so the count is fixed); the controller writes the
one summary and report; each embedding is computed once (file lock on the shared cache). The option
tests' key paths run under -n 2 here."""

from __future__ import annotations

import json

import pytest

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
