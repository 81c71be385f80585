"""The audit's corpora as its attackers see them: capped to the budget, split into speaker folds,
and what one attacker trains on (which corpus, which labels)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from privacy_checks import stats
from privacy_checks.config import AuditSettings
from privacy_checks.data import Corpus
from privacy_checks.digests import text_sha256
from privacy_checks.engine.domain import Attack
from privacy_checks.errors import PrivacyInputError
from privacy_checks.stats.inputs import speaker_table
from privacy_checks.threat_model import AttackerKind, Scenario

TARGET, AUX = "target", "aux"  # which corpus: the audited speakers, or the attacker's own (other) speakers


def cap_utterances(corpus: Corpus, per_speaker: int | None) -> Corpus:
    """The first `per_speaker` utterances of every speaker, in corpus order (the budget's cap).

    The whole corpus is checked first: a speaker listed with both genders is a usage error even
    when the cap would drop every row of one of them (issue 13)."""
    try:
        speaker_table(corpus.speakers, corpus.gender_labels)
    except PrivacyInputError as exc:
        raise PrivacyInputError(f"{corpus.name}: {exc}") from None
    if per_speaker is None:
        return corpus
    counts: dict[str, int] = {}
    kept = []
    for utterance in corpus.utterances:
        counts[utterance.speaker] = counts.get(utterance.speaker, 0) + 1
        if counts[utterance.speaker] <= per_speaker:
            kept.append(utterance)
    if len(kept) == len(corpus):
        return corpus
    return dataclasses.replace(
        corpus,
        utterances=tuple(kept),
        name=f"{corpus.name}[{per_speaker}/speaker]",
        fingerprint=text_sha256(f"{corpus.fingerprint}|cap={per_speaker}"),
    )


def speaker_folds(corpus: Corpus, settings: AuditSettings) -> np.ndarray:
    """Speaker-independent folds; leave-one-group-out where the corpus defines its folds
    (IEMOCAP's sessions, as the paper does). Fold validity is a usage error."""
    try:
        if corpus.fold_groups:
            groups = [getattr(u, corpus.fold_groups) for u in corpus.utterances]
            return stats.group_folds(groups, corpus.speakers, corpus.gender_labels)
        return stats.speaker_folds(corpus.speakers, corpus.gender_labels, settings.folds, settings.seed)
    except PrivacyInputError as exc:
        raise PrivacyInputError(f"{corpus.name}: {exc}") from None


def has_emotions(corpus: Corpus) -> bool:
    return bool(corpus.emotions) and all(u.emotion is not None for u in corpus.utterances)


def emotion_labels(corpus: Corpus) -> np.ndarray:
    return np.array([corpus.emotions.index(u.emotion) for u in corpus.utterances], dtype=np.int64)


@dataclass(frozen=True)
class TrainingData:
    """What one attacker learns from: its corpus and labels (genders, shuffled over speakers for
    the negative control; emotions too when application-aware)."""

    role: str  # TARGET or AUX
    corpus: Corpus
    genders: np.ndarray
    emotions: np.ndarray | None

    @property
    def outputs(self) -> tuple[int, ...]:
        """The attacker's output sizes: gender, and its corpus's emotions when application-aware."""
        return (2,) if self.emotions is None else (2, len(self.corpus.emotions))


class AuditCorpora:
    """The target corpus (the audited speakers) and the optional auxiliary one (other speakers),
    both capped to the budget, with the target's folds and the auxiliary attacker's training rows."""

    def __init__(self, corpus: Corpus, aux: Corpus | None, per_speaker: int | None, settings: AuditSettings):
        self.target = cap_utterances(corpus, per_speaker)
        self.aux = cap_utterances(aux, per_speaker) if aux is not None else None
        self._uncapped = (corpus, aux, settings)
        self._everything: AuditCorpora | None = None
        self.labels = self.target.gender_labels
        # Fold validity (both genders, enough speakers) is a usage error, so check it up front.
        self.folds = speaker_folds(self.target, settings)
        # The auxiliary attacker trains on k-1 of k speaker folds of its corpus, as a cross-validated
        # attacker does on the target's: scenario 1 vs worst case then compares corpora, not their sizes.
        self.aux_train_rows = np.flatnonzero(speaker_folds(self.aux, settings) != 0) if self.aux is not None else None
        if self.aux is not None and set(self.aux.speakers) & set(self.target.speakers):
            shared = sorted(set(self.aux.speakers) & set(self.target.speakers))
            raise PrivacyInputError(
                f"{self.aux.name}: the auxiliary corpus shares speakers with the target corpus "
                f"({', '.join(shared[:5])}); its attacker must never have heard the audited speakers."
            )

    @property
    def capped(self) -> bool:
        """Whether the budget's per-speaker cap left utterances out (of either corpus)."""
        corpus, aux, _ = self._uncapped
        return len(self.target) < len(corpus) or (aux is not None and self.aux is not None and len(self.aux) < len(aux))

    @property
    def everything(self) -> AuditCorpora:
        """The same corpora without the budget's cap: the convex probe reads every utterance at every
        budget (it is cheap; only the neural heads are capped). `self` when the cap leaves nothing out."""
        if not self.capped:
            return self
        if self._everything is None:
            corpus, aux, settings = self._uncapped
            self._everything = AuditCorpora(corpus, aux, None, settings)
        return self._everything

    def training_data(self, attack: Attack, scenario: Scenario, shuffle_seed: int | None = None) -> TrainingData:
        """The attack's training corpus and labels; with `shuffle_seed`, genders permuted over
        speakers by that seed (the negative control)."""
        if scenario.aux_corpus and self.aux is None:
            raise ValueError(f"{attack.key} trains on the auxiliary corpus and there is none")
        data = self.gender_data(scenario.aux_corpus, shuffle_seed)
        if attack.attacker == AttackerKind.APPLICATION_AWARE:
            data = dataclasses.replace(data, emotions=emotion_labels(data.corpus))
        return data

    def gender_data(self, aux: bool, shuffle_seed: int | None = None) -> TrainingData:
        """Genders (shuffled over speakers by `shuffle_seed`) of the auxiliary or the target corpus."""
        role, corpus = (AUX, self.aux) if aux else (TARGET, self.target)
        if corpus is None:
            raise ValueError("an attacker trains on the auxiliary corpus and there is none")
        genders = corpus.gender_labels if shuffle_seed is None else corpus.shuffled_gender_labels(shuffle_seed)
        return TrainingData(role, corpus, genders, None)
