"""Signal building blocks of the synthesiser: resonators, noise band-passes, smoothing, loudness."""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

PEAK_LIMIT = 0.98
TARGET_RMS = 0.05  # neutral loudness before the speaker's and the emotion's gain


def smooth(x: np.ndarray, width: int) -> np.ndarray:
    """Two passes of a centred moving average (a triangular window): cheap ramps and crossfades."""
    from scipy.ndimage import uniform_filter1d  # on first use, as scipy.signal (data/synthetic/speech.py)

    return uniform_filter1d(uniform_filter1d(x, width, mode="constant"), width, mode="constant")


def resonator(freq: float, bandwidth: float, sample_rate: int) -> list[float]:
    """Klatt's second-order formant resonator (unit gain at 0 Hz), as one SOS row."""
    r = math.exp(-math.pi * bandwidth / sample_rate)
    c = 2 * r * math.cos(2 * math.pi * freq / sample_rate)
    return [1 - c + r * r, 0.0, 0.0, 1.0, -c, r * r]


def bandpass(freq: float, bandwidth: float, sample_rate: int) -> tuple[list[float], list[float]]:
    """Second-order band-pass (zeros at 0 Hz and Nyquist, unit gain at ``freq``): noise shaping."""
    r = math.exp(-math.pi * bandwidth / sample_rate)
    c = 2 * r * math.cos(2 * math.pi * freq / sample_rate)
    g = (1 - r * r) / 2
    return [g, 0.0, -g], [1.0, -c, r * r]


def formant_sos(formants: Iterable[float], bandwidths: Iterable[float], scale: float, sample_rate: int) -> np.ndarray:
    """Resonator cascade for one tract shape, scaled by reference/speaker VTL; none near Nyquist."""
    rows = [
        resonator(f * scale, b * scale, sample_rate)
        for f, b in zip(formants, bandwidths)
        if f * scale < 0.45 * sample_rate
    ]
    return np.array(rows)


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(x * x))) if x.size else 0.0


def seconds_to_sample(t: float, sr: int, n: int) -> int:
    return min(max(round(float(t * sr)), 0), n)  # float(): t may be a numpy scalar


def loudness(speech: np.ndarray, gain_db: float) -> np.ndarray:
    """Fixed RMS times the speaker's and the emotion's gain (energy stays an emotion cue).

    The same target for everyone, so loudness carries gender only through gender-driven traits."""
    speech = speech * (TARGET_RMS * 10.0 ** (gain_db / 20.0) / max(rms(speech), 1e-12))
    peak = float(np.max(np.abs(speech)))
    if peak > PEAK_LIMIT:
        speech *= PEAK_LIMIT / peak
    return speech.astype(np.float32)
