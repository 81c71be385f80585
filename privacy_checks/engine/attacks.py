"""An attack's gender predictions at one layer, whichever way the attacker reaches h_T: the
training data is chosen once here, then encoder or intercept access trains and predicts."""

from __future__ import annotations

import numpy as np

from privacy_checks.engine.corpora import AuditCorpora
from privacy_checks.engine.domain import Attack
from privacy_checks.engine.encoder_attack import EncoderAttack
from privacy_checks.engine.intercept_attack import InterceptAttack
from privacy_checks.engine.shared_results import SharedArrays
from privacy_checks.seeds import derived_seed
from privacy_checks.threat_model import Access, Scenario


class Attacks:
    def __init__(
        self,
        scenarios: dict[str, Scenario],
        corpora: AuditCorpora,
        encoder: EncoderAttack,
        intercept: InterceptAttack,
        audit_seed: int,
        shared: SharedArrays | None = None,
    ):
        self.shared = shared or SharedArrays(None)
        self.scenarios = scenarios  # shared with the orchestrator, which adds custom attackers to it
        self.corpora = corpora
        self.encoder = encoder
        self.intercept = intercept
        self.audit_seed = audit_seed

    def predict(self, attack: Attack, head: str, layer: str, seed: int, shuffle_seed: int | None = None) -> np.ndarray:
        """Gender prediction per target utterance (an (N, 2) array with the emotion prediction when
        an application-aware attacker is cross-validated on the target corpus).

        `head` reads the layer under encoder access (the planned head or its stand-in); `seed`
        trains it. Intercept access trains one model per fold for all layers of the attack, so it
        uses the attack's own seed instead and always its planned head. With `shuffle_seed` the
        attacker learns genders permuted over speakers by that seed (the negative control).

        Under pytest-xdist one worker computes each and the others read it (shared_results.py): an
        attack's controls serve all its layers, and a failing item's safe-split search reads the
        later layers' predictions, which their own items compute."""
        key = f"{attack.key}:{head}:{layer}:{seed}:{shuffle_seed}"
        return self.shared.get(key, lambda: self._predict(attack, head, layer, seed, shuffle_seed))

    def _predict(self, attack: Attack, head: str, layer: str, seed: int, shuffle_seed: int | None) -> np.ndarray:
        data = self.corpora.training_data(attack, self.scenarios[attack.scenario], shuffle_seed)
        if attack.access == Access.INTERCEPT:
            label = "intercept:" + attack.key + ("/shuffled" if shuffle_seed is not None else "")
            return self.intercept.predictions(attack, data, layer, derived_seed(self.audit_seed, label))
        return self.encoder.predictions(data, head, layer, seed)
