"""The report folder (--privacy-report DIR, `privacy-checks report`): report.json, report.md,
report.html and the PNG plots, every file written atomically.

Everything is rendered from an AuditReport alone (the session's, or a report.json read back), so a
report can be re-rendered anywhere without torch.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from privacy_checks.fileio import atomic_write_bytes, atomic_write_text, strict_json
from privacy_checks.reporting.html_page import html_page
from privacy_checks.reporting.markdown import markdown
from privacy_checks.reporting.plots import plot_emotions, plot_layers

if TYPE_CHECKING:  # the report is only read here; report.py imports the renderers lazily
    from privacy_checks.reporting.report import AuditReport

PLOTS: dict[str, Callable[[AuditReport], bytes | None]] = {
    "leakage_by_layer.png": lambda report: plot_layers(report.results),
    "leakage_by_emotion.png": plot_emotions,
}


def write_report_folder(folder: Path, report: AuditReport, include_json: bool = True) -> list[Path]:
    """report.json, report.md, the PNGs and report.html (plots embedded); returns the paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    if include_json:
        written.append(folder / "report.json")
        atomic_write_text(written[0], strict_json(report.as_dict(), indent=2) + "\n")
    plots = {}
    for name, render in PLOTS.items():
        data = render(report)
        if data is not None:
            atomic_write_bytes(folder / name, data)
            plots[name] = data
            written.append(folder / name)
    atomic_write_text(folder / "report.md", markdown(report) + "\n")
    atomic_write_text(folder / "report.html", html_page(report, plots) + "\n")
    return written + [folder / "report.md", folder / "report.html"]
