"""Shared fixtures: the committed demo checkpoint and fast settings for pytester projects."""

from __future__ import annotations

from pathlib import Path

import pytest

# pytester's in-process runs forget modules first imported inside them, and numpy/scipy/torch
# extension modules cannot be loaded twice in one process: import the whole engine up front.
import privacy_checks.corpora.manifest  # noqa: F401,E402
import privacy_checks.corpora.synthetic  # noqa: F401,E402
import privacy_checks.items  # noqa: F401,E402
import privacy_checks.session  # noqa: F401,E402

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "examples" / "demo_ser.pt"

# Small enough that an end-to-end audit in a pytester project takes a few seconds on 2 cores.
FAST_CONFIG = """\
audit:
  bootstrap: 200
  permutations: 200
attacker:
  epochs: 3
"""
TINY_DATA = "synthetic:speakers=10,utterances=4,duration=1.0"


@pytest.fixture
def demo_checkpoint() -> Path:
    return DEMO


@pytest.fixture
def audit_project(pytester: pytest.Pytester):
    """A pytester project with fast thresholds.yaml; returns a runner for audit runs."""
    pytester.makefile(".yaml", thresholds=FAST_CONFIG)

    def run(*args: str, checkpoint: Path | str = DEMO, data: str | None = TINY_DATA, subprocess: bool = False):
        argv = ["-p", "no:cacheprovider", "--privacy-audit", str(checkpoint), *args]
        if data is not None:
            argv += ["--privacy-data", data]
        runner = pytester.runpytest_subprocess if subprocess else pytester.runpytest_inprocess
        return runner(*argv)

    return run
