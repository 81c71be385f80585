"""The typed parts of a result row: its figures, its attacker's controls, its comparison with a
baseline and its breakdowns (per emotion, improvised vs scripted).

Each part writes (`as_dict`) and reads (`from_dict`) its piece of report.json unchanged: values are
kept as they come (already rounded), never converted, so a row read back writes the same bytes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Figures:
    """A leakage estimate as reported: rounded to 6 decimals, counts as ints."""

    leakage: float
    chance: float
    ci_low: float
    ci_high: float
    p_value: float
    fold_mean: float
    fold_std: float
    n_utterances: int
    n_speakers: int
    excess: float
    # What `leakage` measures; a balanced-accuracy figure keeps the plain accuracy (the paper's L)
    # and its majority chance beside it. Plain accuracy writes none of the three (older reports).
    metric: str = "accuracy"
    plain_accuracy: float | None = None
    plain_chance: float | None = None

    def as_dict(self) -> dict[str, Any]:
        """In stats.LeakageEstimate.as_dict()'s order (a control's figures in report.json)."""
        figures: dict[str, Any] = {
            "leakage": self.leakage,
            "chance": self.chance,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "p_value": self.p_value,
            "fold_mean": self.fold_mean,
            "fold_std": self.fold_std,
            "n_utterances": self.n_utterances,
            "n_speakers": self.n_speakers,
            "excess": self.excess,
        }
        if self.metric != "accuracy":
            figures.update(metric=self.metric, plain_accuracy=self.plain_accuracy, plain_chance=self.plain_chance)
        return figures

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Figures:
        """From a control's estimate or a measured row (which holds these keys among others)."""
        return cls(
            leakage=data["leakage"],
            chance=data["chance"],
            ci_low=data["ci_low"],
            ci_high=data["ci_high"],
            p_value=data["p_value"],
            fold_mean=data["fold_mean"],
            fold_std=data["fold_std"],
            n_utterances=data["n_utterances"],
            n_speakers=data["n_speakers"],
            excess=data["excess"],
            metric=data.get("metric", "accuracy"),
            plain_accuracy=data.get("plain_accuracy"),
            plain_chance=data.get("plain_chance"),
        )


@dataclass(frozen=True)
class ControlSummary:
    """The attack's controls on T's input features (see engine.results.ControlResult)."""

    architecture: str
    input_gender_accuracy: Figures  # the positive control: the attacker's power
    shuffled_gender_accuracy: Figures | None  # the negative control (thorough budget)
    input_emotion_accuracy: float | None
    min_excess: float
    has_power: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "architecture": self.architecture,
            "input_gender_accuracy": self.input_gender_accuracy.as_dict(),
            "shuffled_gender_accuracy": self.shuffled_gender_accuracy.as_dict()
            if self.shuffled_gender_accuracy
            else None,
            "input_emotion_accuracy": self.input_emotion_accuracy,
            "min_excess": self.min_excess,
            "has_power": self.has_power,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ControlSummary:
        shuffled = data["shuffled_gender_accuracy"]
        return cls(
            architecture=data["architecture"],
            input_gender_accuracy=Figures.from_dict(data["input_gender_accuracy"]),
            shuffled_gender_accuracy=Figures.from_dict(shuffled) if shuffled else None,
            input_emotion_accuracy=data["input_emotion_accuracy"],
            min_excess=data["min_excess"],
            has_power=data["has_power"],
        )


