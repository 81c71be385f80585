"""pytest hooks and options for ``pytest --privacy-audit CHECKPOINT``.

Only hooks and option parsing live here, and nothing heavy is imported at module level: a project
that has the plugin installed but doesn't pass ``--privacy-audit`` never imports torch.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from privacy_checks.errors import PrivacyInputError
from privacy_checks.pytest_plugin.options import DEVICES, AuditOptions, non_negative_int
from privacy_checks.pytest_plugin.stash import PROGRESS_KEY, RUN_KEY, SESSION_KEY, UNSPLIT_KEY
from privacy_checks.threat_model import BUDGETS

if TYPE_CHECKING:
    from privacy_checks.engine.handle import AuditHandle


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("privacy", "privacy-checks: gender-leakage audit of speech models")
    group.addoption(
        "--privacy-audit",
        metavar="CHECKPOINT",
        default=None,
        help="audit this SER checkpoint for gender leakage (one item per scenario x attacker x layer)",
    )
    group.addoption(
        "--privacy-data",
        metavar="SPEC",
        default=None,
        help="audit corpus: synthetic, synthetic:key=value,..., or a manifest .csv "
        "(default: audit.data in thresholds.yaml, else synthetic)",
    )
    group.addoption(
        "--privacy-aux-data",
        metavar="SPEC",
        default=None,
        help="auxiliary corpus (other speakers) for scenarios 1, 3 and 4, same syntax as --privacy-data "
        "(default: audit.aux_data; without one those scenarios are skipped)",
    )
    group.addoption(
        "--privacy-scenarios",
        metavar="NAMES",
        default=None,
        help="comma-separated Table 1 scenarios: worst_case,scenario_1,...,scenario_4 (default: all)",
    )
    group.addoption(
        "--privacy-access",
        metavar="MODES",
        default=None,
        help="comma-separated: encoder (the attacker runs T's on-device part; gates CI) and/or "
        "intercept (the paper's protocol: its own model, h_T fed in); default audit.access, encoder",
    )
    group.addoption(
        "--privacy-budget",
        metavar="BUDGET",
        default=None,
        choices=tuple(BUDGETS),
        help="quick (pull requests), standard (default) or thorough (nightly): utterances per "
        "speaker, epochs and which attackers",
    )
    group.addoption(
        "--privacy-config",
        metavar="FILE",
        default=None,
        help="limits and settings (default: thresholds.yaml where pytest runs, else in the rootdir, if present)",
    )
    group.addoption(
        "--privacy-report",
        metavar="DIR",
        default=None,
        help="write report.json, report.md (fits $GITHUB_STEP_SUMMARY), report.html and PNG plots into DIR",
    )
    group.addoption(
        "--privacy-baseline",
        metavar="FILE",
        default=None,
        help="compare every item with this stored baseline: an item whose leakage rose beyond the "
        "combined uncertainty (or baseline.margin) fails even under its limit",
    )
    group.addoption(
        "--privacy-save-baseline",
        metavar="FILE",
        default=None,
        help="write this run's leakage per item as the new baseline (small JSON keyed by item id)",
    )
    group.addoption(
        "--privacy-seed",
        metavar="N",
        type=non_negative_int,
        default=None,
        help="seed for folds, attackers and resampling (default: audit.seed, 0)",
    )
    group.addoption(
        "--privacy-trust-checkpoint",
        action="store_true",
        default=False,
        help="allow a pickled nn.Module, a TorchScript archive, a .pt2 with pickled objects (runs the file's code)",
    )
    group.addoption(
        "--privacy-device",
        metavar="DEVICE",
        default="cpu",
        choices=DEVICES,
        help="where forward passes and attacker training run: auto, cpu or cuda (default cpu)",
    )


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    from privacy_checks.pytest_plugin import hookspec

    pluginmanager.add_hookspecs(hookspec)


def pytest_configure(config: pytest.Config) -> None:
    options = AuditOptions.from_pytest(config)
    if options is None:
        return
    from privacy_checks.pytest_plugin.session import AuditSession  # imports torch: only when the audit is on

    custom = [a for returned in config.hook.pytest_privacy_attackers(config=config) for a in (returned or ())]
    config.stash[SESSION_KEY] = AuditSession.start(options, config, custom)
    config.pluginmanager.register(ResultRows(config.stash[SESSION_KEY]), "privacy-checks-results")
    if not _is_worker(config):
        from privacy_checks.pytest_plugin.terminal_progress import TerminalProgress

        config.stash[PROGRESS_KEY] = TerminalProgress.for_config(config)
    from privacy_checks.pytest_plugin.shards import ShardPlugin, splitting

    if splitting(config):  # pytest-split: each shard keeps whole attacks (shards.py)
        config.pluginmanager.register(ShardPlugin(config), "privacy-checks-shards")
    checkpoint = str(options.collected)
    # `pytest --privacy-audit m.pt` audits only; `pytest --privacy-audit m.pt tests/` runs both.
    if config.args_source == pytest.Config.ArgsSource.ARGS:
        if checkpoint not in config.args:
            config.args.append(checkpoint)
    else:
        config.args[:] = [checkpoint]


@pytest.fixture
def privacy_audit(request: pytest.FixtureRequest) -> AuditHandle:
    """This run's audit (same model, corpora and thresholds as --privacy-audit), for writing one's
    own audit tests: ``privacy_audit.evaluate(CustomAttacker(...), "pool")`` returns the result of
    that attacker at that layer; ``.layers``, ``.cases`` and ``.result(item_id)`` list and read the
    run's own items (see :class:`privacy_checks.engine.handle.AuditHandle`). Skips the test when
    --privacy-audit is not given."""
    session = request.config.stash.get(SESSION_KEY, None)
    if session is None:
        pytest.skip("privacy_audit needs --privacy-audit CHECKPOINT")
    session.prepare()
    from privacy_checks.engine.handle import AuditHandle

    return AuditHandle(session.audit)


def pytest_report_header(config: pytest.Config) -> list[str] | None:
    session = config.stash.get(SESSION_KEY, None)
    if session is None:
        return None
    audit = session.audit
    return [
        f"privacy-checks: auditing {audit.target.path.name} on {audit.corpus.name} "
        f"({len(audit.cases)} cases, limits from {session.config.source or 'built-in defaults'})"
    ]


def pytest_sessionstart(session: pytest.Session) -> None:
    """Model and corpus facts as global properties of a --junitxml report (as the
    record_testsuite_property fixture does); per-item figures are each test case's properties."""
    audit_session = session.config.stash.get(SESSION_KEY, None)
    if audit_session is None:
        return
    try:
        from _pytest.junitxml import xml_key
    except ImportError:  # a pytest without the junitxml plugin's key: nothing to annotate
        return
    xml = session.config.stash.get(xml_key, None)
    if xml is None:
        return
    audit = audit_session.audit
    facts = {
        "privacy_model": audit.target.path.name,
        "privacy_model_sha256": audit.target.fingerprint,
        "privacy_architecture": audit.target.architecture,
        "privacy_corpus": audit.corpus.name,
        "privacy_corpus_fingerprint": audit.corpus.fingerprint,
        "privacy_utterances": len(audit.corpus),
        "privacy_speakers": len(set(audit.corpus.speakers)),
        "privacy_budget": audit.budget.name,
        "privacy_seed": audit.config.audit.seed,
    }
    if audit.aux is not None:
        facts["privacy_aux_corpus"] = audit.aux.name
    for name, value in facts.items():
        xml.add_global_property(name, value)


