"""Shared fixtures: the committed demo checkpoint and fast settings for pytester projects."""

from __future__ import annotations

from pathlib import Path

import pytest

import privacy_checks.model.zoo.vgg

# The pytester fixture forgets modules first imported during a test; a class imported twice no
# longer pickles ("not the same object"), so the engine is imported once, here.
import privacy_checks.pytest_plugin.session  # noqa: F401

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "examples" / "demo_ser.pt"

# Small enough that an end-to-end audit in a pytester project takes a few seconds on 2 cores.
FAST_CONFIG = """\
audit:
  scenarios: [worst_case]
  budget: quick
  bootstrap: 200
  permutations: 200
attacker:
  epochs: 10
  batch_size: 8
"""
# 20 speakers x 4 short clips: speaker diversity is what lets a gender attacker generalise.
TINY_DATA = "synthetic:speakers=20,utterances=4,duration=1.0"


@pytest.fixture
def demo_checkpoint() -> Path:
    return DEMO


@pytest.fixture
def audit_project(pytester: pytest.Pytester):
    """A pytester project with fast thresholds.yaml; returns a runner for audit runs."""
    pytester.makefile(".yaml", thresholds=FAST_CONFIG)
    # A copy inside the project: pytest picks its rootdir from path-like arguments, and the repo's
    # own pyproject.toml must not become the rootdir of the project under test.
    local_demo = pytester.path / DEMO.name
    local_demo.write_bytes(DEMO.read_bytes())

    def run(*args: str, checkpoint: Path | str = local_demo, data: str | None = TINY_DATA):
        # A subprocess per run, as a user's pytest: torch does not survive pytester's in-process
        # module snapshots (lazily registered operator libraries cannot be registered twice).
        argv = ["-p", "no:cacheprovider", "--privacy-audit", str(checkpoint), *args]
        if data is not None:
            argv += ["--privacy-data", data]
        return pytester.runpytest_subprocess(*argv)

    return run


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny models on a busy 2-core machine: a second OpenMP thread only waits on its peer."""
    from privacy_checks.engine.audit import torch_threads

    with torch_threads(1):
        yield
