"""SyntheticParams: the settings of a synthetic corpus, validated, and parsed from a spec's options."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np

from privacy_checks.errors import PrivacyInputError
from privacy_checks.validation import did_you_mean

EMOTION_SETS = {
    4: ("neutral", "happy", "angry", "sad"),  # as IEMOCAP is usually used
    8: ("neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised"),  # RAVDESS
}


@dataclass(frozen=True)
class SyntheticParams:
    speakers: int = 20  # total, half female half male; even, >= 2
    utterances: int = 20  # per speaker; >= 1
    gender_effect: float = 1.0  # 0: gender leaves no trace in the audio; 1: realistic
    seed: int = 0
    emotions: int = 4  # 4 (IEMOCAP-like) or 8 (RAVDESS-like)
    duration: float = 2.0  # seconds per utterance (every utterance has exactly this length)
    sample_rate: int = 16000

    def __post_init__(self) -> None:
        # Coerce to plain int/float so equal settings give one name and one fingerprint.
        for name in ("speakers", "utterances", "seed", "emotions", "sample_rate"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool):
                raise PrivacyInputError(f"synthetic: {name}={value!r} must be an integer")
            object.__setattr__(self, name, int(value))
        for name in ("gender_effect", "duration"):
            value = getattr(self, name)
            number = isinstance(value, (int, float, np.number)) and not isinstance(value, bool)
            if not number or not math.isfinite(value):
                raise PrivacyInputError(f"synthetic: {name}={value!r} must be a finite number")
            object.__setattr__(self, name, float(value))
        problems = self._problems()
        if problems:
            raise PrivacyInputError("synthetic: " + "; ".join(problems))

    def _problems(self) -> list[str]:
        problems = []
        if self.speakers < 2 or self.speakers % 2:
            problems.append(
                f"speakers={self.speakers} must be an even number >= 2 (the corpus is half "
                f"female, half male); use e.g. speakers={max(2, self.speakers + self.speakers % 2)}"
            )
        if self.utterances < 1:
            problems.append(f"utterances={self.utterances} must be >= 1 (per speaker)")
        if not 0.0 <= self.gender_effect <= 1.0:
            problems.append(f"gender_effect={self.gender_effect} must be between 0 and 1")
        if self.seed < 0:
            problems.append(f"seed={self.seed} must be >= 0")
        if self.emotions not in EMOTION_SETS:
            problems.append(f"emotions={self.emotions} must be 4 or 8")
        if not 0.5 <= self.duration <= 30.0:
            problems.append(f"duration={self.duration} must be between 0.5 and 30 (seconds)")
        if not 8000 <= self.sample_rate <= 48000:
            problems.append(f"sample_rate={self.sample_rate} must be between 8000 and 48000 (Hz)")
        return problems

    @classmethod
    def from_options(cls, options: Mapping[str, str], origin: str = "--privacy-data") -> SyntheticParams:
        """Parse the ``key=value`` options of a ``synthetic:...`` spec (all values strings).

        ``origin`` names where the options came from, for the error message.
        """
        defaults = asdict(cls())  # the field defaults, in field order
        unknown = [key for key in options if key not in defaults]
        if unknown:
            raise PrivacyInputError(
                f"{origin} synthetic: unknown key {unknown[0]!r}; valid keys: {', '.join(defaults)}"
                f"{did_you_mean(unknown[0], defaults)}"
            )
        values: dict[str, Any] = {}
        for key, text in options.items():
            kind = type(defaults[key])
            try:
                values[key] = kind(str(text).strip())
            except ValueError:
                what = "an integer" if kind is int else "a number"
                raise PrivacyInputError(
                    f"{origin} synthetic: {key}={text!r} is not {what}; write e.g. {key}={defaults[key]}"
                ) from None
        try:
            return cls(**values)
        except PrivacyInputError as error:
            raise PrivacyInputError(f"{origin} {error}") from None

    @property
    def emotion_names(self) -> tuple[str, ...]:
        return EMOTION_SETS[self.emotions]

    @property
    def n_samples(self) -> int:
        return round(self.duration * self.sample_rate)

    def canonical(self) -> str:
        return ",".join(f"{f.name}={getattr(self, f.name)!r}" for f in fields(self))
