"""The audit report as a plain object: terminal lines and a JSON-ready dict (DESIGN.md §4).

It holds no pytest state; the terminal summary only prints ``lines()`` and ``--privacy-report``
only writes ``as_dict()``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .fileio import atomic_write_text

SCHEMA_VERSION = 1
VERDICT = {"passed": "pass", "failed": "FAIL", "skipped": "skip", "inconclusive": "inconclusive"}


@dataclass(frozen=True)
class AuditReport:
    model: dict[str, Any]
    corpus: dict[str, Any]
    settings: dict[str, Any]
    results: list[dict[str, Any]]
    safe_splits: dict[str, str | None] = field(default_factory=dict)  # "scenario/attacker" -> layer

    def as_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "attribute": "gender",
            "model": self.model,
            "corpus": self.corpus,
            "settings": self.settings,
            "results": self.results,
            "safe_split_points": self.safe_splits,
        }

    def lines(self) -> list[str]:
        c = self.corpus
        out = [
            f"model {Path(self.model['path']).name} ({self.model['architecture']}, sha256 {self.model['sha256'][:12]})",
            f"corpus {c['name']}: {c['utterances']} utterances, {c['speakers']} speakers "
            f"({c['female_speakers']} female / {c['male_speakers']} male), {c['folds']} speaker-independent folds",
        ]
        if not self.results:
            return out + ["no audit item ran"]
        groups: dict[tuple[str, str, str], list[dict]] = {}
        for r in self.results:
            groups.setdefault((r["scenario"], r["attacker"], r["access"]), []).append(r)
        for (scenario, attacker, access), rows in groups.items():
            out.append("")
            out.append(f"{scenario} · {attacker} attacker · {access} access   (L = held-out gender accuracy)")
            out.extend(_table(rows))
            safe = self.safe_splits.get(f"{scenario}/{attacker}")
            if f"{scenario}/{attacker}" in self.safe_splits:
                out.append(
                    f"earliest safe split point: {safe}" if safe else "earliest safe split point: none (the last layer leaks above its limit)"
                )
        failed = sum(r["status"] == "failed" for r in self.results)
        out.append("")
        out.append(f"verdict: {'FAIL' if failed else 'pass'} — {failed} of {len(self.results)} items above their limit")
        return out

    def write(self, folder: Path) -> Path:
        path = Path(folder) / "report.json"
        atomic_write_text(path, json.dumps(self.as_dict(), indent=2, sort_keys=False) + "\n")
        return path


def _table(rows: list[dict]) -> list[str]:
    header = ("layer", "head", "L", "95% CI", "chance", "excess", "limit", "p", "verdict")
    body = [
        (
            r["layer"],
            r["architecture"],
            f"{r['leakage']:.3f}",
            f"[{r['ci_low']:.3f}, {r['ci_high']:.3f}]",
            f"{r['chance']:.3f}",
            f"{r['excess']:+.3f}",
            f"{r['max_excess']:.3f}",
            f"{r['p_value']:.4f}",
            VERDICT.get(r["status"], r["status"]),
        )
        for r in rows
    ]
    widths = [max(len(row[i]) for row in (header, *body)) for i in range(len(header))]
    return ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in (header, *body)]
