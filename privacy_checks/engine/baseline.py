"""Baselines: the leakage of the last accepted model, so a change that makes a layer leak more
fails even under its absolute limit (the "regression" in regression test). Torch-free.

A baseline is small, diff-friendly JSON keyed by the stable item ids:

    {"format": "privacy-checks.baseline", "schema_version": 1,
     "model": {"architecture": ..., "sha256": ...},
     "comparable": {"corpus": ..., "aux_corpus": ..., "settings": ...},
     "items": {"worst_case[generic-tail_clone-features.3]": {"leakage": 0.99, "ci_low": ..., "ci_high": ...}}}

Comparable means: same architecture, same audit corpus (fingerprint), auxiliary corpus and
result-shaping settings (budget, folds, seed, resampling, attacker training). The model's weights
are expected to differ: that is what is compared. A baseline for anything else is a usage error,
not a silent comparison of unlike figures.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from privacy_checks.digests import text_sha256
from privacy_checks.engine.result_parts import Regression
from privacy_checks.engine.results import ResultRow
from privacy_checks.errors import PrivacyInputError
from privacy_checks.fileio import atomic_write_text, strict_json

__all__ = [
    "FORMAT",
    "SCHEMA_VERSION",
    "Baseline",
    "Regression",
    "baseline_dict",
    "check_comparable",
    "comparable_settings",
    "load_baseline",
    "save_baseline",
]

FORMAT = "privacy-checks.baseline"
SCHEMA_VERSION = 1


@dataclass(frozen=True)
class Baseline:
    path: Path
    architecture: str
    comparable: dict[str, Any]
    items: dict[str, dict[str, float]]

    def compare(
        self, item_id: str, leakage: float, ci_low: float, ci_high: float, margin: float | None
    ) -> Regression | None:
        """None when the item has no baseline entry (a new layer or scenario)."""
        old = self.items.get(item_id)
        if old is None:
            return None
        if margin is not None:
            return Regression(old["leakage"], leakage, margin, "margin")
        # Half-widths of the two intervals combined in quadrature: the uncertainty of the difference.
        allowed = math.hypot((old["ci_high"] - old["ci_low"]) / 2, (ci_high - ci_low) / 2)
        return Regression(old["leakage"], leakage, allowed, "combined uncertainty")


def comparable_settings(corpus: Mapping, aux_corpus: Mapping | None, settings: Mapping) -> dict[str, Any]:
    """What must match for two audits' figures to be comparable (not the limits: a baseline
    outlives a change of limits)."""
    audit = dict(settings["audit"])
    shaping = {k: audit[k] for k in ("budget", "folds", "seed", "bootstrap", "permutations", "confidence")}
    # Reports from before the protocol was versioned measured plain accuracy with neural heads alone.
    protocol = {"metric": settings.get("metric", "accuracy"), "protocol": settings.get("protocol", 1)}
    shaped = {"audit": shaping, "attacker": settings["attacker"], **protocol}
    return {
        "corpus": corpus["fingerprint"],
        "aux_corpus": aux_corpus["fingerprint"] if aux_corpus else None,
        "settings": text_sha256(json.dumps(shaped, sort_keys=True))[:16],
    }


def baseline_dict(report: Mapping[str, Any]) -> dict[str, Any]:
    """The baseline of a report (AuditReport.as_dict()): its measured items."""
    rows = [ResultRow.from_dict(r) for r in report["results"]]
    items = {
        row.id: {"leakage": row.estimate.leakage, "ci_low": row.estimate.ci_low, "ci_high": row.estimate.ci_high}
        for row in rows
        if row.estimate is not None
    }
    return {
        "format": FORMAT,
        "schema_version": SCHEMA_VERSION,
        "model": {"architecture": report["model"]["architecture"], "sha256": report["model"]["sha256"]},
        "comparable": comparable_settings(report["corpus"], report["aux_corpus"], report["settings"]),
        "items": dict(sorted(items.items())),
    }


def save_baseline(path: Path, report: Mapping[str, Any]) -> None:
    atomic_write_text(path, strict_json(baseline_dict(report), indent=1, sort_keys=True) + "\n")


def load_baseline(path: Path) -> Baseline:
    where = f"--privacy-baseline {path}"
    if not path.is_file():
        raise PrivacyInputError(f"{where}: no such file; create one with --privacy-save-baseline {path}.")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PrivacyInputError(
            f"{where}: not a readable baseline ({exc}); re-create it with --privacy-save-baseline {path}."
        ) from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise PrivacyInputError(f'{where}: not a privacy-checks baseline (no "format": "{FORMAT}").')
    if data.get("schema_version") != SCHEMA_VERSION:
        raise PrivacyInputError(
            f"{where}: schema_version {data.get('schema_version')!r} is not supported (expected {SCHEMA_VERSION})."
        )
    try:
        items = {str(k): {f: float(v[f]) for f in ("leakage", "ci_low", "ci_high")} for k, v in data["items"].items()}
        architecture = str(data["model"]["architecture"])
        comparable = dict(data["comparable"])
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise PrivacyInputError(f"{where}: damaged baseline (missing or malformed {exc}); re-create it.") from None
    # A NaN compares false with everything, so it would switch the regression check off silently.
    for item, figures in items.items():
        bad = [f"{name} {value!r}" for name, value in figures.items() if not (math.isfinite(value) and 0 <= value <= 1)]
        if bad:
            raise PrivacyInputError(
                f"{where}: damaged baseline: item {item} has {', '.join(bad)} (figures are numbers in 0..1); "
                f"re-create it with --privacy-save-baseline {path}."
            )
    return Baseline(path, architecture, comparable, items)


def is_baseline_file(path: Path) -> bool:
    """Whether `path` holds a privacy-checks baseline (what --privacy-save-baseline may replace)."""
    try:
        if path.stat().st_size > 64 * 2**20:  # a baseline is a few KB; a checkpoint may be gigabytes
            return False
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return False
    return isinstance(data, dict) and data.get("format") == FORMAT


def check_comparable(baseline: Baseline, architecture: str, comparable: Mapping[str, Any]) -> None:
    """A usage error when the baseline was made for another architecture, corpus or settings."""
    where = f"--privacy-baseline {baseline.path}"
    if baseline.architecture != architecture:
        raise PrivacyInputError(
            f"{where}: made for a {baseline.architecture!r} model, this is {architecture!r}; its item ids name "
            "other layers. Save a baseline for this model with --privacy-save-baseline."
        )
    what = {"corpus": "audit corpus", "aux_corpus": "auxiliary corpus", "settings": "audit/attacker settings"}
    differ = [what[k] for k in what if baseline.comparable.get(k) != comparable.get(k)]
    if differ:
        raise PrivacyInputError(
            f"{where}: made with another {', '.join(differ)}; leakage figures are only comparable on the same "
            "data and settings. Re-run with those, or save a new baseline with --privacy-save-baseline."
        )
