"""Shared fixtures: the committed demo checkpoint and fast settings for pytester projects."""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

import pytest

# The pytester fixture forgets modules first imported during a test (see below): scipy.signal, the
# synthesiser's filters imported where used, would be first imported by a test rendering audio in this
# process (write_manifest), and numpy.fft's extension under it cannot load twice in a process.
import scipy.signal  # noqa: F401
import torch

import privacy_checks.model.zoo.vgg

# The pytester fixture forgets modules first imported during a test; a class imported twice no
# longer pickles ("not the same object"), so the engine is imported once, here.
import privacy_checks.pytest_plugin.session  # noqa: F401
from tests import preloaded

# Likewise torch.export: its first use imports torch._inductor, which registers operator libraries
# that cannot be registered twice. Were that first use inside a pytester test (a .pt2 built for an
# audit run), its modules would be forgotten, their registrations not, and every later export in
# the worker would fail. One export here, before any test.
torch.export.export(torch.nn.Linear(1, 1), (torch.zeros(1, 1),))

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "examples" / "demo_ser.pt"

# Small enough that an end-to-end audit in a pytester project takes a few seconds on 2 cores: 3
# speaker folds instead of 5 train 40 % fewer attackers (a demo audit: 36 s -> 23 s, same verdicts).
FAST_CONFIG = """\
audit:
  scenarios: [worst_case]
  folds: 3
  budget: quick
  bootstrap: 200
  permutations: 200
attacker:
  epochs: 10
  batch_size: 8
"""
# 20 speakers x 4 short clips: speaker diversity is what lets a gender attacker generalise.
TINY_DATA = "synthetic:speakers=20,utterances=4,duration=1.0"


# A conftest.py registering a custom attacker whose head raises: its items must be errors.
BROKEN_ATTACKER_CONFTEST = (
    "from privacy_checks import CustomAttacker\n"
    "def broken(shape, outputs):\n"
    "    raise RuntimeError('my head is broken')\n"
    "def pytest_privacy_attackers(config):\n"
    "    return [CustomAttacker('broken', build=broken)]\n"
)


# The pytest runs a test starts, as argument: hypothesis's pytest plugin, installed for this suite's own
# property tests, imports all of hypothesis (~1 s) in every run's terminal summary; the projects under
# test use none of it, and the suite starts ~140 such runs.
WITHOUT_HYPOTHESIS = ("-p", "no:hypothesispytest")


