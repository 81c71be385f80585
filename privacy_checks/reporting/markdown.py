"""report.md: fits $GITHUB_STEP_SUMMARY. The verdict first, then the layer x attack matrix, then
what failed and why, the earliest safe split points and the exposure per layer."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from privacy_checks.reporting.tables import failure_lines, matrix, md_table, rule_line, undecided_lines

if TYPE_CHECKING:  # the report is only read here; report.py imports the renderers lazily
    from privacy_checks.reporting.report import AuditReport


def markdown(report: AuditReport) -> str:
    tally = report.tally
    model, corpus = report.model, report.corpus
    out = [
        f"## Privacy audit: {tally.overall}",
        "",
        f"{tally.phrase(lambda text: f'**{text}**')} — gender leakage L of `{Path(model['path']).name}` "
        f"({model['architecture']}, sha256 `{model['sha256'][:12]}`) on {corpus['name']} "
        f"({corpus['utterances']} utterances, {corpus['speakers']} speakers).",
        "",
        rule_line(report),
        "",
    ]
    missing = report.coverage.missing if report.coverage else ()
    if missing:
        out += [
            f"### Missing: {len(missing)} items in no shard's report",
            "",
            "A shard's report folder was not merged, or its job stopped early: these were not measured.",
            "",
            *[f"- `{item}`" for item in missing],
            "",
        ]
    header, rows = matrix(report)
    if rows:
        out += ["### Leakage per layer and attack (L and verdict)", "", md_table(header, rows), ""]
    failures = failure_lines(report)
    if failures:
        out += ["### What failed and why", ""] + [f"- {line}" for line in failures] + [""]
    undecided = undecided_lines(report)
    if undecided:
        out += ["### What is inconclusive and why", ""] + [f"- {line}" for line in undecided] + [""]
    if report.safe_splits:
        out += [
            "### Earliest safe split point per attack",
            "",
            md_table(
                ["attack", "earliest layer from which every later layer passes"],
                [[key.replace("/", " · "), layer or "none"] for key, layer in report.safe_splits.items()],
            ),
            "",
        ]
    exposure = report.exposure()
    if exposure:
        table = [
            [
                layer,
                f"{row.measured.leakage:.3f}",
                f"[{row.measured.ci_low:.3f}, {row.measured.ci_high:.3f}]",
                f"`{row.id}`",
            ]
            for layer, row in exposure.items()
        ]
        out += [
            "### Exposure per layer (strongest attack)",
            "",
            md_table(["layer", "L", "95% CI", "attack"], table),
            "",
        ]
    return "\n".join(out)