@dataclass(frozen=True)
class AttackerFigures:
    """One attacker's reading of an item's layer (the scenario's head, the convex probe)."""

    architecture: str
    figures: Figures
    has_power: bool  # its positive control beat chance by controls.positive_min_excess
    decides: bool  # its reading is the item's exposure
    control: ControlSummary  # its own controls (the probe's read log-mel statistics of the audio)
    seed_leakages: tuple[float, ...] = ()  # L per training seed (thorough); the figures span them

    def as_dict(self) -> dict[str, Any]:
        return {
            "architecture": self.architecture,
            **self.figures.as_dict(),
            "has_power": self.has_power,
            "decides": self.decides,
            "seed_leakages": list(self.seed_leakages),
            "control": self.control.as_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AttackerFigures:
        return cls(
            data["architecture"],
            Figures.from_dict(data),
            data["has_power"],
            data["decides"],
            ControlSummary.from_dict(data["control"]),
            tuple(data.get("seed_leakages", ())),
        )


@dataclass(frozen=True)
class BaselineComparison:
    """How a row compares with its --privacy-baseline entry, as reported."""

    leakage_before: float
    rise: float
    allowed_rise: float
    basis: str  # "margin" | "combined uncertainty"
    regressed: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "leakage_before": self.leakage_before,
            "rise": self.rise,
            "allowed_rise": self.allowed_rise,
            "basis": self.basis,
            "regressed": self.regressed,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BaselineComparison:
        return cls(
            leakage_before=data["leakage_before"],
            rise=data["rise"],
            allowed_rise=data["allowed_rise"],
            basis=data["basis"],
            regressed=data["regressed"],
        )


@dataclass(frozen=True)
class Regression:
    """How one item compares with its baseline entry (unrounded; `comparison()` reports it)."""

    before: float
    after: float
    allowed: float  # the rise tolerated: the configured margin, else the combined uncertainty
    basis: str  # "margin" | "combined uncertainty"

    @property
    def rise(self) -> float:
        return self.after - self.before

    @property
    def regressed(self) -> bool:
        return self.rise > self.allowed

    def comparison(self) -> BaselineComparison:
        return BaselineComparison(
            leakage_before=round(self.before, 6),
            rise=round(self.rise, 6),
            allowed_rise=round(self.allowed, 6),
            basis=self.basis,
            regressed=self.regressed,
        )

    def as_dict(self) -> dict[str, Any]:
        return self.comparison().as_dict()


@dataclass(frozen=True)
class GroupFigures:
    """Leakage within one group (stats.GroupLeakage.as_dict(): None where it cannot be estimated)."""

    group: str
    leakage: float | None
    chance: float | None
    ci_low: float | None
    ci_high: float | None
    n_utterances: int | None
    n_speakers: int | None
    excess: float | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "leakage": self.leakage,
            "chance": self.chance,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "n_utterances": self.n_utterances,
            "n_speakers": self.n_speakers,
            "excess": self.excess,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GroupFigures:
        return cls(
            group=data["group"],
            leakage=data["leakage"],
            chance=data["chance"],
            ci_low=data["ci_low"],
            ci_high=data["ci_high"],
            n_utterances=data["n_utterances"],
            n_speakers=data["n_speakers"],
            excess=data["excess"],
        )


@dataclass(frozen=True)
class Comparison:
    """The test of equal leakage across the groups (stats.GroupComparison.as_dict())."""

    groups: tuple[str, ...]
    statistic: float | None
    p_value: float | None
    method: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "groups": list(self.groups),
            "statistic": self.statistic,
            "p_value": self.p_value,
            "method": self.method,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Comparison:
        return cls(tuple(data["groups"]), data["statistic"], data["p_value"], data["method"])


@dataclass(frozen=True)
class Breakdown:
    """One breakdown of a row's leakage (by emotion, or improvised vs scripted)."""

    groups: tuple[GroupFigures, ...]
    comparison: Comparison

    def as_dict(self) -> dict[str, Any]:
        return {"groups": [g.as_dict() for g in self.groups], "comparison": self.comparison.as_dict()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Breakdown:
        return cls(tuple(GroupFigures.from_dict(g) for g in data["groups"]), Comparison.from_dict(data["comparison"]))


def breakdowns_as_dict(breakdowns: Mapping[str, Breakdown] | None) -> dict[str, Any] | None:
    return None if breakdowns is None else {name: b.as_dict() for name, b in breakdowns.items()}


def breakdowns_from_dict(data: Mapping[str, Any] | None) -> dict[str, Breakdown] | None:
    return None if data is None else {name: Breakdown.from_dict(b) for name, b in data.items()}
