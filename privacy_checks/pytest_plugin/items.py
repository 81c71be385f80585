"""pytest nodes: the audited checkpoint is a File; each audit case is an Item whose failure text
speaks the domain (figures, the thresholds.yaml key, where to move the split point)."""

from __future__ import annotations

import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from privacy_checks.config.limits import RULE_CI_HIGH, RULE_CI_LOW, RULE_INTERVAL, RULE_POINT
from privacy_checks.engine.results import CaseResult, Status
from privacy_checks.errors import PrivacyInputError
from privacy_checks.pytest_plugin.stash import SESSION_KEY

if TYPE_CHECKING:
    from privacy_checks.engine.domain import AuditCase
    from privacy_checks.engine.results import ResultRow
    from privacy_checks.stats import Decision


# What each one-number limits.rule compares with the limit, in a failure message.
RULE_COMPARES = {
    RULE_POINT: "the point estimate",
    RULE_CI_LOW: "the CI lower bound",
    RULE_CI_HIGH: "the CI upper bound",
}


def rule_clause(decision: Decision) -> str:
    """How the rule in force failed the item, e.g. "the rule 'ci_low' compares the CI lower bound,
    +0.210, with the limit 0.100"."""
    if decision.rule == RULE_INTERVAL and decision.excess_low is not None and decision.excess_high is not None:
        return (
            f"the rule 'interval' fails it because the whole interval of the excess, "
            f"[{decision.excess_low:+.3f}, {decision.excess_high:+.3f}], lies above the limit {decision.max_excess:.3f}"
        )
    bound = RULE_COMPARES.get(decision.rule, f"the rule {decision.rule!r}'s figure")
    return (
        f"the rule '{decision.rule}' compares {bound}, {decision.compared_excess:+.3f}, "
        f"with the limit {decision.max_excess:.3f}"
    )


class LeakageExceeded(Exception):
    """Raised by a LeakageItem whose excess over chance is above its limit."""

    def __init__(self, result: CaseResult, safe_split: str | None):
        super().__init__(result.case.name)
        self.result = result
        self.safe_split = safe_split


class NotDecided(Exception):
    """Raised by a LeakageItem that is inconclusive (under controls.fail_on_inconclusive) or an
    error: the run is not green, and the failure text says why and what to do."""

    def __init__(self, result: CaseResult):
        super().__init__(result.case.name)
        self.result = result


# How an item that could not run ends the session (hooks.py): a usage error (a user's mistake found
# while the item ran: exit 4) or a crash (an attacker or the engine raised: exit 3, never 1).
USAGE, CRASH = "usage", "crash"


@dataclass(frozen=True)
class ItemError:
    """An item that raised instead of returning a result: its error row (status error, the reason)
    for every report, and which exit code it calls for."""

    result: CaseResult
    kind: str  # USAGE or CRASH

    @classmethod
    def of(cls, case: AuditCase, exc: Exception) -> ItemError:
        if isinstance(exc, PrivacyInputError):
            return cls(CaseResult(case, Status.ERROR, reason=str(exc)), USAGE)
        return cls(CaseResult(case, Status.ERROR, reason=crash_reason(case, exc)), CRASH)


