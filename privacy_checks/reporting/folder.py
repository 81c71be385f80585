"""The report folder (--privacy-report DIR, `privacy-checks report`): report.json, report.md,
report.html and the PNG plots, always one run's complete set.

The set is built in a hidden sibling folder (`.DIR.tmp-<pid>`, same filesystem) and swapped in at
once: a failed write or Ctrl-C leaves the previous complete report and no temporary folder. The
folder is replaced as a whole, so it may hold only the report's own files: one holding anything
else is refused (`check_report_folder`, before the audit runs, and again before the swap).

Everything is rendered from an AuditReport alone (the session's, or a report.json read back), so a
report can be re-rendered anywhere without torch.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from privacy_checks.errors import PrivacyInputError
from privacy_checks.fileio import process_alive, strict_json
from privacy_checks.reporting.html_page import html_page
from privacy_checks.reporting.markdown import markdown
from privacy_checks.reporting.plots import plot_emotions, plot_layers

if TYPE_CHECKING:  # the report is only read here; report.py imports the renderers lazily
    from privacy_checks.reporting.report import AuditReport

PLOTS: dict[str, Callable[[AuditReport], bytes | None]] = {
    "leakage_by_layer.png": lambda report: plot_layers(report.results),
    "leakage_by_emotion.png": plot_emotions,
}
# The files a report folder may hold: what this module writes (older versions wrote each file
# atomically beside the others, leaving `.report.json.<random>.tmp` behind when killed).
OWNED = ("report.json", "report.md", "report.html", *PLOTS)


def write_report_folder(
    folder: Path, report: AuditReport, include_json: bool = True, label: str = "--privacy-report"
) -> list[Path]:
    """report.json, report.md, the PNGs and report.html (plots embedded), swapped in as one set;
    returns the paths. Without `include_json`, the folder's own report.json (the input of
    `privacy-checks report`) is carried over unchanged. PrivacyInputError when the folder holds
    files the report did not write; OSError when the disk fails (the old report stays)."""
    folder = _real(Path(folder))
    check_report_folder(folder, label, probe=False)
    folder.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale(folder)
    staging = folder.parent / f".{folder.name}.tmp-{os.getpid()}"
    try:
        staging.mkdir()
        names = _render(staging, report, source=None if include_json else folder / "report.json")
        check_report_folder(folder, label, probe=False)  # nothing foreign appeared while rendering
        _swap(staging, folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return [folder / name for name in names]


def _render(staging: Path, report: AuditReport, source: Path | None) -> list[str]:
    if source is None:
        (staging / "report.json").write_text(strict_json(report.as_dict(), indent=2) + "\n", encoding="utf-8")
    else:
        shutil.copy2(source, staging / "report.json")
    names = ["report.json"] if source is None else []
    plots = {}
    for name, render in PLOTS.items():
        data = render(report)
        if data is not None:
            (staging / name).write_bytes(data)
            plots[name] = data
            names.append(name)
    (staging / "report.md").write_text(markdown(report) + "\n", encoding="utf-8")
    (staging / "report.html").write_text(html_page(report, plots) + "\n", encoding="utf-8")
    return names + ["report.md", "report.html"]


def check_report_folder(folder: Path, label: str = "--privacy-report", probe: bool = True) -> None:
    """The report can go there: the parent folder exists and takes a new file (a probe file is
    created and removed: `/proc/x` passes os.access but not this), the folder is absent or a folder
    holding only the report's own files (it is replaced as a whole). PrivacyInputError naming the
    path and the fix."""
    folder = _real(Path(folder))
    parent = folder.parent
    if parent == folder or folder == Path.cwd().resolve() or folder in Path.cwd().resolve().parents:
        raise PrivacyInputError(
            f"{label} {folder}: is the working folder or above it; the report folder is replaced as a whole, "
            "so pass a folder of its own, e.g. privacy-report."
        )
    if folder.exists() and not folder.is_dir():
        raise PrivacyInputError(f"{label} {folder}: exists and is not a folder; pass a folder path.")
    # Missing parents are created when the report is written (CI jobs pass reports/privacy into a
    # fresh checkout); the nearest existing one must be a folder this user can write in.
    existing = next(p for p in (parent, *parent.parents) if p.exists() or p == p.parent)
    if not existing.is_dir():
        raise PrivacyInputError(f"{label} {folder}: {existing} is not a folder; pass a path inside a folder.")
    if folder.is_dir():
        foreign = sorted(p.name + ("/" if p.is_dir() else "") for p in folder.iterdir() if not _owned(p))
        if foreign:
            shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
            raise PrivacyInputError(
                f"{label} {folder}: the folder holds files privacy-checks did not write ({shown}); a report "
                "folder is replaced as a whole, so it may hold only report.json, report.md, report.html and "
                "the PNG plots. Pass a new folder (e.g. privacy-report) or move those files away."
            )
    if probe:
        for where in (existing, folder) if folder.is_dir() else (existing,):
            probe_folder(label, folder, where)


def probe_folder(label: str, target: Path, where: Path) -> None:
    """Create and remove a file in `where` (the honest writability test), or PrivacyInputError
    naming `target`, the folder and the fix."""
    try:
        fd, probe = tempfile.mkstemp(prefix=".privacy-checks-probe-", dir=where)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise PrivacyInputError(
            f"{label} {target}: cannot write in {where} ({exc.strerror or exc}); pass a path in a folder you "
            "can write to."
        ) from None


def _owned(path: Path) -> bool:
    name = path.name
    return path.is_file() and (name in OWNED or (name.startswith(".") and name.endswith(".tmp")))


def _real(folder: Path) -> Path:
    """The absolute path, a symlinked folder followed (the link stays, its target is replaced)."""
    return folder.resolve() if folder.is_symlink() else Path(os.path.abspath(folder))


def _swap(staging: Path, folder: Path) -> None:
    if not folder.exists():
        os.rename(staging, folder)
        return
    aside = folder.parent / f".{folder.name}.old-{os.getpid()}"
    try:
        os.rename(folder, aside)
        os.rename(staging, folder)
    except BaseException:
        if aside.exists() and not folder.exists():  # put the old report back
            os.rename(aside, folder)
        raise
    shutil.rmtree(aside, ignore_errors=True)


def _remove_stale(folder: Path) -> None:
    """Staging and set-aside folders of a run that was killed (its process is gone); a set-aside
    old report whose replacement never arrived is put back."""
    prefix = f".{folder.name}."
    for path in list(folder.parent.iterdir()):
        kind, _, pid = path.name[len(prefix) :].rpartition("-")
        if not (path.name.startswith(prefix) and kind in ("tmp", "old") and pid.isdigit() and path.is_dir()):
            continue
        if process_alive(int(pid)):
            continue
        if kind == "old" and not folder.exists():
            os.rename(path, folder)
        else:
            shutil.rmtree(path, ignore_errors=True)
