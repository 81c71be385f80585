"""A run killed with SIGKILL mid forward pass leaves temporaries and a lock file; the next run
removes them (issue 13: ~120 MB stayed forever) and still computes the same results. The sweep's
rules keep every file a live writer may still use."""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from privacy_checks import cache_seal
from privacy_checks.cache_sweep import DEAD_WRITER_GRACE_S, sweep_stale
from privacy_checks.engine import open_audit
from tests.conftest import DEMO, REPO

DATA = "synthetic:speakers=20,utterances=60,duration=1.0"
CONFIG = {
    "audit": {"budget": "quick", "scenarios": ["worst_case"], "layers": ["features.3"], "bootstrap": 100},
    "attacker": {"epochs": 2},
}


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def age(path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_the_sweep_removes_only_what_no_live_writer_can_use(tmp_path):
    old, grace = 2 * 24 * 3600, DEAD_WRITER_GRACE_S + 60
    gone, pid = dead_pid(), os.getpid()
    files = {
        f"embeddings/k/.features.3.npy.{gone}.tmp": (grace, True),  # its writer is dead
        f"embeddings/k/.features.6.npy.{gone}.tmp": (10, False),  # dead, but written just now
        f"embeddings/k/.features.7.npy.{pid}.tmp": (grace, False),  # its writer is alive
        f"features/ab12.{gone}.tmp.npy": (grace, True),  # the feature cache's naming
        "embeddings/k/.features.3.npy.seal.x8r2.tmp": (old, True),  # one-go write, long finished
        "embeddings/k/.report.json.q9.tmp": (60, False),  # one-go write, maybe in progress
        "embeddings/k/features.3.npy": (old, False),  # a cache entry, however old
        "embeddings/stale.lock": (grace, True),
        "embeddings/fresh.lock": (10, False),
    }
    for name, (seconds, _) in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x" * 1000)
        age(path, seconds)
    held = tmp_path / "embeddings" / "held.lock"
    held.write_bytes(b"")
    age(held, grace)
    with open(held, "rb") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # another process computing an entry
        removed = {path.relative_to(tmp_path).as_posix() for path, _size in sweep_stale(tmp_path)}
    assert removed == {name for name, (_, stale) in files.items() if stale}
    assert held.exists()


def test_a_symlinked_cache_root_is_not_followed(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    victim = outside / f".precious.{dead_pid()}.tmp"
    victim.write_bytes(b"x")
    age(victim, 3 * 24 * 3600)
    (tmp_path / "cache").symlink_to(outside)
    assert sweep_stale(tmp_path / "cache") == []
    assert victim.exists()


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_sigkill_mid_forward_pass_then_the_next_run_cleans_up(tmp_path, monkeypatch, one_torch_thread):
    monkeypatch.setenv("PRIVACY_CHECKS_SEAL_KEY_FILE", str(tmp_path / "keys" / "seal.key"))
    cache = tmp_path / "cache"
    script = textwrap.dedent(f"""
        from privacy_checks.engine import open_audit
        audit = open_audit({str(DEMO)!r}, {DATA!r}, config={CONFIG!r}, cache_dir={str(cache / "embeddings")!r})
        audit.result(audit.cases[0])
    """)
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    run = subprocess.Popen([sys.executable, "-c", script], env=env, cwd=tmp_path)
    deadline = time.time() + 120
    while not list(cache.rglob("*.tmp")) and time.time() < deadline and run.poll() is None:
        time.sleep(0.05)
    run.send_signal(signal.SIGKILL)
    run.wait()
    left = [*cache.rglob("*.tmp"), *cache.rglob("*.tmp.npy"), *cache.rglob("*.lock")]
    assert left, "the run was not caught mid-write; make DATA larger"
    for path in left:
        age(path, DEAD_WRITER_GRACE_S + 1)

    with pytest.warns(cache_seal.CacheWarning, match="stale temporary or lock files"):
        audit = open_audit(DEMO, DATA, config=CONFIG, cache_dir=cache / "embeddings")
    assert not [path for path in left if path.exists()]
    assert audit.result(audit.cases[0]).status == "failed"  # the demo leaks at features.3
    assert not [*cache.rglob("*.tmp"), *cache.rglob("*.tmp.npy"), *cache.rglob("*.lock")]
