"""Kind ``custom``: a user's ``module:callable``, called as ``f(waveforms, sample_rate)`` with a
float32 (B, samples) array, returning a (B, ...) array of one fixed per-example shape."""

from __future__ import annotations

import functools
import importlib
from typing import TYPE_CHECKING

import numpy as np

from privacy_checks.errors import PrivacyInputError

if TYPE_CHECKING:  # spec.py imports this module when it validates a custom kind
    from privacy_checks.features.spec import FeatureSpec


@functools.lru_cache(maxsize=8)
def custom_shape(spec: FeatureSpec) -> tuple[int, ...]:
    """One example's feature shape, from a call on a single silent clip (memoised per spec)."""
    return tuple(custom_features(spec, np.zeros((1, spec.n_samples), dtype=np.float32)).shape[1:])


def custom_features(spec: FeatureSpec, waveforms: np.ndarray) -> np.ndarray:
    """A user's `module:callable` feature function, checked for a batch-shaped numeric array."""
    module_name, _, attr = (spec.function or "").partition(":")
    try:
        function = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError, ValueError) as exc:
        raise PrivacyInputError(
            f"input function {spec.function!r} cannot be imported: {exc}. Is its module on sys.path "
            "(run pytest from your project root)?"
        ) from None
    out = np.asarray(function(waveforms, spec.sample_rate))
    if out.ndim < 2 or out.shape[0] != len(waveforms) or not np.issubdtype(out.dtype, np.number):
        raise PrivacyInputError(
            f"input function {spec.function!r} returned an array of shape {out.shape} for {len(waveforms)} "
            "waveforms; it must return a numeric (B, ...) array, one row per waveform."
        )
    return out
