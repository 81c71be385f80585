"""report.html: self-contained, the same tables as report.md and the plots embedded as data URIs."""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import TYPE_CHECKING

from privacy_checks.reporting.tables import failure_lines, matrix, rule_line, undecided_lines

if TYPE_CHECKING:  # the report is only read here; report.py imports the renderers lazily
    from privacy_checks.reporting.report import AuditReport

_HEAD = (
    "<!doctype html><html><head><meta charset='utf-8'><title>privacy audit</title><style>"
    "body{font-family:sans-serif;margin:2em;max-width:1200px}table{border-collapse:collapse;margin:1em 0}"
    "td,th{border:1px solid #ccc;padding:3px 8px;font-size:13px}.fail{background:#fdd}.pass{background:#dfd}"
    "img{max-width:100%;border:1px solid #eee}</style></head><body>"
)


def html_page(report: AuditReport, plots: dict[str, bytes]) -> str:
    tally = report.tally
    model = report.model
    parts = [
        _HEAD,
        f"<h1>Privacy audit: {html.escape(tally.overall)}</h1>",
        f"<p>{tally.phrase(lambda text: f'<b>{text}</b>')} — gender leakage of "
        f"{html.escape(Path(model['path']).name)} ({html.escape(model['architecture'])}) on "
        f"{html.escape(report.corpus['name'])}.</p>",
        f"<p>{html.escape(rule_line(report))}</p>",
    ]
    missing = report.coverage.missing if report.coverage else ()
    if missing:
        parts.append(
            f"<h2>Missing: {len(missing)} items in no shard's report</h2><ul>"
            + "".join(f"<li>{html.escape(item)}</li>" for item in missing)
            + "</ul>"
        )
    for name, data in plots.items():
        encoded = base64.b64encode(data).decode()
        parts.append(
            f"<h2>{html.escape(name)}</h2><img alt='{html.escape(name)}' src='data:image/png;base64,{encoded}'>"
        )
    header, rows = matrix(report)
    if rows:
        parts.append(
            "<h2>Leakage per layer and attack</h2><table><tr>"
            + "".join(f"<th>{html.escape(h)}</th>" for h in header)
            + "</tr>"
        )
        for row in rows:
            cells = "".join(f"<td class='{_cell_class(c)}'>{html.escape(c.replace('**', ''))}</td>" for c in row[1:])
            parts.append(f"<tr><th>{html.escape(row[0])}</th>{cells}</tr>")
        parts.append("</table>")
    failures = failure_lines(report)
    if failures:
        parts.append(
            "<h2>What failed and why</h2><ul>"
            + "".join(f"<li>{html.escape(line.replace('`', ''))}</li>" for line in failures)
            + "</ul>"
        )
    undecided = undecided_lines(report)
    if undecided:
        parts.append(
            "<h2>What is inconclusive and why</h2><ul>"
            + "".join(f"<li>{html.escape(line.replace('`', ''))}</li>" for line in undecided)
            + "</ul>"
        )
    parts.append("</body></html>")
    return "\n".join(parts)


def _cell_class(cell: str) -> str:
    return "fail" if ("FAIL" in cell or "ERROR" in cell) else "pass" if "pass" in cell else ""
