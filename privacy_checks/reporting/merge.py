"""`privacy-checks report --merge DIR...`: the report folders of one audit split over CI jobs
(pytest-split shards, each run with --privacy-report) combined into one report.

Every shard's report.json records its `coverage`: the audit's whole item list (`planned`: its cases
before -k or the split, the same in every shard) and the items the shard selected. The merged report
holds every shard's rows in case order; a planned item in no shard's rows is `missing`, which makes
the verdict INCOMPLETE (never green). Shards of different audits, or one item with two different
results, are refused: the merged figures would mix unlike measurements.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from privacy_checks.engine.results import ResultRow, safe_split_points
from privacy_checks.errors import PrivacyInputError
from privacy_checks.reporting.report import SCHEMA_VERSION, AuditReport, Coverage

FLAG = "privacy-checks report --merge"

# What identifies an audit in report.json, less what may differ between CI jobs of one audit (where
# the checkout lies: the model's and thresholds.yaml's paths; a manifest corpus's name).
_IDENTITY = {
    "model": ("path",),
    "corpus": ("name",),
    "aux_corpus": ("name",),
    "settings": ("config_file",),
}


@dataclass(frozen=True)
class Shard:
    folder: Path
    data: dict[str, Any]  # report.json as read
    report: AuditReport

    @property
    def coverage(self) -> Coverage:
        assert self.report.coverage is not None  # read_shard refuses reports without one
        return self.report.coverage


def read_shard(path: Path) -> Shard:
    """A shard's report folder (or its report.json): PrivacyInputError naming it and the fix when it
    is missing, unreadable or has no coverage."""
    path = Path(path)
    source = path if path.suffix == ".json" and not path.is_dir() else path / "report.json"
    folder = source.parent
    where = f"{FLAG} {path}"
    if not source.is_file():
        what = (
            "no such folder"
            if not folder.exists()
            else f"{folder} is a file, not a report folder"
            if not folder.is_dir()
            else f"no report.json in {folder}"
        )
        raise PrivacyInputError(
            f"{where}: {what}; pass the folder each shard wrote with --privacy-report DIR (in CI, download "
            "every shard's artifact first; a shard whose job failed before its report was written must be re-run)."
        )
    try:
        data = json.loads(source.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or data.get("schema_version") != SCHEMA_VERSION:
            raise ValueError(f"not a privacy-checks report.json (schema_version {SCHEMA_VERSION})")
        report = AuditReport.from_dict(data)
    except (OSError, UnicodeDecodeError, ValueError, AttributeError) as exc:
        raise PrivacyInputError(f"{where}: cannot read {source}: {exc}; re-run that shard.") from None
    except (KeyError, TypeError) as exc:
        raise PrivacyInputError(
            f"{where}: cannot read {source}: missing or malformed {exc}; re-run that shard."
        ) from None
    if report.coverage is None or not report.coverage.planned:
        raise PrivacyInputError(
            f"{where}: {source} does not record which items it covered (no `coverage`: written by an older "
            "privacy-checks); re-run that shard with this version."
        )
    return Shard(folder, data, report)


def merge_shards(shards: Sequence[Shard]) -> AuditReport:
    """One report from the shards of one audit; PrivacyInputError when they are of different audits
    or hold one item with different results."""
    first = shards[0]
    for shard in shards[1:]:
        _check_same_audit(first, shard)
    rows: dict[str, tuple[ResultRow, dict[str, Any], Shard]] = {}
    for shard in shards:
        for row, raw in zip(shard.report.results, shard.data["results"]):
            seen = rows.get(row.id)
            if seen is not None and seen[1] != raw:
                raise PrivacyInputError(
                    f"{FLAG}: item {row.id} is in {seen[2].folder} and {shard.folder} with different results "
                    f"({_differences(seen[1], raw)}); the shards were not run from the same code and "
                    "environment. Re-run them from one commit, or merge only one of the two."
                )
            rows[row.id] = (row, raw, shard)
    planned = first.coverage.planned
    unplanned = sorted(set(rows) - set(planned))
    if unplanned:
        holder = rows[unplanned[0]][2].folder
        raise PrivacyInputError(
            f"{FLAG} {holder}: holds item {unplanned[0]}, which the audit does not plan; the report is damaged or "
            "edited. Re-run that shard."
        )
    selected = {item for shard in shards for item in shard.coverage.selected}
    ordered = tuple(rows[item][0] for item in planned if item in rows)
    return AuditReport(
        model=first.report.model,
        corpus=first.report.corpus,
        aux_corpus=first.report.aux_corpus,
        settings=first.report.settings,
        results=ordered,
        safe_splits=safe_split_points(ordered),
        coverage=Coverage(
            planned=planned,
            selected=tuple(item for item in planned if item in selected),
            missing=tuple(item for item in planned if item not in rows),
            merged_from=tuple(str(shard.folder) for shard in shards),
        ),
    )


def unclaimed(shards: Sequence[Shard], missing: Sequence[str]) -> tuple[list[str], dict[str, list[str]]]:
    """The missing items no shard selected (a shard's report was not passed), and those a shard
    selected but did not report (its job stopped early), by shard folder."""
    nobody: list[str] = []
    stopped: dict[str, list[str]] = {}
    for item in missing:
        holders = [str(s.folder) for s in shards if item in s.coverage.selected]
        if holders:
            stopped.setdefault(holders[0], []).append(item)
        else:
            nobody.append(item)
    return nobody, stopped


def _check_same_audit(first: Shard, shard: Shard) -> None:
    differences = list(_identity_differences(first.data, shard.data))
    if first.coverage.planned != shard.coverage.planned:
        differences.append("the audit's item list (coverage.planned)")
    if differences:
        shown = "; ".join(differences[:4]) + (f"; and {len(differences) - 4} more" if len(differences) > 4 else "")
        raise PrivacyInputError(
            f"{FLAG} {shard.folder}: a shard of another audit than {first.folder}: {shown}. Merge only the shards "
            "of one run: the same model file, corpus, thresholds.yaml, --privacy-seed, --privacy-budget, "
            "--privacy-scenarios and --privacy-access in every job (only --splits/--group differ)."
        )


def _identity_differences(a: Mapping[str, Any], b: Mapping[str, Any]) -> Iterator[str]:
    for section, ignored in _IDENTITY.items():
        left, right = a.get(section), b.get(section)
        if isinstance(left, dict) and isinstance(right, dict):
            left = {k: v for k, v in left.items() if k not in ignored}
            right = {k: v for k, v in right.items() if k not in ignored}
        yield from _paths_that_differ(section, left, right)


def _paths_that_differ(path: str, left: Any, right: Any) -> Iterator[str]:
    if isinstance(left, dict) and isinstance(right, dict):
        for key in sorted(set(left) | set(right), key=str):
            yield from _paths_that_differ(f"{path}.{key}", left.get(key), right.get(key))
    elif left != right:
        yield f"{path} differs ({_short(left)} vs {_short(right)})"


def _short(value: Any) -> str:
    text = json.dumps(value, sort_keys=True)
    return text if len(text) <= 40 else text[:37] + "..."


def _differences(a: Mapping[str, Any], b: Mapping[str, Any]) -> str:
    found = list(_paths_that_differ("row", dict(a), dict(b)))
    return "; ".join(found[:3]) + (f"; and {len(found) - 3} more" if len(found) > 3 else "")
