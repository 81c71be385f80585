"""The synthetic corpus: its name, its fingerprint, and audio synthesised on demand."""

from __future__ import annotations

import math
from dataclasses import asdict
from typing import Any

import numpy as np

from privacy_checks.data.records import Corpus, Utterance
from privacy_checks.data.synthetic.layout import make_speaker, utterance_record
from privacy_checks.data.synthetic.params import SyntheticParams
from privacy_checks.data.synthetic.speech import synthesize_utterance
from privacy_checks.digests import text_sha256
from privacy_checks.errors import PrivacyInputError

SYNTH_VERSION = 1  # bump whenever the synthesiser's output changes: it is part of the fingerprint


def speaker_traits(params: SyntheticParams) -> list[dict[str, Any]]:
    """Each speaker's id, gender, session and voice parameters, in corpus order."""
    return [asdict(make_speaker(params, i)) for i in range(params.speakers)]


def corpus_name(params: SyntheticParams) -> str:
    shown = ["speakers", "utterances", "gender_effect", "seed", "emotions"]
    defaults = SyntheticParams()
    shown += [k for k in ("duration", "sample_rate") if getattr(params, k) != getattr(defaults, k)]
    return "synthetic(" + ",".join(f"{k}={getattr(params, k)}" for k in shown) + ")"


def make_synthetic_corpus(params: SyntheticParams) -> Corpus:
    speakers = [make_speaker(params, i) for i in range(params.speakers)]
    utterances = tuple(
        utterance_record(params, speaker, i, local)
        for i, speaker in enumerate(speakers)
        for local in range(params.utterances)
    )
    index_of = {u.id: k for k, u in enumerate(utterances)}

    def read_audio(utterance: Utterance, sample_rate: int) -> np.ndarray:
        if utterance.id not in index_of:
            raise PrivacyInputError(
                f"utterance {utterance.id!r} is not in {corpus_name(params)}; read it from the corpus it came from"
            )
        if int(sample_rate) != sample_rate or sample_rate < 1:
            raise PrivacyInputError(f"sample_rate={sample_rate!r} must be a positive integer (Hz)")
        audio = synthesize_utterance(params, index_of[utterance.id])
        if sample_rate == params.sample_rate:
            return audio
        from scipy.signal import resample_poly  # on first use: scipy.signal takes a second to import

        g = math.gcd(int(sample_rate), params.sample_rate)
        resampled = resample_poly(audio, int(sample_rate) // g, params.sample_rate // g)
        return np.clip(resampled, -1.0, 1.0).astype(np.float32)  # filter ringing may overshoot

    return Corpus(
        name=corpus_name(params),
        utterances=utterances,
        fingerprint=text_sha256(f"synthetic|v{SYNTH_VERSION}|{params.canonical()}"),
        read_audio=read_audio,
        emotions=params.emotion_names,
    )
