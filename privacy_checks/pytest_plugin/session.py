"""The pytest-side audit session: built once at configure time from the typed options.

The engine (torch) is imported when the session starts, not when this module is imported: the
pytest layer itself stays torch-free (tests/test_layering.py).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from privacy_checks.config import PrivacyConfig, load_config
from privacy_checks.data import load_corpus
from privacy_checks.engine.results import ResultRow, safe_split_points
from privacy_checks.errors import PrivacyInputError
from privacy_checks.pytest_plugin.items import CRASH
from privacy_checks.pytest_plugin.options import AuditOptions
from privacy_checks.reporting.report import AuditReport, Coverage

if TYPE_CHECKING:
    from privacy_checks.engine.audit import Audit, CaseResult


class AuditSession:
    def __init__(self, options: AuditOptions, config: PrivacyConfig, audit: Audit):
        self.options = options
        self.config = config
        self.audit = audit
        self.selected: set = set(audit.cases)  # narrowed to the collected items (-k, node ids)
        # Result rows by item id, as the test reports bring them: from this process, or from
        # pytest-xdist workers, so the controller's summary and report cover every item once.
        self.rows: dict[str, ResultRow] = {}
        # Items that raised instead of returning a result, by id: "usage" (exit 4) or "crash" (exit 3).
        self.errors: dict[str, str] = {}
        self.ran = False  # the run loop started (not --collect-only, no usage error before it)

    def select(self, cases) -> None:
        self.selected = set(cases)

    def select_names(self, names: set[str]) -> None:
        self.selected = {case for case in self.audit.cases if case.name in names}

    def safe_split(self, case, computed_only: bool = False) -> str | None:
        return self.audit.safe_split(case, among=self.selected, computed_only=computed_only)

    @classmethod
    def start(cls, options: AuditOptions, pytest_config, custom_attackers=()) -> AuditSession:
        """Load config, checkpoint and corpus; any user mistake becomes a usage error (exit 4). What
        needs no torch is checked first: a mistake there is reported in a fraction of a second, not
        after torch and the engine have been imported (seconds)."""
        from privacy_checks.engine.baseline import load_baseline

        try:
            if not hasattr(pytest_config, "workerinput"):  # the controller (or a serial run) writes them
                check_outputs(options)
            config = _effective_config(options)
            corpus = _corpus(options.data, config.audit.data, "data", config, pytest_config)
            aux_spec = options.aux_data or config.audit.aux_data
            aux = (
                _corpus(options.aux_data, config.audit.aux_data, "aux_data", config, pytest_config)
                if aux_spec
                else None
            )
            baseline = load_baseline(options.baseline) if options.baseline else None
            from privacy_checks.engine.entry import open_audit
            from privacy_checks.model import load_target

            target = load_target(options.checkpoint, config.model, options.trust_checkpoint)
            cache_dir = _cache_dir(pytest_config)
            if getattr(pytest_config.option, "dist", "no") != "no":  # the controller of pytest-xdist workers
                runs_root(cache_dir)
            audit = open_audit(
                target,
                corpus,
                config=config,
                aux=aux,
                cache_dir=cache_dir,
                device=_device(options.device),
                custom_attackers=custom_attackers,
                baseline=baseline,
                base_dir=config.source.parent if config.source else Path(pytest_config.rootpath),
                shared_dir=_shared_dir(pytest_config, cache_dir),
            )
        except PrivacyInputError as exc:
            raise pytest.UsageError(_say_no_config_was_read(str(exc), options)) from None
        if config.audit.threads is None:
            _share_cores(pytest_config)
        return cls(options, config, audit)

    def prepare(self) -> None:
        try:
            self.audit.prepare()
        except PrivacyInputError as exc:
            raise pytest.UsageError(str(exc)) from None

    def record(self, row: ResultRow | Mapping[str, Any], error: str | None = None) -> None:
        """A result row, or its dict as a pytest-xdist worker's test report carries it; `error` when
        the item raised (items.ItemError's kind)."""
        typed = row if isinstance(row, ResultRow) else ResultRow.from_dict(row)
        self.rows[typed.id] = typed
        if error is not None:
            self.errors[typed.id] = error

    def exit_status(self) -> pytest.ExitCode | None:
        """The exit code items that raised call for, None when none did: an attacker or the engine
        that raised is an internal error (3), never "a layer leaks" (1); a user's mistake found while
        an item ran is a usage error (4)."""
        if not self.errors:
            return None
        if CRASH in self.errors.values():
            return pytest.ExitCode.INTERNAL_ERROR
        return pytest.ExitCode.USAGE_ERROR

    def report(self) -> AuditReport:
        """From the recorded rows, in case order. It never trains: an interrupted run (-x, Ctrl-C)
        reports what it measured."""
        rows = [self.rows[c.name] for c in self.audit.cases if c.name in self.rows]
        aux = self.audit.aux
        return AuditReport(
            model=self.audit.target.describe(),
            corpus=self.audit.describe_corpus(),
            aux_corpus=self.audit.describe_corpus(aux) if aux is not None else None,
            settings=self.audit.describe_settings(),
            results=tuple(rows),
            safe_splits=safe_split_points(rows),
            coverage=Coverage(
                planned=tuple(c.name for c in self.audit.cases),
                selected=tuple(c.name for c in self.audit.cases if c in self.selected),
            ),
        )

    def result(self, case) -> CaseResult:
        return self.audit.result(case)


def _say_no_config_was_read(message: str, options: AuditOptions) -> str:
    """A fix that names thresholds.yaml, when none was read: say where it was looked for."""
    if "thresholds.yaml" not in message or options.config_required or os.path.lexists(options.config_path):
        return message
    return (
        f"{message}\n(no thresholds.yaml was read: none in the folder pytest runs in nor in the rootdir "
        f"{options.config_path.parent}; put one there or name it with --privacy-config FILE)"
    )


def _corpus(option_value: str | None, config_value: str | None, key: str, config: PrivacyConfig, pytest_config):
    """Command-line paths are relative to where pytest was invoked; thresholds.yaml paths to the file."""
    if option_value is not None:
        flag = "--privacy-data" if key == "data" else "--privacy-aux-data"
        return load_corpus(option_value, Path(pytest_config.invocation_params.dir), option=flag)
    assert config_value is not None  # asked only for a corpus the options or thresholds.yaml name
    base = config.source.parent if config.source else Path(pytest_config.rootpath)
    return load_corpus(config_value, base, option=f"{config.source or 'thresholds.yaml'}: audit.{key}")


def _effective_config(options: AuditOptions) -> PrivacyConfig:
    config = load_config(options.config_path, required=options.config_required)
    # Options left unset are None and keep the file's values.
    return config.with_overrides(
        "command line",
        audit={
            "seed": options.seed,
            "scenarios": options.scenarios,
            "budget": options.budget,
            "access": options.access,
        },
    )


def _share_cores(pytest_config) -> None:
    """With audit.threads null, each pytest-xdist worker gets its share of the cores (n workers each
    spinning every core's threads slow each other down several-fold)."""
    import os

    if not hasattr(pytest_config, "workerinput"):
        return
    import torch

    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    torch.set_num_threads(max(1, usable_cores() // max(1, workers)))


def usable_cores() -> int:
    """The cores this process may run on: its CPU affinity (taskset, a CI job's cpuset), not the
    machine's count, which overcommits a 4-core job on a 16-core host four times."""
    import os

    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # no affinity API (macOS, Windows)
        return os.cpu_count() or 1


def check_outputs(options: AuditOptions) -> None:
    """Before anything is loaded: the report folder and the baseline file can be written where they
    go (a probe file is created and removed there: a read-only working folder, `/proc/x` or
    `/dev/null/x` are usage errors now, not after the audit)."""
    from privacy_checks.reporting.folder import check_report_folder, probe_folder

    if options.report_dir is not None:
        check_report_folder(options.report_dir)
    if options.save_baseline is not None:
        path = options.save_baseline
        # missing parents are created when it is written; the nearest existing one must take a file
        existing = next(p for p in (path.parent, *path.parent.parents) if p.exists() or p == p.parent)
        if not existing.is_dir():
            raise PrivacyInputError(
                f"--privacy-save-baseline {path}: {existing} is not a folder; pass a path inside a folder."
            )
        probe_folder("--privacy-save-baseline", path, existing)


RUN_INPUT = "privacy_checks_run"  # the key of the run's id in a pytest-xdist worker's workerinput


def run_folder(pytest_config, run_id: str, cache_dir: Path | None = None) -> Path:
    """Where the workers of run `run_id` share results (engine/shared_results.py), in the cache."""
    if not re.fullmatch(r"[0-9a-f]{32}", run_id):
        raise ValueError(f"not a run id: {run_id!r}")
    return runs_root(cache_dir or _cache_dir(pytest_config)) / run_id


def runs_root(cache_dir: Path) -> Path:
    """The folder of the runs' shared folders, beside the embeddings. A link or a file planted there
    (a checked-out .pytest_cache) would put a run's results wherever it points: a usage error."""
    runs = cache_dir.parent / "runs"
    if runs.is_symlink() or (runs.exists() and not runs.is_dir()):
        raise PrivacyInputError(
            f"{runs} is a link or a file, not a folder: pytest-xdist workers share a run's results in a "
            f"folder privacy-checks creates there, and a link would put them elsewhere; remove {runs} and run again."
        )
    return runs


def _shared_dir(pytest_config, cache_dir: Path) -> Path | None:
    """A pytest-xdist worker's folder shared with the run's other workers; None in a serial run."""
    run_id = getattr(pytest_config, "workerinput", {}).get(RUN_INPUT)
    return run_folder(pytest_config, run_id, cache_dir) if run_id else None


def _cache_dir(pytest_config) -> Path:
    """Embeddings live in pytest's cache (.pytest_cache/d/privacy-checks); without the cache
    plugin, or when it cannot be written (a read-only working folder), in this user's private
    folder in the system temp folder. Never next to the user's files."""
    from privacy_checks.cache_seal import fallback_cache_root
    from privacy_checks.reporting.folder import probe_folder

    cache = getattr(pytest_config, "cache", None)
    problem: Exception | None = None
    if cache is not None:
        try:
            folder = Path(cache.mkdir("privacy-checks"))
            probe_folder("pytest's cache", folder, folder)
            return folder / "embeddings"
        except (OSError, PrivacyInputError) as exc:
            problem = exc
    try:
        fallback = fallback_cache_root()
    except OSError as exc:
        raise PrivacyInputError(
            f"no cache folder can be written: {exc}; run where .pytest_cache can be created, or set TMPDIR "
            "to a folder you can write to."
        ) from None
    if problem is not None:
        pytest_config.issue_config_time_warning(
            pytest.PytestCacheWarning(
                f"privacy-checks: pytest's cache folder cannot be written ({problem}); layer outputs are "
                f"cached in {fallback} instead"
            ),
            stacklevel=2,
        )
    return fallback / "embeddings"


def _device(choice: str) -> str:
    import torch

    if choice == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if choice == "cuda" and not torch.cuda.is_available():
        raise PrivacyInputError("--privacy-device cuda: torch sees no CUDA device here; use cpu or auto.")
    return choice