@pytest.fixture
def pytester(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """pytest's pytester, its runs without hypothesis's plugin; `runpytest_subprocess` forks a process that
    has the heavy libraries imported (tests/preloaded.py)."""
    monkeypatch.setenv("PYTEST_ADDOPTS", " ".join(WITHOUT_HYPOTHESIS))
    monkeypatch.setattr(pytester, "runpytest_subprocess", functools.partial(preloaded.runpytest_subprocess, pytester))
    return pytester


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


@dataclass(frozen=True)
class SharedRun:
    """One audit run that several tests assert on: its result and the project folder it wrote into
    (read it, never write: the next test reads the same files)."""

    result: pytest.RunResult
    path: Path


def run_pytest_subprocess(path: Path, *args: str, fresh: bool = False) -> pytest.RunResult:
    """`pytester.runpytest_subprocess` in `path`, for a fixture wider than one test: the same
    interpreter, arguments and environment (HOME in the project, no outer PYTEST_ADDOPTS or colours,
    the project first on PYTHONPATH); `fresh`: a new interpreter, not a preloaded child."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTEST_ADDOPTS", "TOX_ENV_DIR")}
    env.update(HOME=str(path), USERPROFILE=str(path), PY_COLORS="0", PYTEST_DEBUG_TEMPROOT=str(path / "tmp"))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(path), env.get("PYTHONPATH", "")]))
    (path / "tmp").mkdir(exist_ok=True)
    runs = len(list(path.glob("runpytest-*[0-9]")))  # a second run in the folder (audit_again) gets its own
    name = f"runpytest-{runs}"
    args = (f"--basetemp={path / name}", *WITHOUT_HYPOTHESIS, *args)
    return preloaded.run_pytest(path, env, list(args), path / f"{name}.stdout", path / f"{name}.stderr", fresh)


@pytest.fixture(scope="session")
def shared_audit(tmp_path_factory):
    """`audit_project`'s run, once per session for each distinct (arguments, thresholds.yaml, data):
    tests that assert on the same audit call it with the same arguments and share one run. Give
    them one `pytest.mark.xdist_group`, so that under -n they share a worker (and so the run)."""
    runs: dict[tuple, SharedRun] = {}

    def run(*args: str, config: str = FAST_CONFIG, data: str = TINY_DATA) -> SharedRun:
        key = (args, config, data)
        if key not in runs:
            path = tmp_path_factory.mktemp("shared_audit")
            (path / "thresholds.yaml").write_text(config)
            (path / DEMO.name).write_bytes(DEMO.read_bytes())
            runs[key] = SharedRun(audit_in(path, *args, data=data), path)
        return runs[key]

    return run


def audit_in(path: Path, *args: str, data: str = TINY_DATA, fresh: bool = False) -> pytest.RunResult:
    """An audit run of the demo copy in `path` (a shared_audit folder): what shared_audit runs, and
    a second command in the same project (same checkpoint path and thresholds.yaml) that writes only
    files of its own names there, for a test comparing two runs."""
    argv = ["-p", "no:cacheprovider", "--privacy-audit", str(path / DEMO.name), *args, "--privacy-data", data]
    return run_pytest_subprocess(path, *argv, fresh=fresh)


# Audit runs that tests in several files assert on, each test on what its own option produced: call
# shared_audit(*RUN) and mark the test with the run's xdist_group.
# group "collect": the default items (ids, one per layer, encoder access only).
COLLECT_RUN = ("--collect-only", "-q")
# group "audit-c4": no report folder, a verdict with --privacy-device auto, the junit figures.
C4_RUN = ("-k", "classifier.4", "--privacy-device", "auto", "--junitxml", "junit.xml")


# group "baseline-saved": three items whose ids sort otherwise than they are collected, under limits
# of 1.0 (only a baseline fails an item), saving a baseline and writing a report folder. 4 epochs,
# not 10: training the attackers (mostly the controls') is most of a run, and what the tests read
# holds at 4 (the convex probe's reading decides features.7's L ~0.97).
SAVED_LAYERS = ("-k", "features.7 or pool or classifier.1")
SAVED_CONFIG = FAST_CONFIG.replace("  epochs: 10\n", "  epochs: 4\n") + "\nlimits:\n  max_excess: 1.0\n"
assert "epochs: 4" in SAVED_CONFIG
SAVED_RUN = (*SAVED_LAYERS, "--privacy-report", "first", "--privacy-save-baseline", "first.json")
# group "audit-null": every layer on a corpus whose audio carries no gender, with a report folder.
NULL_DATA = "synthetic:speakers=20,utterances=4,duration=1.0,gender_effect=0"
NULL_RUN = ("--privacy-report", "out")


def f7_c4_run(junit_family: str = "xunit2") -> tuple[str, ...]:
    """Group "audit-f7-c4": a leaking layer and the output layer, with a report folder (report.json's
    contract) and junit XML of the given family (its properties)."""
    junit = ("--junitxml", "junit.xml", "-o", f"junit_family={junit_family}")
    return ("-k", "features.7 or classifier.4", "--privacy-report", "out", *junit)


def pytest_configure(config: pytest.Config) -> None:
    # Under -n, keep the tests of one xdist_group (those sharing a run) on one worker: pytest-xdist's
    # default `load` ignores the groups. Without xdist (-p no:xdist) the mark is only a name.
    config.addinivalue_line("markers", "xdist_group(name): tests sharing a run (tests/conftest.py: shared_audit)")
    if getattr(config.option, "dist", "no") == "load":
        config.option.dist = "loadgroup"
    # A worker re-parses the command line (no --dist loadgroup there), so it tags the grouped tests'
    # ids (`id@group`, what the scheduler groups by) only when the controller says so.
    if getattr(config, "workerinput", {}).get("loadgroup"):
        config.option.loadgroup = True


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node) -> None:
    """pytest-xdist's controller, before starting a worker: pass on that the run is `loadgroup`."""
    if node.config.getvalue("dist") == "loadgroup":
        node.workerinput["loadgroup"] = True


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny models on a busy 2-core machine: a second OpenMP thread only waits on its peer."""
    from privacy_checks.engine.audit import torch_threads

    with torch_threads(1):
        yield


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A worker under loadgroup: each grouped test's id tagged `id@group`, what the controller's
    LoadGroupScheduling keeps on one worker. pytest-xdist 3.8 tags `item._nodeid`, which pytest 9.2 no
    longer reads (its ids live in `_id`): without this every xdist_group was ignored and each worker
    ran the shared audits its tests needed again."""
    if not config.getoption("loadgroup", default=False):  # False, or no such option under -p no:xdist
        return
    from _pytest.nodeid import coerce_node_id

    for item in items:
        names = {
            str(m.args[0] if m.args else m.kwargs.get("name", "default")) for m in item.iter_markers("xdist_group")
        }
        tag = f"@{'_'.join(sorted(names))}"
        if names and not item.nodeid.endswith(tag):
            item._id = coerce_node_id(item.nodeid + tag)  # type: ignore[attr-defined]
