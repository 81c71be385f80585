"""The controls of an attack, on T's input features (docs/design.md §3): the positive control shows the
attacker can find gender where it certainly is (else a pass proves nothing); the negative control
trains it with the speaker->gender mapping shuffled, where it must stay at chance. The convex
probe's controls read a reference representation instead (log-mel statistics of the same audio):
T's input may be raw samples, where no probe can see gender.

Both are memoised per attack: every layer of one attack shares them (and every pytest-xdist worker
of the run: Attacks.predict, engine/shared_results.py). Seeds: one per attack,
derived from the audit seed and the attack's key; the negative control shuffles the genders with
that same seed on either access path."""

from __future__ import annotations

from privacy_checks import progress
from privacy_checks.attackers.names import LINEAR_PROBE, TAIL_CLONE
from privacy_checks.config import PrivacyConfig
from privacy_checks.engine.attacks import Attacks
from privacy_checks.engine.corpora import AuditCorpora, emotion_labels
from privacy_checks.engine.domain import Attack
from privacy_checks.engine.estimates import estimate, gender_column
from privacy_checks.engine.probe_attack import CONVEX_PROBE, ProbeAttack
from privacy_checks.engine.representations import INPUT_LAYER
from privacy_checks.engine.results import ControlResult
from privacy_checks.model.target import Target
from privacy_checks.seeds import derived_seed
from privacy_checks.threat_model import Access, Budget


def control_seed(audit_seed: int, attack: Attack) -> int:
    return derived_seed(audit_seed, "control:" + attack.key)


class Controls:
    def __init__(
        self,
        attacks: Attacks,
        probe: ProbeAttack,
        target: Target,
        corpora: AuditCorpora,
        budget: Budget,
        config: PrivacyConfig,
    ):
        self.attacks = attacks
        self.probe = probe
        self.target = target
        self.corpora = corpora
        self.budget = budget
        self.config = config
        self._by_attack: dict[Attack, ControlResult] = {}
        self._probe: dict[bool, ControlResult] = {}

    def of(self, attack: Attack) -> ControlResult:
        if attack not in self._by_attack:
            with progress.step("controls"):
                self._by_attack[attack] = self._measure(attack)
        return self._by_attack[attack]

    def of_probe(self, aux: bool) -> ControlResult:
        """The convex probe's controls on the reference representation (log-mel statistics of the
        audio), trained on the auxiliary corpus or the target's folds as the probe itself is."""
        if aux not in self._probe:
            with progress.step("convex probe controls"):
                seed = derived_seed(self.config.audit.seed, f"control:{CONVEX_PROBE}:{aux}")
                predicted = self.probe.predictions(aux, None)
                negative = None
                corpora = self.probe.corpora  # every utterance, as the probe itself reads
                if self.budget.negative_control:
                    shuffled = self.probe.predictions(aux, None, seed)
                    negative = estimate(corpora, self.config.audit, shuffled, seed)
                positive = estimate(corpora, self.config.audit, predicted, seed)
                min_excess = self.config.controls.positive_min_excess
                self._probe[aux] = ControlResult(CONVEX_PROBE, positive, negative, None, min_excess)
        return self._probe[aux]

    def _measure(self, attack: Attack) -> ControlResult:
        seed = control_seed(self.config.audit.seed, attack)
        head = attack.head
        if attack.access == Access.ENCODER and head == TAIL_CLONE and self.target.tail_from(INPUT_LAYER) is None:
            head = LINEAR_PROBE  # T cannot rebuild itself from the input
        predicted = self.attacks.predict(attack, head, INPUT_LAYER, seed)
        emotion_accuracy = None
        if predicted.ndim == 2:
            emotion_accuracy = float((predicted[:, 1] == emotion_labels(self.corpora.target)).mean())
        settings = self.config.audit
        negative = None
        if self.budget.negative_control:
            shuffled = self.attacks.predict(attack, head, INPUT_LAYER, seed, shuffle_seed=seed)
            negative = estimate(self.corpora, settings, gender_column(shuffled), seed)
        return ControlResult(
            head,
            estimate(self.corpora, settings, gender_column(predicted), seed),
            negative,
            emotion_accuracy,
            self.config.controls.positive_min_excess,
        )
