"""Calibration of the instrument: does the audit flag leakage when, and only when, it is there?

Four checks on synthetic corpora whose gender effect is known (docs/design.md §3), each returning its
figures so a test can assert them and a benchmark can print them:

- null: with `gender_effect=0` no layer carries gender; over many seeds the share of items flagged
  (at the default rule), of p-values below alpha and of intervals missing chance stays near alpha;
- power: a passthrough layer (T's input itself) with `gender_effect=1` gives L >= 0.9 and fails;
- dose-response: L rises with `gender_effect`;
- data processing: no layer leaks more than a strong probe on T's raw input (within the CIs).

The audited model is a small seeded CNN whose first layer passes its input through unchanged, so
the harness is checked against a layer whose information content is known exactly.
"""

from __future__ import annotations

import hashlib
import io
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy import stats as scipy_stats
from torch import nn

from privacy_checks.engine.entry import open_audit
from privacy_checks.engine.result_parts import Figures
from privacy_checks.engine.results import ResultRow, Status
from privacy_checks.features import FeatureSpec
from privacy_checks.model.target import Target

LAYERS = ("passthrough", "conv", "pool", "embedding")


class Passthrough(nn.Module):
    """The identity, as a named layer the audit intercepts (nn.Identity is not a candidate layer)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


class CalibrationNet(nn.Module):
    """input -> passthrough -> conv block -> pooled map -> 8-unit embedding -> 4 emotion logits.
    No tail to clone: the same-architecture attacker is the linear probe, whose capacity is known."""

    family = "cnn"

    def __init__(self, classes: int = 4):
        super().__init__()
        self.passthrough = Passthrough()
        self.conv = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
        self.pool = nn.AdaptiveAvgPool2d((4, 4))
        self.embedding = nn.Sequential(nn.Flatten(), nn.Linear(8 * 16, 8), nn.ReLU())
        self.head = nn.Linear(8, classes)

    def candidate_layers(self) -> list[str]:
        return list(LAYERS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.embedding(self.pool(self.conv(self.passthrough(x)))))


def calibration_target(seed: int = 0, duration_s: float = 1.0) -> Target:
    """The calibration model as an audit target (weights seeded, fingerprint from the weights)."""
    spec = FeatureSpec(duration_s=duration_s)
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)  # T's weights from the seed, without disturbing the caller's stream
    module = CalibrationNet().eval()
    torch.random.set_rng_state(generator_state)
    buffer = io.BytesIO()
    torch.save(module.state_dict(), buffer)
    fingerprint = hashlib.sha256(buffer.getvalue()).hexdigest()
    return Target(
        module,
        "calibration_net",
        spec,
        ("angry", "happy", "neutral", "sad"),
        fingerprint,
        Path(f"calibration_net-{seed}.pt"),
        "module",
    )


@dataclass(frozen=True)
class Settings:
    """How big each audit is: the fast version for the test suite, the full one for benchmarks/."""

    speakers: int = 20
    utterances: int = 4
    duration_s: float = 1.0
    epochs: int = 10
    bootstrap: int = 200
    permutations: int = 200
    scenarios: tuple[str, ...] = ("worst_case",)
    budget: str = "quick"
    folds: int = 5

    def config(self, seed: int) -> dict[str, Any]:
        """The audit's settings, shaped like thresholds.yaml."""
        return {
            "audit": {
                "scenarios": list(self.scenarios),
                "budget": self.budget,
                "seed": seed,
                "folds": self.folds,
                "bootstrap": self.bootstrap,
                "permutations": self.permutations,
            },
            "attacker": {"epochs": self.epochs, "batch_size": 8},
        }

    def corpus(self, gender_effect: float, seed: int) -> str:
        return (
            f"synthetic:speakers={self.speakers},utterances={self.utterances},duration={self.duration_s},"
            f"gender_effect={gender_effect},seed={seed}"
        )