def pytest_collect_file(file_path: Path, parent: pytest.Collector):
    session = parent.config.stash.get(SESSION_KEY, None)
    if session is not None and file_path == session.options.collected:
        from privacy_checks.pytest_plugin.items import CheckpointFile

        return CheckpointFile.from_parent(parent, path=file_path)
    return None


def pytest_collect_directory(path: Path, parent: pytest.Collector):
    """A model that is a folder (a Hugging Face save_pretrained folder) is one collector: its files
    are the model's, not tests."""
    session = parent.config.stash.get(SESSION_KEY, None)
    if session is not None and path == session.options.collected:
        from privacy_checks.pytest_plugin.items import CheckpointFile

        return CheckpointFile.from_parent(parent, path=path)
    return None


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under pytest-split, the items every shard splits: after -k and -m, before pytest-split chooses
    (its plugin is registered later, so pluggy calls this trylast hook first; shards.py)."""
    if SESSION_KEY in config.stash and config.pluginmanager.has_plugin("privacy-checks-shards"):
        config.stash[UNSPLIT_KEY] = list(items)


@pytest.hookimpl(wrapper=True)
def pytest_runtestloop(session: pytest.Session):
    audit_session = session.config.stash.get(SESSION_KEY, None)
    if audit_session is not None and not session.config.option.collectonly:
        from privacy_checks.pytest_plugin.items import LeakageItem

        selected = [item.case for item in session.items if isinstance(item, LeakageItem)]
        audit_session.select(selected)
        audit_session.ran = True
        if selected:
            from privacy_checks import progress

            display = session.config.stash.get(PROGRESS_KEY, None)
            # One forward pass for every layer before any item runs; unreadable audio is a usage error.
            with progress.showing(display):
                audit_session.prepare()
            if display is not None:
                display.start_items(len(selected))
                if session.config.get_verbosity() >= 0:
                    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
                    if reporter is not None:
                        for line in display.forward_pass_lines():
                            reporter.write_line(line)
    return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item):
    display = item.config.stash.get(PROGRESS_KEY, None)
    if display is None or not hasattr(item, "case"):
        return (yield)
    from privacy_checks import progress

    try:
        with progress.showing(display):  # erased before pytest reports the item
            return (yield)
    finally:
        display.item_done()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call):
    report = yield
    session = item.config.stash.get(SESSION_KEY, None)
    if session is not None and call.when == "call" and hasattr(item, "case"):
        error = getattr(item, "error", None)  # the item raised: its error row (items.ItemError)
        result = error.result if error is not None else session.audit.computed(item.case)
        if result is not None:
            # Plain attributes travel with the report from an xdist worker to the controller.
            report.privacy_result = result.as_dict()
            if error is not None:
                report.privacy_error = error.kind
    return report


class ResultRows:
    """Records every item's result row from its test report: this process's, or each pytest-xdist
    worker's on the controller, which then writes the one summary and report."""

    def __init__(self, session):
        self.session = session

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node, ids: list[str]) -> None:
        """The controller collects nothing itself: the items a worker collected are this run's
        selection (report.json's coverage)."""
        self.session.select_names({nodeid.rsplit("::", 1)[-1] for nodeid in ids})

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        row = getattr(report, "privacy_result", None)
        if row is not None:
            self.session.record(row, error=getattr(report, "privacy_error", None))


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node) -> None:
    """pytest-xdist, on the controller, per worker: the run's id, so that the workers share the
    results many items need (an attack's controls, the convex probe's readings) in a folder of
    this run's own instead of each computing them again."""
    config = node.config
    if SESSION_KEY not in config.stash:
        return
    from privacy_checks.pytest_plugin.session import RUN_INPUT

    if RUN_KEY not in config.stash:
        import uuid

        config.stash[RUN_KEY] = uuid.uuid4().hex
    node.workerinput[RUN_INPUT] = config.stash[RUN_KEY]


