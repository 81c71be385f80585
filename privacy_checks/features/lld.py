"""The Interspeech 2009 low-level descriptors through opensmile (the paper's LSTM input, §3.2):
RMS energy, MFCC 1-12, zero-crossing rate, voicing probability, F0, then the deltas of the same 16
in the same order: 32 values per 25 ms frame, every 10 ms."""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from privacy_checks.errors import PrivacyInputError
from privacy_checks.features.spec import LLD_DIMS, LLD_STEP_S, FeatureSpec


@functools.lru_cache(maxsize=1)
def is09_extractors() -> tuple[Any, ...]:
    """opensmile's IS09 LLDs and their deltas (two feature levels of one config); built once."""
    try:
        import opensmile
    except ImportError:
        raise PrivacyInputError(
            "input kind lld needs opensmile: pip install opensmile (it ships its own binary)"
        ) from None
    levels = (opensmile.FeatureLevel.LowLevelDescriptors, opensmile.FeatureLevel.LowLevelDescriptors_Deltas)
    return tuple(opensmile.Smile(feature_set=opensmile.FeatureSet.IS09, feature_level=level) for level in levels)


def lld_frames(wave: np.ndarray, spec: FeatureSpec) -> np.ndarray:
    """(frames, 32) IS09 LLDs then their deltas, cropped or zero-padded to spec.n_frames."""
    out = np.zeros((spec.n_frames, LLD_DIMS), dtype=np.float32)
    for column, smile in zip((0, LLD_DIMS // 2), is09_extractors()):
        frames = smile.process_signal(wave, spec.sample_rate)
        # The two levels flush different numbers of end frames (some repeat a start time), so rows
        # are placed by their start time on the 10 ms grid; the first row of a start time wins.
        starts = frames.index.get_level_values("start").total_seconds().to_numpy()
        index = np.round(starts / LLD_STEP_S).astype(np.int64)
        keep = np.flatnonzero((np.r_[True, index[1:] != index[:-1]]) & (index < spec.n_frames))
        out[index[keep], column : column + LLD_DIMS // 2] = frames.to_numpy(dtype=np.float32)[keep]
    return out
