"""The audit report as a plain object: terminal lines and a JSON-ready dict (DESIGN.md §4).

It holds no pytest state; the terminal summary only prints ``lines()`` and ``--privacy-report``
only writes ``as_dict()``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from privacy_checks.engine.threat_model import SCENARIOS

SCHEMA_VERSION = 1
VERDICT = {"passed": "pass", "failed": "FAIL", "skipped": "skip", "inconclusive": "inconcl."}


@dataclass(frozen=True)
class AuditReport:
    model: dict[str, Any]
    corpus: dict[str, Any]
    settings: dict[str, Any]
    results: list[dict[str, Any]]
    safe_splits: dict[str, str | None] = field(default_factory=dict)  # "scenario/attacker/access/head" -> layer
    aux_corpus: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "attribute": "gender",
            "model": self.model,
            "corpus": self.corpus,
            "aux_corpus": self.aux_corpus,
            "settings": self.settings,
            "results": self.results,
            "safe_split_points": self.safe_splits,
            "exposure": self.exposure(),
        }

    def exposure(self) -> dict[str, dict[str, Any]]:
        """Per layer, the strongest attack measured over every scenario and attacker: the figure to
        read as that split point's exposure."""
        strongest: dict[str, dict[str, Any]] = {}
        for r in self.results:
            if r["leakage"] is None:
                continue
            best = strongest.get(r["layer"])
            if best is None or r["excess"] > best["excess"]:
                strongest[r["layer"]] = {
                    k: r[k] for k in ("id", "leakage", "chance", "excess", "ci_low", "ci_high", "status")
                }
        return strongest

    def lines(self) -> list[str]:
        out = [
            f"model {Path(self.model['path']).name} ({self.model['architecture']}, sha256 {self.model['sha256'][:12]})",
            _corpus_line("corpus", self.corpus),
        ]
        if self.aux_corpus:
            out.append(_corpus_line("auxiliary corpus", self.aux_corpus))
        measured = [r for r in self.results if r["leakage"] is not None]
        if not self.results:
            return out + ["no audit item ran"]
        attacks: dict[tuple, list[dict]] = {}
        for r in self.results:
            attacks.setdefault((r["scenario"], r["attacker"], r["access"], r["head"]), []).append(r)
        for (scenario, attacker, access, head), rows in attacks.items():
            out.append("")
            summary = SCENARIOS[scenario].summary if scenario in SCENARIOS else "custom attacker"
            title = f"{scenario} ({summary}) · {attacker} attacker · {head} · {access} access"
            if any(r["architecture"] != head for r in rows):
                title += f" (linear_probe where T has no tail: {', '.join(r['layer'] for r in rows if r['architecture'] != head)})"
            if all(r["status"] == "skipped" for r in rows):
                out.append(f"{title}: skipped — {rows[0]['reason']}")
                continue
            out.append(title)
            out.extend(_table(rows))
            control = next((r["control"] for r in rows if r["control"]), None)
            if control:
                out.append(_control_line(control))
            key = "/".join((scenario, attacker, access, head))
            if key in self.safe_splits:
                safe = self.safe_splits[key]
                out.append(f"earliest safe split point: {safe or 'none (the last layer does not pass)'}")
        if measured and len(attacks) > 1:
            out.append("")
            out.append("exposure per layer (strongest attack over all scenarios and attackers)")
            out.extend(_exposure_table(self.exposure()))
        counts = {s: sum(r["status"] == s for r in self.results) for s in VERDICT}
        out.append("")
        verdict = "FAIL" if counts["failed"] else "pass"
        out.append(
            f"verdict: {verdict} — {counts['failed']} failed, {counts['passed']} passed, "
            f"{counts['inconclusive']} inconclusive, {counts['skipped']} skipped"
        )
        return out

    def write(self, folder: Path) -> list[Path]:
        """report.json, report.md, report.html and the plots (render.py)."""
        from privacy_checks.reporting.render import write_report_folder

        return write_report_folder(Path(folder), self.as_dict())


def _corpus_line(label: str, c: dict[str, Any]) -> str:
    return (
        f"{label} {c['name']}: {c['utterances']} utterances, {c['speakers']} speakers "
        f"({c['female_speakers']} female / {c['male_speakers']} male), {c['folds']} speaker-independent folds"
    )


def _control_line(control: dict[str, Any]) -> str:
    positive = control["input_gender_accuracy"]
    text = f"controls: on T's input features L={positive['leakage']:.3f} (chance {positive['chance']:.3f})"
    if control["shuffled_gender_accuracy"]:
        text += f"; shuffled speaker->gender L={control['shuffled_gender_accuracy']['leakage']:.3f}"
    if control["input_emotion_accuracy"] is not None:
        text += f"; its emotion accuracy {control['input_emotion_accuracy']:.3f}"
    return text + ("" if control["has_power"] else " — no power: passes are inconclusive")


def _rows_to_lines(header: tuple[str, ...], body: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(row[i]) for row in (header, *body)) for i in range(len(header))]
    return ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in (header, *body)]


def _table(rows: list[dict]) -> list[str]:
    header = ("layer", "L", "95% CI", "chance", "excess", "limit", "p", "verdict")
    body = []
    for r in rows:
        if r["leakage"] is None:
            body.append((r["layer"], "-", "-", "-", "-", "-", "-", VERDICT[r["status"]]))
            continue
        body.append(
            (
                r["layer"],
                f"{r['leakage']:.3f}",
                f"[{r['ci_low']:.3f}, {r['ci_high']:.3f}]",
                f"{r['chance']:.3f}",
                f"{r['excess']:+.3f}",
                f"{r['max_excess']:.3f}",
                f"{r['p_value']:.4f}",
                VERDICT[r["status"]],
            )
        )
    return _rows_to_lines(header, body)


def _exposure_table(exposure: dict[str, dict[str, Any]]) -> list[str]:
    header = ("layer", "L", "95% CI", "excess", "strongest attack", "verdict")
    body = [
        (
            layer,
            f"{e['leakage']:.3f}",
            f"[{e['ci_low']:.3f}, {e['ci_high']:.3f}]",
            f"{e['excess']:+.3f}",
            e["id"].rsplit("-", 1)[0] + "]",
            VERDICT[e["status"]],
        )
        for layer, e in exposure.items()
    ]
    return _rows_to_lines(header, body)
