"""The one way to build an audit: :func:`open_audit`."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from privacy_checks.config import PrivacyConfig, config_from_mapping
from privacy_checks.data import Corpus, load_corpus
from privacy_checks.engine.audit import Audit
from privacy_checks.engine.baseline import Baseline, load_baseline
from privacy_checks.engine.custom import CustomAttacker
from privacy_checks.model import Target, load_target
from privacy_checks.threat_model import BUDGETS, Budget


def open_audit(
    checkpoint: str | os.PathLike | Target,
    data: Corpus | str,
    *,
    config: PrivacyConfig | Mapping[str, Any] | None = None,
    aux: Corpus | str | None = None,
    cache_dir: str | os.PathLike | None = None,
    device: str = "cpu",
    custom_attackers: Iterable[CustomAttacker] = (),
    baseline: Baseline | str | os.PathLike | None = None,
    trust_checkpoint: bool = False,
    budget: Budget | str | None = None,
    base_dir: str | os.PathLike | None = None,
    shared_dir: str | os.PathLike | None = None,
) -> Audit:
    """An audit of `checkpoint` (a path, or a loaded Target) on `data`, ready to plan and run.

    - `config`: a PrivacyConfig, or a mapping shaped like thresholds.yaml (validated; errors name
      the key), or None for the defaults.
    - `data`, `aux`: Corpus objects or spec strings as --privacy-data takes them; `aux` (other
      speakers) enables the scenarios that train on an auxiliary corpus.
    - `base_dir`: where relative paths (spec strings, model.base_checkpoint) start; default the
      config file's folder, else the working directory.
    - `cache_dir`: where layer outputs are cached (intercept attackers beside it); default a
      folder in the system temp directory.
    - `shared_dir`: a folder of this run's own where processes running parts of one audit (pytest-xdist
      workers) share the results many items need (engine/shared_results.py); None shares nothing.
    - `baseline`: a loaded Baseline or the path of a saved one; `budget`: a budget name or a Budget
      of one's own (default audit.budget).

    Any mistake in the inputs raises PrivacyInputError with a message meant for the user.
    """
    if config is None:
        config = PrivacyConfig()
    elif not isinstance(config, PrivacyConfig):
        config = config_from_mapping(config, "open_audit config")
    if base_dir is not None:
        base = Path(base_dir)
    else:
        base = config.source.parent if config.source else Path.cwd()
    if isinstance(checkpoint, Target):
        target = checkpoint
    else:
        target = load_target(Path(checkpoint), config.model, trust_checkpoint)
    corpus = load_corpus(data, base) if isinstance(data, str) else data
    aux_corpus = load_corpus(aux, base, option="--privacy-aux-data") if isinstance(aux, str) else aux
    if cache_dir is None:
        from privacy_checks.cache_seal import fallback_cache_root

        cache_dir = fallback_cache_root() / "embeddings"
    if baseline is not None and not isinstance(baseline, Baseline):
        baseline = load_baseline(Path(baseline))
    base_checkpoint = config.model.base_checkpoint
    return Audit(
        target,
        corpus,
        config,
        Path(cache_dir),
        aux=aux_corpus,
        device=device,
        custom_attackers=tuple(custom_attackers),
        base_checkpoint=base / base_checkpoint if base_checkpoint else None,
        baseline=baseline,
        budget=BUDGETS[budget] if isinstance(budget, str) else budget,
        shared_dir=Path(shared_dir) if shared_dir is not None else None,
    )
