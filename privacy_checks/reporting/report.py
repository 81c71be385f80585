"""The audit report as a plain object: typed result rows, terminal lines and report.json's dict
(docs/design.md §4).

It holds no pytest state; the terminal summary only prints ``lines()`` and ``--privacy-report``
only writes ``write()``. ``from_dict`` reads a report.json back (``privacy-checks report``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from privacy_checks.engine.result_parts import ControlSummary
from privacy_checks.engine.results import ResultRow, Status
from privacy_checks.reporting.tables import rule_line
from privacy_checks.reporting.verdict import SHORT_LABEL, Tally
from privacy_checks.threat_model import CONVEX_PROBE, SCENARIOS

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class Coverage:
    """Which items a report covers, so that reports of one audit split over CI jobs can be merged
    and a missing shard told from a pass (reporting/merge.py): report.json's `coverage`."""

    planned: tuple[str, ...]  # every item of the audit, in case order (before -k or a shard's split)
    selected: tuple[str, ...]  # the items this run selected (collected and not deselected)
    missing: tuple[str, ...] = ()  # a merged report: planned items that no shard's report holds
    merged_from: tuple[str, ...] = ()  # a merged report: the shards' report folders

    def as_dict(self) -> dict[str, Any]:
        return {
            "planned": list(self.planned),
            "selected": list(self.selected),
            "missing": list(self.missing),
            "merged_from": list(self.merged_from),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Coverage:
        """Raises KeyError, TypeError or ValueError on a malformed entry."""
        lists = {key: data.get(key, []) for key in ("planned", "selected", "missing", "merged_from")}
        for key, value in lists.items():
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise TypeError(f"coverage.{key} (a list of item ids)")
        return cls(**{key: tuple(value) for key, value in lists.items()})


@dataclass(frozen=True)
class AuditReport:
    model: dict[str, Any]
    corpus: dict[str, Any]
    settings: dict[str, Any]
    results: tuple[ResultRow, ...]  # in case order
    safe_splits: dict[str, str | None] = field(default_factory=dict)  # attack key -> layer
    aux_corpus: dict[str, Any] | None = None
    coverage: Coverage | None = None  # None in reports written before coverage was recorded

    @property
    def tally(self) -> Tally:
        return Tally.of(self.results, missing=len(self.coverage.missing) if self.coverage else 0)

    def as_dict(self) -> dict[str, Any]:
        data = {
            "schema_version": SCHEMA_VERSION,
            "attribute": "gender",
            "model": self.model,
            "corpus": self.corpus,
            "aux_corpus": self.aux_corpus,
            "settings": self.settings,
            "results": [row.as_dict() for row in self.results],
            "safe_split_points": self.safe_splits,
            "exposure": {layer: _exposure_entry(row) for layer, row in self.exposure().items()},
        }
        if self.coverage is not None:  # absent from reports written before coverage was recorded
            data["coverage"] = self.coverage.as_dict()
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AuditReport:
        """A report.json read back (its exposure is recomputed from the rows, as it was made).
        Raises KeyError, TypeError or ValueError on a malformed report."""
        return cls(
            model=data["model"],
            corpus=data["corpus"],
            settings=data["settings"],
            results=tuple(ResultRow.from_dict(row) for row in data["results"]),
            safe_splits=dict(data["safe_split_points"]),
            aux_corpus=data["aux_corpus"],
            coverage=Coverage.from_dict(data["coverage"]) if data.get("coverage") else None,
        )

    def exposure(self) -> dict[str, ResultRow]:
        """Per layer, the strongest attack measured over every scenario and attacker: the figure to
        read as that split point's exposure."""
        strongest: dict[str, ResultRow] = {}
        for row in self.results:
            if row.estimate is None:
                continue
            best = strongest.get(row.layer)
            if best is None or best.estimate is None or row.estimate.excess > best.estimate.excess:
                strongest[row.layer] = row
        return strongest

    def lines(self) -> list[str]:
        """The terminal summary."""
        out = [
            f"model {Path(self.model['path']).name} ({self.model['architecture']}, sha256 {self.model['sha256'][:12]})",
            _corpus_line("corpus", self.corpus),
        ]
        if self.aux_corpus:
            out.append(_corpus_line("auxiliary corpus", self.aux_corpus))
        if not self.results:
            return out + ["no audit item ran", *self._missing_lines()]
        attacks: dict[str, list[ResultRow]] = {}
        for row in self.results:
            attacks.setdefault(row.attack_key, []).append(row)
        for key, rows in attacks.items():
            out.append("")
            out.extend(self._attack_lines(key, rows))
        if any(row.estimate is not None for row in self.results) and len(attacks) > 1:
            out.append("")
            out.append("exposure per layer (strongest attack over all scenarios and attackers)")
            out.extend(_exposure_table(self.exposure()))
        out.extend(self._missing_lines())
        out.append("")
        out.append(rule_line(self))
        tally = self.tally
        out.append(f"verdict: {tally.overall} — {tally.phrase()}")
        return out

    def _missing_lines(self) -> list[str]:
        missing = self.coverage.missing if self.coverage else ()
        if not missing:
            return []
        return ["", f"missing: {len(missing)} items of the audit are in no shard's report: {missing_phrase(missing)}"]

    def _attack_lines(self, key: str, rows: Sequence[ResultRow]) -> list[str]:
        first = rows[0]
        summary = SCENARIOS[first.scenario].summary if first.scenario in SCENARIOS else "custom attacker"
        title = f"{first.scenario} ({summary}) · {first.attacker} attacker · {first.head} · {first.access} access"
        stand_ins = [row.layer for row in rows if row.architecture != row.head]
        if stand_ins and len(stand_ins) == len(rows) > 1:  # e.g. a Hugging Face folder or an ONNX file
            title += " (linear_probe at every layer: T's tail cannot be rebuilt from any of them)"
        elif stand_ins:
            title += f" (linear_probe where T has no tail: {', '.join(stand_ins)})"
        if all(row.status == Status.SKIPPED for row in rows):
            return [f"{title}: skipped — {first.reason}"]
        errors = {row.reason for row in rows if row.status == Status.ERROR}
        if len(errors) == 1 and all(row.status == Status.ERROR for row in rows):  # e.g. an attacker that raised
            return [f"{title}: ERROR — {first.reason}"]
        out = [title, *_table(rows)]
        out += [f"ERROR at {row.layer}: {row.reason}" for row in rows if row.status == Status.ERROR]
        control = next((row.control for row in rows if row.control), None)
        if control:
            out.append(_control_line(control))
        probe = next((a.control for row in rows for a in row.attackers or () if a.architecture == CONVEX_PROBE), None)
        if probe:
            out.append(_control_line(probe))
        if key in self.safe_splits:
            safe = self.safe_splits[key]
            out.append(f"earliest safe split point: {safe or 'none (the last layer does not pass)'}")
        return out

    def write(self, folder: Path) -> list[Path]:
        """report.json, report.md, report.html and the plots (folder.py)."""
        from privacy_checks.reporting.folder import write_report_folder

        return write_report_folder(Path(folder), self)


def missing_phrase(missing: Sequence[str], shown: int = 10) -> str:
    """The first `shown` item ids, then how many more."""
    text = ", ".join(missing[:shown])
    return text + (f" and {len(missing) - shown} more" if len(missing) > shown else "")


def _exposure_entry(row: ResultRow) -> dict[str, Any]:
    """A layer's strongest attack in report.json's `exposure`."""
    e = row.measured
    return {
        "id": row.id,
        "leakage": e.leakage,
        "chance": e.chance,
        "excess": e.excess,
        "ci_low": e.ci_low,
        "ci_high": e.ci_high,
        "status": row.status.value,
    }


def _corpus_line(label: str, c: dict[str, Any]) -> str:
    return (
        f"{label} {c['name']}: {c['utterances']} utterances, {c['speakers']} speakers "
        f"({c['female_speakers']} female / {c['male_speakers']} male), {c['folds']} speaker-independent folds"
    )


def _control_line(control: ControlSummary) -> str:
    positive = control.input_gender_accuracy
    if control.architecture == CONVEX_PROBE:
        text = f"convex probe controls: on log-mel statistics L={positive.leakage:.3f} (chance {positive.chance:.3f})"
    else:
        text = f"controls: on T's input features L={positive.leakage:.3f} (chance {positive.chance:.3f})"
    if control.shuffled_gender_accuracy:
        text += f"; shuffled speaker->gender L={control.shuffled_gender_accuracy.leakage:.3f}"
    if control.input_emotion_accuracy is not None:
        text += f"; its emotion accuracy {control.input_emotion_accuracy:.3f}"
    return text + ("" if control.has_power else " — no power")


def _rows_to_lines(header: tuple[str, ...], body: Sequence[tuple[str, ...]]) -> list[str]:
    widths = [max(len(row[i]) for row in (header, *body)) for i in range(len(header))]
    return ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in (header, *body)]


