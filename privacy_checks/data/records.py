"""Utterance records and the corpus object every loader returns."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from privacy_checks.errors import PrivacyInputError

GENDERS = ("female", "male")  # label 0, label 1: the one place gender is coded


def gender_code(gender: str) -> int:
    return GENDERS.index(gender)


@dataclass(frozen=True)
class Utterance:
    id: str
    speaker: str
    gender: str  # one of GENDERS
    emotion: str | None = None
    session: str | None = None
    spontaneity: str | None = None  # "improvised" | "scripted"
    path: str | None = None  # audio file; None for generated audio

    def audio_file(self) -> Path:
        """The audio file of an utterance read from disk (``path``); generated audio has none."""
        if self.path is None:
            raise PrivacyInputError(f"utterance {self.id!r} has no audio file; read it from the corpus it came from")
        return Path(self.path)


@dataclass(frozen=True)
class Corpus:
    """A labelled speech corpus.

    ``fingerprint`` changes whenever the audio or the labels could change, so it keys the
    embedding cache. ``read_audio(utterance, sample_rate)`` returns mono float32 audio at the
    requested rate and raises PrivacyInputError for unreadable, empty or silent audio.
    ``fold_groups`` names the Utterance attribute whose values are the cross-validation folds
    ("session" for IEMOCAP, as in the paper); None means speaker-independent folds.
    """

    name: str
    utterances: tuple[Utterance, ...]
    fingerprint: str
    read_audio: Callable[[Utterance, int], np.ndarray] = field(repr=False, compare=False)
    emotions: tuple[str, ...] = ()
    fold_groups: str | None = None

    def __len__(self) -> int:
        return len(self.utterances)

    @property
    def speakers(self) -> list[str]:
        return [u.speaker for u in self.utterances]

    @property
    def gender_labels(self) -> np.ndarray:
        return np.array([gender_code(u.gender) for u in self.utterances], dtype=np.int64)

    def speaker_count(self, gender: str | None = None) -> int:
        """Distinct speakers, or those of one gender."""
        return len({u.speaker for u in self.utterances if gender is None or u.gender == gender})

    def shuffled_gender_labels(self, seed: int) -> np.ndarray:
        """Gender labels after permuting the speaker->gender mapping (the negative control: the
        same speakers and class balance, no true link between voice and label)."""
        speakers = sorted(set(self.speakers))
        gender_of = {u.speaker: u.gender for u in self.utterances}
        permuted = np.random.default_rng(seed).permutation([gender_of[s] for s in speakers])
        mapping = dict(zip(speakers, permuted))
        return np.array([gender_code(mapping[u.speaker]) for u in self.utterances], dtype=np.int64)
