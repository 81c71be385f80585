"""Audio file I/O: read with soundfile, downmix to mono, resample, reject empty or silent clips."""

from __future__ import annotations

from collections.abc import Iterable
from math import gcd
from pathlib import Path

import numpy as np

from privacy_checks.data.audio_files import regular_file
from privacy_checks.data.records import Corpus, Utterance
from privacy_checks.errors import PrivacyInputError

# Below this peak amplitude a clip carries no usable signal (16-bit dither is ~3e-5).
SILENCE_PEAK = 1e-4


def resample(audio: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    if rate_in == rate_out:
        return audio.astype(np.float32, copy=False)
    from scipy.signal import resample_poly

    g = gcd(rate_in, rate_out)
    return resample_poly(audio, rate_out // g, rate_in // g).astype(np.float32)


def read_audio_file(path: Path, sample_rate: int, where: str = "") -> np.ndarray:
    """Mono float32 audio at `sample_rate`; PrivacyInputError naming the file on any problem."""
    import soundfile

    label = f"{where}: " if where else ""
    status = regular_file(Path(path))  # before opening: a FIFO would block the reader
    if isinstance(status, str):
        raise PrivacyInputError(
            f"{label}cannot read audio file {path}: it is {status}. Restore the file or remove it from the corpus."
        )
    try:
        data, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except Exception as exc:  # soundfile raises several types for unreadable files
        raise PrivacyInputError(
            f"{label}cannot read audio file {path}: {exc}. Convert it to WAV/FLAC or remove it from the corpus."
        ) from None
    if data.shape[0] == 0:
        raise PrivacyInputError(f"{label}audio file {path} is empty (0 samples); remove it from the corpus.")
    mono = data.mean(axis=1)
    if not np.all(np.isfinite(mono)) or float(np.max(np.abs(mono))) < SILENCE_PEAK:
        raise PrivacyInputError(
            f"{label}audio file {path} is silent or not finite (peak below {SILENCE_PEAK:g}); "
            "remove it from the corpus."
        )
    return resample(mono, int(rate), sample_rate)


def audio_file_corpus(
    name: str,
    utterances: Iterable[Utterance],
    fingerprint: str,
    emotions: tuple[str, ...] = (),
    fold_groups: str | None = None,
) -> Corpus:
    """A Corpus whose utterances are audio files (``Utterance.path``), read with read_audio_file;
    errors name the corpus and the utterance."""
    return Corpus(
        name=name,
        utterances=tuple(utterances),
        fingerprint=fingerprint,
        read_audio=lambda utt, rate: read_audio_file(utt.audio_file(), rate, where=f"{name} ({utt.id})"),
        emotions=tuple(emotions),
        fold_groups=fold_groups,
    )
