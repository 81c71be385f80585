"""What report.md and report.html both show: the layer x attack matrix and what failed and why."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from privacy_checks.config.limits import RULE_CI_HIGH, RULE_CI_LOW, RULE_INTERVAL, RULE_POINT
from privacy_checks.engine.results import ResultRow, Status
from privacy_checks.reporting.verdict import SHORT_LABEL
from privacy_checks.threat_model import ENCODER

if TYPE_CHECKING:  # the report is only read here; report.py imports the renderers lazily
    from privacy_checks.reporting.report import AuditReport


# Each limits.rule in one phrase, for the summary line that names the rule in force.
RULE_MEANING = {
    RULE_INTERVAL: "fail when the interval of the excess lies wholly above the limit, pass only when it lies "
    "wholly within it, inconclusive when it straddles it",
    RULE_CI_LOW: "a relaxation: fail only when the interval's lower end exceeds the limit, pass everything else "
    "(even a point estimate above the limit)",
    RULE_CI_HIGH: "fail unless the interval's upper end is within the limit",
    RULE_POINT: "fail when the point estimate exceeds the limit",
}


def attack_label(row: ResultRow) -> str:
    """An attack as a column title or plot legend: scenario · attacker · head, and the access
    mode unless it is the default (encoder)."""
    access = "" if row.access == ENCODER else f" ({row.access})"
    return f"{row.scenario} · {row.attacker} · {row.head}{access}"


def layer_order(rows: Iterable[ResultRow]) -> list[str]:
    """The layers in the rows' (forward) order, once each."""
    return list(dict.fromkeys(row.layer for row in rows))


def by_attack(rows: Iterable[ResultRow]) -> dict[str, list[ResultRow]]:
    """The rows grouped by attack_label, in order."""
    attacks: dict[str, list[ResultRow]] = {}
    for row in rows:
        attacks.setdefault(attack_label(row), []).append(row)
    return attacks


def mark(status: Status) -> str:
    """An item's verdict in Markdown (a failure or an error in bold)."""
    label = SHORT_LABEL[status]
    return f"**{label}**" if status in (Status.FAILED, Status.ERROR) else label


def _cell(row: ResultRow | None) -> str:
    if row is None:
        return ""
    if row.estimate is None:
        return mark(row.status)
    return f"{row.estimate.leakage:.2f} {mark(row.status)}"


def matrix(report: AuditReport) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the layer x attack table (L and verdict per cell)."""
    attacks = by_attack(report.results)
    header = ["layer", *attacks]
    rows = []
    for layer in layer_order(report.results):
        cells = [next((row for row in attack if row.layer == layer), None) for attack in attacks.values()]
        rows.append([layer, *(_cell(c) for c in cells)])
    return header, rows


def failure_lines(report: AuditReport) -> list[str]:
    """What failed and why: failures, then layers that could not be measured (errors)."""
    failed = [_failure_line(row) for row in report.results if row.status == Status.FAILED]
    return failed + [f"`{row.id}`: ERROR: {row.reason}" for row in report.results if row.status == Status.ERROR]


def undecided_lines(report: AuditReport) -> list[str]:
    """The inconclusive items and why (each reason says what would decide it)."""
    return [f"`{row.id}`: {row.reason}" for row in report.results if row.status == Status.INCONCLUSIVE]


def rule_line(report: AuditReport) -> str:
    """The decision rule in force, in words (the summary names it)."""
    rule = report.settings.get("limits", {}).get("rule") or next((r.rule for r in report.results if r.rule), None)
    return f"decision rule: {rule} (limits.rule) — {RULE_MEANING.get(rule or '', 'see thresholds.yaml')}"


def _failure_line(row: ResultRow) -> str:
    e = row.measured  # only a measured item fails
    text = (
        f"`{row.id}`: L = {e.leakage:.3f} [{e.ci_low:.3f}, {e.ci_high:.3f}], chance "
        f"{e.chance:.3f}, excess {e.excess:+.3f} vs limit {row.max_excess:.3f} ({row.limit_key}, "
        f"rule {row.rule})"
    )
    b = row.baseline
    if b and b.regressed:
        text += f"; rose from {b.leakage_before:.3f} in the baseline (+{b.rise:.3f} > {b.allowed_rise:.3f}, {b.basis})"
    return text


def md_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return "\n".join(lines)
