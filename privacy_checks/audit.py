"""The audit engine, free of pytest: target x corpus x config -> one result per audit case.

The pytest layer (plugin.py, items.py) only asks this object for cases and results, so the same
engine serves the CLI and users' own scripts.
"""

from __future__ import annotations

import fnmatch
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from . import stats
from .attackers import build_head, cross_validated_predictions
from .config import PrivacyConfig
from .corpora import Corpus
from .embeddings import EmbeddingStore, layer_outputs
from .errors import PrivacyInputError
from .scenarios import AuditCase, plan_cases
from .target import Target


@dataclass(frozen=True)
class CaseResult:
    case: AuditCase
    estimate: stats.LeakageEstimate
    decision: stats.Decision
    limit_key: str

    @property
    def status(self) -> str:
        return self.decision.status

    def as_dict(self) -> dict[str, Any]:
        e = self.estimate
        return {
            "id": self.case.name,
            "scenario": self.case.scenario,
            "attacker": self.case.attacker,
            "access": self.case.access,
            "architecture": self.case.architecture,
            "layer": self.case.layer,
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
            "max_excess": self.decision.max_excess,
            "rule": self.decision.rule,
            "limit_key": self.limit_key,
            "status": self.status,
        }


def derived_seed(seed: int, label: str) -> int:
    """A per-case seed: independent streams per case, the same whatever runs before it."""
    digest = hashlib.sha256(f"{seed}:{label}".encode()).digest()
    return int.from_bytes(digest[:4], "little")


class Audit:
    def __init__(
        self,
        target: Target,
        corpus: Corpus,
        config: PrivacyConfig,
        cache_dir: Path,
        *,
        device: str = "cpu",
        progress: Callable[[str, int, int], None] | None = None,
    ):
        self.target = target
        self.corpus = corpus
        self.config = config
        self.store = EmbeddingStore(cache_dir)
        self.device = device
        self.progress = progress
        self.labels = corpus.gender_labels
        # Fold validity (both genders, enough speakers) is a usage error, so check it up front.
        try:
            self.folds = stats.speaker_folds(corpus.speakers, self.labels, config.audit.folds, config.audit.seed)
        except PrivacyInputError as exc:
            raise PrivacyInputError(f"{corpus.name}: {exc}") from None
        self.layers = self._select_layers()
        has_tail = {layer: target.tail_from(layer) is not None for layer in self.layers}
        self.cases = plan_cases(self.layers, has_tail)
        self._results: dict[AuditCase, CaseResult] = {}
        self._outputs: dict[str, np.ndarray] | None = None

    def _select_layers(self) -> list[str]:
        candidates = self.target.candidate_layers()
        patterns = self.config.audit.layers
        if not patterns:
            return candidates
        for pattern in patterns:
            if not any(fnmatch.fnmatchcase(layer, pattern) for layer in candidates):
                raise PrivacyInputError(
                    f"audit.layers: {pattern!r} matches no candidate layer of {self.target.path.name}; "
                    f"candidates: {', '.join(candidates)}"
                )
        return [layer for layer in candidates if any(fnmatch.fnmatchcase(layer, p) for p in patterns)]

    def prepare(self) -> None:
        """All layers from one forward pass over the corpus (or the disk cache)."""
        if self._outputs is None:
            report = (lambda done, total: self.progress("forward pass", done, total)) if self.progress else None
            self._outputs = layer_outputs(
                self.target, self.corpus, self.layers, self.store,
                batch_size=self.config.audit.batch_size, device=self.device, progress=report,
            )

    def result(self, case: AuditCase) -> CaseResult:
        if case not in self._results:
            self._results[case] = self._run(case)
        return self._results[case]

    def _run(self, case: AuditCase) -> CaseResult:
        self.prepare()
        assert self._outputs is not None
        representations = self._outputs[case.layer]
        shape = tuple(representations.shape[1:])
        seed = derived_seed(self.config.audit.seed, case.name)
        predictions = cross_validated_predictions(
            lambda: build_head(case.architecture, shape, lambda: self.target.tail_from(case.layer)),
            representations, self.labels, self.folds, self.config.attacker, seed, self.device,
        )
        audit = self.config.audit
        estimate = stats.estimate_leakage(
            self.labels, predictions, self.corpus.speakers, self.folds, seed=seed,
            n_bootstrap=audit.bootstrap, n_permutations=audit.permutations, confidence=audit.confidence,
        )
        max_excess, key = self.config.limits.for_layer(case.layer)
        return CaseResult(case, estimate, stats.decide(estimate, max_excess, self.config.limits.rule), key)

    def results(self) -> list[CaseResult]:
        """Results computed so far, in case order."""
        return [self._results[c] for c in self.cases if c in self._results]

    def safe_split(self, case: AuditCase, among: set[AuditCase] | None = None, computed_only: bool = False) -> str | None:
        """The earliest layer from which every later layer passes for this scenario and attacker:
        the split point to move to. Only cases in `among` are considered (default: all), so a run
        narrowed with -k trains no attacker it was not asked for; with `computed_only` nothing new
        is trained and a layer not yet measured ends the search (its safety is unknown)."""
        siblings = [c for c in self.cases if (c.scenario, c.attacker, c.access) == (case.scenario, case.attacker, case.access)
                    and (among is None or c in among)]
        earliest = None
        for sibling in reversed(siblings):
            if computed_only and sibling not in self._results:
                break
            if self.result(sibling).status != "passed":
                break
            earliest = sibling.layer
        return earliest

    def describe_corpus(self) -> dict[str, Any]:
        return {
            "name": self.corpus.name,
            "fingerprint": self.corpus.fingerprint,
            "utterances": len(self.corpus),
            "speakers": len(set(self.corpus.speakers)),
            "female_speakers": len({u.speaker for u in self.corpus.utterances if u.gender == "female"}),
            "male_speakers": len({u.speaker for u in self.corpus.utterances if u.gender == "male"}),
            "folds": int(self.folds.max()) + 1,
        }