# Test-suite sizes (seconds per audit on 2 cores) and the benchmark's (benchmarks/calibration.py).
NULL_FAST = Settings()  # the default 5 folds: specificity is checked as users run the audit
# Power at 3 folds (2/3 of the speakers train each head, not 4/5) is no more than at the default 5.
POWER_FAST = Settings(speakers=40, epochs=20, folds=3)  # a linear probe needs ~150 training clips for L >= 0.9
PROCESSING_FAST = Settings(scenarios=("worst_case", "scenario_2"), folds=3)  # + a CNN head: a strong probe
FULL = Settings(
    speakers=40,
    utterances=8,
    epochs=20,
    bootstrap=1000,
    permutations=1000,
    budget="standard",
    scenarios=("worst_case", "scenario_2"),
)


@dataclass
class AuditRun:
    gender_effect: float
    seed: int
    rows: list[ResultRow]  # one report row per item

    def by_layer(self) -> dict[str, list[ResultRow]]:
        """The measured rows per layer."""
        out: dict[str, list[ResultRow]] = {}
        for row in self.rows:
            if row.estimate is not None:
                out.setdefault(row.layer, []).append(row)
        return out

    def worst(self, layer: str) -> Figures:
        """The leakiest item's figures at `layer` (the worst case over attackers)."""
        return max((row.measured for row in self.by_layer()[layer]), key=lambda e: e.leakage)

    def input_probe(self) -> Figures:
        """The strongest attacker on T's raw input: the best of the positive controls and of the
        items at the passthrough layer (which is the input)."""
        on_input = [row.control.input_gender_accuracy for row in self.rows if row.control]
        on_input += [row.measured for row in self.by_layer().get(LAYERS[0], [])]
        return max(on_input, key=lambda e: e.leakage)


def run_audit(gender_effect: float, seed: int, settings: Settings = NULL_FAST, cache: Path | None = None) -> AuditRun:
    """Every item of one audit of the calibration model on a synthetic corpus."""
    root = Path(cache) if cache else Path(tempfile.gettempdir()) / "privacy-checks-calibration"
    audit = open_audit(
        calibration_target(seed, settings.duration_s),
        settings.corpus(gender_effect, seed),
        config=settings.config(seed),
        cache_dir=root / "embeddings",
        base_dir=root,
    )
    return AuditRun(gender_effect, seed, [audit.result(case).row() for case in audit.cases])


# -- the four checks -----------------------------------------------------------------------------


@dataclass
class NullCheck:
    """Items measured on corpora without any gender signal."""

    alpha: float
    items: int
    flagged: int  # failed at the configured (default) rule
    significant: int  # p < alpha
    missed_chance: int  # the confidence interval excludes chance (either side)
    above_chance: int  # ... lies wholly above it: the side on which a gate raises false alarms
    runs: list[AuditRun] = field(repr=False, default_factory=list)

    def binomial_p(self, count: int, rate: float | None = None) -> float:
        """P(at least `count` of `items` at `rate` (alpha)): small means the share exceeds it."""
        return float(scipy_stats.binom.sf(count - 1, self.items, self.alpha if rate is None else rate))

    def lines(self) -> list[str]:
        share = lambda n: f"{n}/{self.items} = {n / self.items:.3f} (binomial p vs alpha {self.binomial_p(n):.3f})"
        return [
            f"null (gender_effect=0), {len(self.runs)} seeds, {self.items} items, alpha {self.alpha}:",
            f"  flagged at the default rule: {share(self.flagged)}",
            f"  p < alpha:                   {share(self.significant)}",
            f"  CI excludes chance:          {share(self.missed_chance)}",
            f"  CI wholly above chance:      {self.above_chance}/{self.items} = {self.above_chance / self.items:.3f} "
            f"(binomial p vs alpha/2 {self.binomial_p(self.above_chance, self.alpha / 2):.3f})",
        ]


def null_check(
    seeds: Sequence[int], settings: Settings = NULL_FAST, alpha: float = 0.05, cache: Path | None = None
) -> NullCheck:
    runs = [run_audit(0.0, seed, settings, cache) for seed in seeds]
    rows = [row for run in runs for row in run.rows if row.estimate is not None]
    figures = [row.measured for row in rows]
    return NullCheck(
        alpha=alpha,
        items=len(rows),
        runs=runs,
        flagged=sum(row.status == Status.FAILED for row in rows),
        significant=sum(e.p_value < alpha for e in figures),
        missed_chance=sum(not (e.ci_low <= e.chance <= e.ci_high) for e in figures),
        above_chance=sum(e.ci_low > e.chance for e in figures),
    )