def _table(rows: Sequence[ResultRow]) -> list[str]:
    header = ("layer", "L", "95% CI", "chance", "excess", "limit", "p", "verdict", "read by")
    body = []
    for row in rows:
        e = row.estimate
        if e is None:
            body.append((row.layer, "-", "-", "-", "-", "-", "-", SHORT_LABEL[row.status], "-"))
            continue
        body.append(
            (
                row.layer,
                f"{e.leakage:.3f}",
                f"[{e.ci_low:.3f}, {e.ci_high:.3f}]",
                f"{e.chance:.3f}",
                f"{e.excess:+.3f}",
                f"{row.max_excess:.3f}",
                f"{e.p_value:.4f}",
                SHORT_LABEL[row.status],
                deciding_attacker(row),
            )
        )
    return _rows_to_lines(header, body)


def deciding_attacker(row: ResultRow) -> str:
    """The attacker whose reading the row's figures are: the item's exposure."""
    deciding = next((a for a in row.attackers or () if a.decides), None)
    return deciding.architecture if deciding else row.architecture


def _exposure_table(exposure: dict[str, ResultRow]) -> list[str]:
    header = ("layer", "L", "95% CI", "excess", "strongest attack", "verdict")
    body = []
    for layer, row in exposure.items():
        e = row.measured
        body.append(
            (
                layer,
                f"{e.leakage:.3f}",
                f"[{e.ci_low:.3f}, {e.ci_high:.3f}]",
                f"{e.excess:+.3f}",
                row.id.rsplit("-", 1)[0] + "]",
                SHORT_LABEL[row.status],
            )
        )
    return _rows_to_lines(header, body)
