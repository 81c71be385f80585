"""An item's readings: each attacker that reads its layer, with the estimate it reached and the
control that shows its power. Every encoder-access item of a built-in scenario has two, the
scenario's neural head and the convex probe (engine/probe_attack.py); the verdict decides on them
together and the item's exposure is the strongest (engine/verdict.py). Intercept items and users'
own attackers have one: their own."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from privacy_checks import stats
from privacy_checks.config import PrivacyConfig
from privacy_checks.engine.attacks import Attacks
from privacy_checks.engine.controls import Controls
from privacy_checks.engine.corpora import AUX, TARGET, AuditCorpora
from privacy_checks.engine.domain import AuditCase
from privacy_checks.engine.estimates import estimate, gender_column
from privacy_checks.engine.probe_attack import CONVEX_PROBE, ProbeAttack
from privacy_checks.engine.results import ControlResult
from privacy_checks.seeds import derived_seed
from privacy_checks.threat_model import SCENARIOS, Access, Budget


@dataclass(frozen=True)
class Reading:
    architecture: str  # the attacker: a head's name, or CONVEX_PROBE
    estimate: stats.LeakageEstimate
    control: ControlResult
    predictions: np.ndarray | None = field(default=None, compare=False, repr=False)  # gender per target utterance
    seed_leakages: tuple[float, ...] = ()  # L per training seed, when trained with several
    # whose target utterances `predictions` are: the audit's capped corpora, or the probe's uncapped
    corpora: AuditCorpora | None = field(default=None, compare=False, repr=False)


class Readings:
    def __init__(
        self,
        attacks: Attacks,
        probe: ProbeAttack,
        controls: Controls,
        corpora: AuditCorpora,
        config: PrivacyConfig,
        budget: Budget,
    ):
        self.attacks = attacks
        self.budget = budget
        self.probe = probe
        self.controls = controls
        self.corpora = corpora
        self.config = config
        self._probe: dict[tuple[bool, str], Reading] = {}

    def of(self, case: AuditCase, seed: int) -> list[Reading]:
        """The case's readings, its own attacker first; `seed` trains that attacker."""
        scenario = SCENARIOS.get(case.scenario)
        probed = case.access == Access.ENCODER and scenario is not None and self.config.attacker.convex_probe
        family = 2 if probed else 1  # the readings the item decides on (their intervals are simultaneous)
        readings = [self._own_reading(case, seed, family)]
        if probed and scenario is not None:
            readings.append(self._probe_reading(scenario.aux_corpus, case.layer, family))
        return readings

    def _own_reading(self, case: AuditCase, seed: int, family: int) -> Reading:
        """The case's own attacker. Under encoder access it trains with the budget's number of
        seeds; the reading is then their mean, its interval spans every seed's interval and its p
        is the largest: training variance widens the uncertainty instead of hiding in it."""
        seeds = self.budget.attacker_seeds if case.access == Access.ENCODER else 1
        runs = []
        for repeat in range(seeds):
            run_seed = seed if repeat == 0 else derived_seed(seed, f"attacker seed {repeat}")
            predicted = gender_column(self.attacks.predict(case.attack, case.used_head, case.layer, run_seed))
            runs.append((estimate(self.corpora, self.config.audit, predicted, seed, family), predicted))
        control = self.controls.of(case.attack)
        if len(runs) == 1:
            return Reading(case.architecture, runs[0][0], control, runs[0][1])
        figures = [e for e, _ in runs]
        spanned = dataclasses.replace(
            figures[0],
            leakage=float(np.mean([e.leakage for e in figures])),
            ci_low=min(e.ci_low for e in figures),
            ci_high=max(e.ci_high for e in figures),
            p_value=max(e.p_value for e in figures),
            plain_accuracy=float(np.mean([e.plain_accuracy or 0.0 for e in figures])),
        )
        return Reading(case.architecture, spanned, control, runs[0][1], tuple(e.leakage for e in figures))

    def _probe_reading(self, aux: bool, layer: str, family: int) -> Reading:
        """The convex probe at `layer`, trained on the auxiliary or the target corpus (shared by every
        scenario that trains there)."""
        if (aux, layer) not in self._probe:
            predicted = self.probe.predictions(aux, layer)
            role = AUX if aux else TARGET
            seed = derived_seed(self.config.audit.seed, f"{CONVEX_PROBE}:{role}:{layer}")
            # over every utterance (the probe's corpora are uncapped), intervals over the same speakers
            figures = estimate(self.probe.corpora, self.config.audit, predicted, seed, family)
            reading = Reading(CONVEX_PROBE, figures, self.controls.of_probe(aux), predicted, corpora=self.probe.corpora)
            self._probe[aux, layer] = reading
        return self._probe[aux, layer]
