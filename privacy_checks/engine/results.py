"""What the engine returns per audit case: the case's status, estimate, decision and controls."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from privacy_checks import stats
from privacy_checks.engine.baseline import Regression
from privacy_checks.engine.plan import AuditCase

PASSED, FAILED, SKIPPED, INCONCLUSIVE = "passed", "failed", "skipped", "inconclusive"


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
        return self.positive.excess >= self.min_excess

    def as_dict(self) -> dict[str, Any]:
        return {
            "architecture": self.architecture,
            "input_gender_accuracy": self.positive.as_dict(),
            "shuffled_gender_accuracy": self.negative.as_dict() if self.negative else None,
            "input_emotion_accuracy": None if self.emotion_accuracy is None else round(self.emotion_accuracy, 6),
            "min_excess": self.min_excess,
            "has_power": self.has_power,
        }


@dataclass(frozen=True)
class CaseResult:
    case: AuditCase
    status: str  # passed | failed | skipped | inconclusive
    estimate: stats.LeakageEstimate | None = None
    decision: stats.Decision | None = None
    limit_key: str = ""
    reason: str = ""  # why skipped or inconclusive
    control: ControlResult | None = None
    breakdowns: dict[str, Any] | None = None
    regression: Regression | None = None  # against --privacy-baseline, when the item has an entry

    def as_dict(self) -> dict[str, Any]:
        c = self.case
        row: dict[str, Any] = {
            "id": c.name,
            "scenario": c.scenario,
            "attacker": c.attacker,
            "access": c.access,
            "architecture": c.architecture,
            "head": c.attack[3],
            "layer": c.layer,
        }
        e = self.estimate
        if e is not None:
            row.update(
                {
                    "leakage": round(e.leakage, 6),
                    "chance": round(e.chance, 6),
                    "excess": round(e.excess, 6),
                    "ci_low": round(e.ci_low, 6),
                    "ci_high": round(e.ci_high, 6),
                    "p_value": round(e.p_value, 6),
                    "fold_mean": round(e.fold_mean, 6),
                    "fold_std": round(e.fold_std, 6),
                    "n_utterances": e.n_utterances,
                    "n_speakers": e.n_speakers,
                }
            )
        else:
            row.update({k: None for k in ("leakage", "chance", "excess", "ci_low", "ci_high", "p_value")})
        if self.decision is not None:
            row.update({"max_excess": self.decision.max_excess, "rule": self.decision.rule})
        else:
            row.update({"max_excess": None, "rule": None})
        row.update({"limit_key": self.limit_key or None, "status": self.status, "reason": self.reason or None})
        row["control"] = self.control.as_dict() if self.control else None
        row["baseline"] = self.regression.as_dict() if self.regression else None
        row["breakdowns"] = self.breakdowns
        return row
