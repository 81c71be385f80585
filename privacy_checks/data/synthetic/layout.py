"""Corpus layout: which speaker is which, each utterance's labels, and the random streams.

Every random draw is keyed by (seed, stream, speaker index[, utterance index]), so any utterance can
be synthesised alone, and gender never influences which numbers are drawn.
"""

from __future__ import annotations

import numpy as np

from privacy_checks.data.records import GENDERS, Utterance
from privacy_checks.data.synthetic.params import SyntheticParams
from privacy_checks.data.synthetic.voices import SPONTANEITY, TRAITS, Z_CLIP, Speaker

SPEAKER_STREAM, UTTERANCE_STREAM = 0, 1  # keep speaker and utterance seeds apart


def stream_rng(*key: int) -> np.random.Generator:
    """The generator for one key; changing this scheme changes every synthetic corpus."""
    return np.random.default_rng(np.random.SeedSequence([int(k) for k in key]))


def make_speaker(params: SyntheticParams, index: int) -> Speaker:
    """Speaker ``index``: even indices are female, odd male; session k pairs speakers 2k, 2k+1."""
    gender = GENDERS[index % 2]
    # The deviations are drawn before gender is looked at, so gender cannot change them.
    z = stream_rng(params.seed, SPEAKER_STREAM, index).standard_normal(len(TRAITS))
    z = np.clip(z, -Z_CLIP, Z_CLIP)
    traits = {
        name: float(trait.value(gender, float(params.gender_effect), z[k]))
        for k, (name, trait) in enumerate(TRAITS.items())
    }
    return Speaker(
        id=f"syn{params.seed}-{gender[0].upper()}{index // 2 + 1:02d}",
        gender=gender,
        session=session_name(index),
        **traits,
    )


def session_name(speaker_index: int) -> str:
    return f"S{speaker_index // 2 + 1:02d}"


def utterance_labels(params: SyntheticParams, speaker_index: int, local: int) -> tuple[str, str]:
    """(emotion, spontaneity), cycled per speaker, offset by session: both genders get the same."""
    names = params.emotion_names
    session = speaker_index // 2
    emotion = names[(local + session) % len(names)]
    spontaneity = SPONTANEITY[(local // len(names) + session) % 2]
    return emotion, spontaneity


def utterance_record(params: SyntheticParams, speaker: Speaker, speaker_index: int, local: int) -> Utterance:
    emotion, spontaneity = utterance_labels(params, speaker_index, local)
    return Utterance(
        id=f"{speaker.id}-{local:03d}",
        speaker=speaker.id,
        gender=speaker.gender,
        emotion=emotion,
        session=speaker.session,
        spontaneity=spontaneity,
    )
