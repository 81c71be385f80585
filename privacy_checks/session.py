"""The pytest-side audit session: built once at configure time from the typed options.

Importing this module imports torch, so plugin.py imports it only when ``--privacy-audit`` is given.
"""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path

import pytest

from .audit import Audit, CaseResult
from .config import PrivacyConfig, load_config
from .corpora import load_corpus
from .errors import PrivacyInputError
from .options import AuditOptions
from .report import AuditReport
from .target import load_target


class AuditSession:
    def __init__(self, options: AuditOptions, config: PrivacyConfig, audit: Audit):
        self.options = options
        self.config = config
        self.audit = audit
        self.selected: set = set(audit.cases)  # narrowed to the collected items (-k, node ids)

    def select(self, cases) -> None:
        self.selected = set(cases)

    def safe_split(self, case, computed_only: bool = False) -> str | None:
        return self.audit.safe_split(case, among=self.selected, computed_only=computed_only)

    @classmethod
    def start(cls, options: AuditOptions, pytest_config) -> "AuditSession":
        """Load config, checkpoint and corpus; any user mistake becomes a usage error (exit 4)."""
        try:
            config = _effective_config(options)
            target = load_target(options.checkpoint, config.model, options.trust_checkpoint)
            corpus = _corpus(options, config, pytest_config)
            audit = Audit(target, corpus, config, _cache_dir(pytest_config), device=_device(options.device))
        except PrivacyInputError as exc:
            raise pytest.UsageError(str(exc)) from None
        return cls(options, config, audit)

    def prepare(self) -> None:
        try:
            self.audit.prepare()
        except PrivacyInputError as exc:
            raise pytest.UsageError(str(exc)) from None

    def report(self) -> AuditReport:
        results = self.audit.results()
        seen = {(r.case.scenario, r.case.attacker): r.case for r in results}
        # The report never trains: an interrupted run (-x, Ctrl-C) reports what it measured.
        safe = {f"{s}/{a}": self.safe_split(case, computed_only=True) for (s, a), case in seen.items()}
        return AuditReport(
            model=self.audit.target.describe(),
            corpus=self.audit.describe_corpus(),
            settings=_settings(self.config),
            results=[r.as_dict() for r in self.audit.results()],
            safe_splits=safe,
        )

    def result(self, case) -> CaseResult:
        return self.audit.result(case)


def _corpus(options: AuditOptions, config: PrivacyConfig, pytest_config):
    """--privacy-data paths are relative to where pytest was invoked; audit.data paths to the config file."""
    if options.data is not None:
        return load_corpus(options.data, Path(pytest_config.invocation_params.dir))
    base = config.source.parent if config.source else Path(pytest_config.rootpath)
    return load_corpus(config.audit.data, base, option=f"{config.source or 'audit'}: audit.data")


def _effective_config(options: AuditOptions) -> PrivacyConfig:
    config = load_config(options.config_path, required=options.config_required)
    if config.audit.aux_data is not None:
        raise PrivacyInputError(
            f"{config.source}: audit.aux_data: the scenarios that use an auxiliary corpus (scenario_1, 3, 4) "
            "are not available in this version; remove the key to run the worst-case audit."
        )
    if options.seed is not None:
        config = dataclasses.replace(config, audit=dataclasses.replace(config.audit, seed=options.seed))
    return config


def _settings(config: PrivacyConfig) -> dict:
    return {
        "config_file": str(config.source) if config.source else None,
        "limits": {"max_excess": config.limits.max_excess, "rule": config.limits.rule,
                   "layers": {p: v for p, v in config.limits.layers}},
        "audit": {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(config.audit).items()},
        "attacker": dataclasses.asdict(config.attacker),
    }


def _cache_dir(pytest_config) -> Path:
    """Embeddings live in pytest's cache (.pytest_cache/d/privacy-checks); without the cache
    plugin, in the system temp folder. Never next to the user's files."""
    cache = getattr(pytest_config, "cache", None)
    if cache is not None:
        return Path(cache.mkdir("privacy-checks")) / "embeddings"
    return Path(tempfile.gettempdir()) / "privacy-checks-cache" / "embeddings"


def _device(choice: str) -> str:
    import torch

    if choice == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if choice == "cuda" and not torch.cuda.is_available():
        raise PrivacyInputError("--privacy-device cuda: torch sees no CUDA device here; use cpu or auto.")
    return choice
