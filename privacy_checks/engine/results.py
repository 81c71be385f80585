"""What the engine returns per audit case, and the one typed result row every report reads.

`CaseResult` is the engine's own view (the case, the statistics objects); `ResultRow` is what
leaves the engine: the figures rounded as report.json has them, so a row computed in this process
and a row read back from report.json, a baseline or a pytest-xdist worker's report are equal.
`ResultRow.as_dict()` writes exactly report.json's row (key order too) and `ResultRow.from_dict()`
reads it back. Torch-free: the report folder and baselines are rendered from rows alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any

from privacy_checks.engine.result_parts import (
    AttackerFigures,
    BaselineComparison,
    Breakdown,
    ControlSummary,
    Figures,
    Regression,
    breakdowns_as_dict,
    breakdowns_from_dict,
)

if TYPE_CHECKING:  # annotations only: the rows stay importable without torch (reports, baselines)
    from privacy_checks import stats
    from privacy_checks.engine.domain import AuditCase
    from privacy_checks.engine.readings import Reading


class Status(str, Enum):
    """An audit item's outcome. `str`-valued: it equals, and serialises as, the plain string."""

    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"
    INCONCLUSIVE = "inconclusive"
    # The layer could not be measured (its outputs are not finite, or constant): nothing was
    # learnt about it, so the run is not green.
    ERROR = "error"

    def __str__(self) -> str:
        return self.value


PASSED, FAILED, SKIPPED, INCONCLUSIVE, ERROR = (
    Status.PASSED,
    Status.FAILED,
    Status.SKIPPED,
    Status.INCONCLUSIVE,
    Status.ERROR,
)

# The figures of a measured row in report.json's order (a skipped row has only the first six, as None).
_ROW_FIGURES = ("leakage", "chance", "excess", "ci_low", "ci_high", "p_value")
_MEASURED_ONLY = ("fold_mean", "fold_std", "n_utterances", "n_speakers")
_METRIC = ("metric", "plain_accuracy", "plain_chance")  # a balanced-accuracy row's, after its figures


def attack_key(scenario: str, attacker: str, access: str, head: str) -> str:
    """An attack (a case without its layer) as report.json's safe_split_points keys spell it."""
    return f"{scenario}/{attacker}/{access}/{head}"


@dataclass(frozen=True)
class ResultRow:
    """One audit item's result as every report reads it (report.json's `results` entry)."""

    id: str
    scenario: str
    attacker: str
    access: str
    architecture: str  # the head that read this layer (a probe where T has no tail to clone)
    head: str  # the attack's planned head
    layer: str
    status: Status
    estimate: Figures | None = None  # None: not measured (skipped)
    max_excess: float | None = None
    rule: str | None = None
    limit_key: str | None = None
    reason: str | None = None  # why skipped, inconclusive, an error or failed against the baseline
    control: ControlSummary | None = None  # the scenario's attacker's (each attacker's: `attackers`)
    baseline: BaselineComparison | None = None
    breakdowns: dict[str, Breakdown] | None = field(default=None, hash=False)
    attackers: tuple[AttackerFigures, ...] | None = None  # every attacker's reading (None: skipped, older)

    @property
    def measured(self) -> Figures:
        """The figures of a row known to be measured (a failure, a layer's exposure)."""
        if self.estimate is None:
            raise ValueError(f"{self.id} was not measured ({self.status})")
        return self.estimate

    @property
    def attack_key(self) -> str:
        return attack_key(self.scenario, self.attacker, self.access, self.head)

    def as_dict(self) -> dict[str, Any]:
        row: dict[str, Any] = {
            "id": self.id,
            "scenario": self.scenario,
            "attacker": self.attacker,
            "access": self.access,
            "architecture": self.architecture,
            "head": self.head,
            "layer": self.layer,
        }
        e = self.estimate
        if e is None:
            row.update(dict.fromkeys(_ROW_FIGURES))
        else:
            figures = e.as_dict()
            row.update({k: figures[k] for k in _ROW_FIGURES + _MEASURED_ONLY + _METRIC if k in figures})
        row.update(
            {
                "max_excess": self.max_excess,
                "rule": self.rule,
                "limit_key": self.limit_key,
                "status": self.status.value,
                "reason": self.reason,
                "control": self.control.as_dict() if self.control else None,
                "baseline": self.baseline.as_dict() if self.baseline else None,
                "breakdowns": breakdowns_as_dict(self.breakdowns),
            }
        )
        if self.attackers is not None:  # rows without readings (skipped, older reports) write the old keys
            row["attackers"] = [a.as_dict() for a in self.attackers]
        return row

    @classmethod
    def from_dict(cls, row: Mapping[str, Any]) -> ResultRow:
        """A row of report.json, of a reproduction cell or of an xdist worker's test report.
        Raises KeyError, TypeError or ValueError on a malformed row."""
        return cls(
            id=row["id"],
            scenario=row["scenario"],
            attacker=row["attacker"],
            access=row["access"],
            architecture=row["architecture"],
            head=row["head"],
            layer=row["layer"],
            status=Status(row["status"]),
            estimate=None if row["leakage"] is None else Figures.from_dict(row),
            max_excess=row["max_excess"],
            rule=row["rule"],
            limit_key=row["limit_key"],
            reason=row["reason"],
            control=ControlSummary.from_dict(row["control"]) if row["control"] else None,
            baseline=BaselineComparison.from_dict(row["baseline"]) if row["baseline"] else None,
            breakdowns=breakdowns_from_dict(row["breakdowns"]),
            attackers=None
            if row.get("attackers") is None
            else tuple(AttackerFigures.from_dict(a) for a in row["attackers"]),
        )