def crash_reason(case: AuditCase, exc: BaseException) -> str:
    """ "the attacker 'broken' (broken head) raised RuntimeError: my head is broken (conftest.py:3 in
    broken)": the exception and the innermost frame, where a user's attacker usually failed."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = ""
    if frames:
        frame = frames[-1]
        try:
            filename = str(Path(frame.filename).resolve().relative_to(Path.cwd().resolve()))
        except ValueError:
            filename = frame.filename
        where = f" ({filename}:{frame.lineno} in {frame.name})"
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    raised = type(exc).__name__ + (f": {message}" if message else "")
    return (
        f"the {case.scenario!r} attacker ({case.architecture} head, {case.access} access) raised {raised}{where}; "
        "the item could not be measured (its traceback is in the test output)"
    )


class CheckpointFile(pytest.File):
    def collect(self):
        session = self.config.stash[SESSION_KEY]
        for case in session.audit.cases:
            # Under pytest-xdist the items spread one by one; what many of them need (an attack's
            # controls, the convex probe's readings) one worker computes for all (shared_results.py).
            yield LeakageItem.from_parent(self, name=case.name, case=case)


class LeakageItem(pytest.Item):
    def __init__(self, *, case, **kwargs):
        super().__init__(**kwargs)
        self.case = case
        self.error: ItemError | None = None  # set when the item raised instead of returning a result

    def runtest(self) -> None:
        session = self.config.stash[SESSION_KEY]
        try:
            result = session.result(self.case)
        except Exception as exc:  # an attacker (often a user's) or the engine raised: an error row
            self.error = ItemError.of(self.case, exc)
            if self.error.kind == USAGE:
                raise NotDecided(self.error.result) from None
            raise
        if result.status == Status.SKIPPED:
            pytest.skip(result.reason)
        if result.status == Status.ERROR:
            raise NotDecided(result)
        row = result.row()
        figures = row.measured
        # The item's figures as its --junitxml test case's properties.
        self.user_properties += [
            ("leakage", figures.leakage),
            ("ci_low", figures.ci_low),
            ("ci_high", figures.ci_high),
            ("chance", figures.chance),
            ("max_excess", row.max_excess),
            ("p_value", figures.p_value),
        ]
        if result.status == Status.FAILED:
            raise LeakageExceeded(result, session.safe_split(self.case))
        if result.status == Status.INCONCLUSIVE:
            if session.config.controls.fail_on_inconclusive:
                raise NotDecided(result)
            pytest.skip(f"inconclusive: {result.reason} (controls.fail_on_inconclusive is false)")

    def repr_failure(self, excinfo, style=None):
        if self.error is not None and self.error.kind == CRASH:
            trace = excinfo.getrepr(style="short", chain=False)
            return f"{error_text(self.error.result, 'the attacker raised an exception')}\n\n{trace}"
        if self.error is not None:  # a user's mistake found while the item ran: the message only
            return error_text(self.error.result, "the item could not run")
        if isinstance(excinfo.value, LeakageExceeded):
            return failure_text(excinfo.value.result, excinfo.value.safe_split)
        if isinstance(excinfo.value, NotDecided):
            result = excinfo.value.result
            return error_text(result) if result.status == Status.ERROR else inconclusive_text(result)
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self):
        return self.path, None, f"gender leakage: {self.case.name}"


def failure_text(result: CaseResult, safe_split: str | None) -> str:
    decision = result.decision
    assert decision is not None  # a measured item
    if decision.status != Status.FAILED:  # under its limit: failed only against the baseline
        return regression_text(result)
    row = result.row()
    r = row.measured
    case = result.case
    lines = [
        f"gender leakage above the limit at layer {case.layer}",
        f"  attack: {case.scenario}, {case.attacker} attacker, {case.architecture} head, {case.access} access",
        f"  L = {r.leakage:.3f} (95% CI {r.ci_low:.3f}-{r.ci_high:.3f} over {r.n_speakers} speakers; "
        f"fold mean {r.fold_mean:.3f} ± {r.fold_std:.3f}); chance = {r.chance:.3f}; p = {r.p_value:.4f}",
        f"  excess over chance: {r.excess:+.3f}; {rule_clause(decision)} (thresholds.yaml: {row.limit_key})",
        *_readings_line(row),
    ]
    if safe_split:
        lines.append(
            f"  what to do: move the split point to {safe_split}, the earliest layer from which every later "
            f"layer passes, or, if this exposure is acceptable, raise the limit for {case.layer} "
            f'(limits.layers."{case.layer}" in thresholds.yaml).'
        )
    else:
        lines.append(
            "  what to do: no audited layer passes at this limit; reduce what the transmitted representation "
            "carries about the speaker (e.g. adversarial or gender-invariant training), or raise the limit "
            f'(limits.layers."{case.layer}" in thresholds.yaml) if this exposure is acceptable.'
        )
    return "\n".join(lines)


def _readings_line(row: ResultRow) -> list[str]:
    """Every attacker's reading when several read the layer (the deciding one's figures are above)."""
    if not row.attackers or len(row.attackers) < 2:
        return []
    readings = "; ".join(
        f"{a.architecture} L={a.figures.leakage:.3f} [{a.figures.ci_low:.3f}, {a.figures.ci_high:.3f}]"
        + (" (decides)" if a.decides else "")
        + ("" if a.has_power else " (no power)")
        for a in row.attackers
    )
    return [f"  read by: {readings}"]


def _attack_line(result: CaseResult) -> str:
    case = result.case
    return f"  attack: {case.scenario}, {case.attacker} attacker, {case.architecture} head, {case.access} access"


def inconclusive_text(result: CaseResult) -> str:
    """An inconclusive item's failure: why (the interval straddles the limit, or the attacker had
    no power), its figures and what to do."""
    row = result.row()
    r = row.measured
    case = result.case
    lines = [
        f"INCONCLUSIVE at layer {case.layer}: the audit cannot tell whether this layer leaks beyond its limit",
        _attack_line(result),
        f"  L = {r.leakage:.3f} (95% CI {r.ci_low:.3f}-{r.ci_high:.3f} over {r.n_speakers} speakers); chance = "
        f"{r.chance:.3f}; excess {r.excess:+.3f} against the limit {row.max_excess:.3f} "
        f"(thresholds.yaml: {row.limit_key}; rule '{row.rule}')",
        *_readings_line(row),
        f"  why: {result.reason}",
        "  an inconclusive item fails the run (controls.fail_on_inconclusive: true); set it to false in "
        "thresholds.yaml to report such items as skipped instead.",
    ]
    return "\n".join(lines)


def error_text(result: CaseResult, what: str = "the layer could not be measured") -> str:
    """An item whose layer could not be measured (non-finite or constant outputs), or that could
    not run (`what` says why: a user's mistake, an attacker that raised)."""
    case = result.case
    return "\n".join([f"ERROR at layer {case.layer}: {what}", _attack_line(result), f"  {result.reason}"])


def regression_text(result: CaseResult) -> str:
    row = result.row()
    r = row.measured
    case, change = result.case, result.regression
    assert change is not None  # failed under its limit: only a baseline comparison fails it
    basis = (
        "baseline.margin in thresholds.yaml"
        if change.basis == "margin"
        else "the combined uncertainty of the two measurements (their 95% half-widths in quadrature)"
    )
    return "\n".join(
        [
            f"gender leakage rose against the baseline at layer {case.layer}",
            f"  attack: {case.scenario}, {case.attacker} attacker, {case.architecture} head, {case.access} access",
            f"  L = {change.after:.3f} now (95% CI {r.ci_low:.3f}-{r.ci_high:.3f}), {change.before:.3f} in the "
            f"baseline: +{change.rise:.3f}, more than the {change.allowed:.3f} allowed by {basis}",
            f"  (still within its absolute limit: excess {r.excess:+.3f} vs {row.max_excess:.3f}, {row.limit_key})",
            "  what to do: find what made this representation carry more about the speaker (a new layer, less "
            "pooling, a training change); if the new exposure is accepted, record it with "
            "--privacy-save-baseline FILE.",
        ]
    )