def pytest_unconfigure(config: pytest.Config) -> None:
    """The controller removes the folder its workers shared (it holds this run's results only)."""
    run_id = config.stash.get(RUN_KEY, None)
    if run_id is not None:
        import contextlib
        import shutil

        from privacy_checks.pytest_plugin.session import run_folder

        with contextlib.suppress(OSError, PrivacyInputError):  # the cache went away: nothing left there
            shutil.rmtree(run_folder(config, run_id), ignore_errors=True)


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def pytest_terminal_summary(terminalreporter, exitstatus, config: pytest.Config) -> None:
    session = config.stash.get(SESSION_KEY, None)
    if session is None or _is_worker(config) or not session.rows:
        return
    terminalreporter.write_sep("=", "privacy audit: gender leakage")
    for line in session.report().lines():
        terminalreporter.write_line(line)
    status = session.exit_status()
    if status is not None and exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
        raised = len(session.errors)
        why = (
            "an attacker or the engine raised, not a measurement: see the items' tracebacks above"
            if status == pytest.ExitCode.INTERNAL_ERROR
            else "a usage error found while the items ran: see their messages above"
        )
        terminalreporter.write_line(
            f"{raised} item{'s' if raised > 1 else ''} could not run; exit code {int(status)} ({why})", red=True
        )


def pytest_sessionfinish(session: pytest.Session, exitstatus) -> None:
    audit_session = session.config.stash.get(SESSION_KEY, None)
    if audit_session is None or _is_worker(session.config):
        return  # the controller (or a serial run) writes the reports, once
    from privacy_checks.pytest_plugin.shards import splitting

    sharded = splitting(session.config) and audit_session.ran
    if not (audit_session.rows or sharded):
        return  # a shard writes its report even when it holds no item: the merge needs its coverage
    if sharded and not audit_session.selected and session.exitstatus == pytest.ExitCode.NO_TESTS_COLLECTED:
        session.exitstatus = pytest.ExitCode.OK  # other shards hold every attack; the merge checks coverage
    status = audit_session.exit_status()
    if status is not None and session.exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
        session.exitstatus = status  # an item that raised is never reported as "a layer leaks" (1)
    options = audit_session.options
    report = audit_session.report()
    writes: list[tuple[str, Path, Callable[[], object]]] = []
    if (report_dir := options.report_dir) is not None:
        writes.append(("--privacy-report", report_dir, lambda: report.write(report_dir)))
    if (baseline_path := options.save_baseline) is not None:
        from privacy_checks.engine.baseline import save_baseline

        writes.append(
            ("--privacy-save-baseline", baseline_path, lambda: save_baseline(baseline_path, report.as_dict()))
        )
    for flag, where, write in writes:
        try:
            write()
        except (OSError, PrivacyInputError) as exc:  # checked at start-up: a full disk, or a race
            message = str(exc) if isinstance(exc, PrivacyInputError) else f"{flag} {where}: cannot write: {exc}"
            session.config.get_terminal_writer().line(f"ERROR: {message} (nothing was replaced)", red=True)
            if session.exitstatus != pytest.ExitCode.INTERNAL_ERROR:
                session.exitstatus = pytest.ExitCode.USAGE_ERROR