def earliest_safe_layer(last_first: Iterable[ResultRow]) -> str | None:
    """The earliest layer from which every later layer passes, for one attack's rows given from
    its last layer backwards. Read lazily, and only up to the first layer that does not pass, so a
    caller may compute the rows on demand (nothing earlier is needed)."""
    earliest = None
    for row in last_first:
        if row.status != Status.PASSED:
            break
        earliest = row.layer
    return earliest


def safe_split_points(rows: Iterable[ResultRow]) -> dict[str, str | None]:
    """Per attack (its attack_key), the earliest safe split point among `rows` (in case order:
    layers forward)."""
    attacks: dict[str, list[ResultRow]] = {}
    for row in rows:
        attacks.setdefault(row.attack_key, []).append(row)
    return {key: earliest_safe_layer(reversed(attack)) for key, attack in attacks.items()}


@dataclass(frozen=True)
class ControlResult:
    """The attacker of one attack on T's input features: its power (positive control), its gender
    accuracy with the speaker->gender mapping shuffled (negative control), and its own accuracies."""

    architecture: str
    positive: stats.LeakageEstimate
    negative: stats.LeakageEstimate | None
    emotion_accuracy: float | None  # application-aware attackers on their own corpus's emotions
    min_excess: float

    @property
    def has_power(self) -> bool:
        """The attacker demonstrably reads gender from the input: its excess reaches the least one
        asked for and its interval lies above chance (a lucky 0.6 on a few clips proves no power)."""
        return self.positive.excess >= self.min_excess and self.positive.excess_low > 0

    def summary(self) -> ControlSummary:
        return ControlSummary(
            architecture=self.architecture,
            input_gender_accuracy=Figures.from_dict(self.positive.as_dict()),
            shuffled_gender_accuracy=Figures.from_dict(self.negative.as_dict()) if self.negative else None,
            input_emotion_accuracy=None if self.emotion_accuracy is None else round(self.emotion_accuracy, 6),
            min_excess=self.min_excess,
            has_power=self.has_power,
        )

    def as_dict(self) -> dict[str, Any]:
        return self.summary().as_dict()


@dataclass(frozen=True)
class CaseResult:
    case: AuditCase
    status: Status
    estimate: stats.LeakageEstimate | None = None
    decision: stats.Decision | None = None
    limit_key: str = ""
    reason: str = ""  # why skipped, inconclusive or an error
    control: ControlResult | None = None
    breakdowns: dict[str, Any] | None = None  # stats' group and comparison dicts per breakdown
    regression: Regression | None = None  # against --privacy-baseline, when the item has an entry
    # Every attacker that read the layer, the case's own first (`control` is its); `estimate` is the
    # deciding reading's: the item's exposure.
    readings: tuple[Reading, ...] = ()

    def __post_init__(self) -> None:
        # The engine passes stats.Decision's plain "passed"/"failed" through.
        object.__setattr__(self, "status", Status(self.status))

    def row(self) -> ResultRow:
        c = self.case
        return ResultRow(
            id=c.name,
            scenario=c.scenario,
            attacker=c.attacker,
            access=c.access,
            architecture=c.architecture,
            head=c.planned_head,
            layer=c.layer,
            status=self.status,
            estimate=None if self.estimate is None else _row_figures(self.estimate),
            max_excess=None if self.decision is None else self.decision.max_excess,
            rule=None if self.decision is None else self.decision.rule,
            limit_key=self.limit_key or None,
            reason=self.reason or None,
            control=self.control.summary() if self.control else None,
            baseline=self.regression.comparison() if self.regression else None,
            breakdowns=breakdowns_from_dict(self.breakdowns),
            attackers=self._attackers(),
        )

    def _attackers(self) -> tuple[AttackerFigures, ...] | None:
        if not self.readings:
            return None
        return tuple(
            AttackerFigures(
                r.architecture,
                _row_figures(r.estimate),
                r.control.has_power,
                r.estimate is self.estimate,
                r.control.summary(),
                tuple(round(value, 6) for value in r.seed_leakages),
            )
            for r in self.readings
        )

    def as_dict(self) -> dict[str, Any]:
        return self.row().as_dict()


def _row_figures(e: stats.LeakageEstimate) -> Figures:
    """A row's figures, rounded as report.json has always rounded them (Python's round on the
    estimate's own values; the control's figures use LeakageEstimate.as_dict's rounding)."""
    return Figures(
        leakage=round(e.leakage, 6),
        chance=round(e.chance, 6),
        ci_low=round(e.ci_low, 6),
        ci_high=round(e.ci_high, 6),
        p_value=round(e.p_value, 6),
        fold_mean=round(e.fold_mean, 6),
        fold_std=round(e.fold_std, 6),
        n_utterances=e.n_utterances,
        n_speakers=e.n_speakers,
        excess=round(e.excess, 6),
        metric=e.metric,
        plain_accuracy=None if e.plain_accuracy is None else round(e.plain_accuracy, 6),
        plain_chance=None if e.plain_chance is None else round(e.plain_chance, 6),
    )