@dataclass
class PowerCheck:
    rows: list[ResultRow]  # every measured item at the passthrough layer

    @property
    def min_leakage(self) -> float:
        return min(row.measured.leakage for row in self.rows)

    @property
    def all_failed(self) -> bool:
        return all(row.status == Status.FAILED for row in self.rows)

    def lines(self) -> list[str]:
        return [
            f"power (gender_effect=1, passthrough layer): {len(self.rows)} items, min L {self.min_leakage:.3f}, "
            f"all failed: {self.all_failed}"
        ]


def power_check(seed: int = 0, settings: Settings = POWER_FAST, cache: Path | None = None) -> PowerCheck:
    run = run_audit(1.0, seed, settings, cache)
    return PowerCheck(run.by_layer()["passthrough"])


@dataclass
class DoseResponse:
    effects: tuple[float, ...]
    leakage: list[Figures]  # the passthrough layer's worst item per effect

    def monotone_within_ci(self) -> bool:
        """No step down beyond what the two intervals allow."""
        return all(
            nxt.ci_high >= prev.ci_low and nxt.leakage >= prev.leakage - _half_widths(prev, nxt)
            for prev, nxt in zip(self.leakage, self.leakage[1:])
        )

    def spearman(self) -> float:
        return float(scipy_stats.spearmanr(self.effects, [e.leakage for e in self.leakage]).statistic)

    def lines(self) -> list[str]:
        cells = ", ".join(
            f"{effect:g}: {e.leakage:.3f} [{e.ci_low:.3f}, {e.ci_high:.3f}]"
            for effect, e in zip(self.effects, self.leakage)
        )
        return [
            f"dose-response (passthrough layer, worst item): {cells}; Spearman {self.spearman():.3f}, "
            f"monotone within CIs: {self.monotone_within_ci()}"
        ]


def _half_widths(a: Figures, b: Figures) -> float:
    """The two intervals' half-widths in quadrature (the baseline's combined uncertainty)."""
    return float(np.hypot((a.ci_high - a.ci_low) / 2, (b.ci_high - b.ci_low) / 2))


def dose_response(
    effects: Sequence[float] = (0.0, 0.25, 0.5, 1.0),
    seed: int = 0,
    settings: Settings = POWER_FAST,
    cache: Path | None = None,
) -> DoseResponse:
    runs = [run_audit(effect, seed, settings, cache) for effect in effects]
    return DoseResponse(tuple(effects), [run.worst("passthrough") for run in runs])


@dataclass
class ProcessingCheck:
    """Data processing inequality as a sanity check: a layer is a function of the input, so its
    worst-case L should not exceed a strong probe's on the raw input beyond the intervals."""

    probe: Figures  # the strongest attacker on T's input (a positive control)
    layers: dict[str, Figures]  # worst item per layer

    def violations(self) -> list[str]:
        return [layer for layer, e in self.layers.items() if e.ci_low > self.probe.ci_high]

    def lines(self) -> list[str]:
        cells = ", ".join(f"{layer} {e.leakage:.3f}" for layer, e in self.layers.items())
        return [
            f"data processing: input probe {self.probe.leakage:.3f} "
            f"[{self.probe.ci_low:.3f}, {self.probe.ci_high:.3f}] vs worst case per layer: {cells}; "
            f"layers above the probe beyond the CIs: {self.violations() or 'none'}"
        ]


def processing_check(
    gender_effect: float = 1.0, seed: int = 0, settings: Settings = PROCESSING_FAST, cache: Path | None = None
) -> ProcessingCheck:
    run = run_audit(gender_effect, seed, settings, cache)
    return ProcessingCheck(run.input_probe(), {layer: run.worst(layer) for layer in run.by_layer()})


__all__ = [
    "FULL",
    "NULL_FAST",
    "POWER_FAST",
    "PROCESSING_FAST",
    "Settings",
    "calibration_target",
    "dose_response",
    "null_check",
    "power_check",
    "processing_check",
    "run_audit",
]
