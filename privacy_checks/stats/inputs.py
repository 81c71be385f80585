"""Input checks shared by the measurement protocol: label arrays, lengths, the speaker table.

A speaker is the unit of the protocol (see ``privacy_checks.stats``), so every entry point checks
that each speaker has one gender and, where an attacker must learn, that both genders are present.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from privacy_checks.data.records import GENDERS
from privacy_checks.errors import PrivacyInputError


def as_labels(values: Sequence[int] | np.ndarray, what: str = "labels") -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 1 or not np.isin(array, (0, 1)).all():
        raise ValueError(f"{what} must be a 1-d sequence of 0 (female) / 1 (male)")
    return array.astype(np.int64)


def check_lengths(**arrays: Sequence | np.ndarray) -> None:
    lengths = {name: len(array) for name, array in arrays.items()}
    if len(set(lengths.values())) != 1:
        raise ValueError(f"lengths differ: {lengths}")
    if not next(iter(lengths.values())):
        raise ValueError("no utterances to evaluate")


def speaker_table(speakers, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(speaker names sorted, speaker index per utterance, gender per speaker)."""
    names, inverse = np.unique(np.asarray(speakers, dtype=str), return_inverse=True)
    sizes = np.bincount(inverse, minlength=len(names))
    males = np.bincount(inverse, weights=labels, minlength=len(names))
    mixed = np.flatnonzero((males > 0) & (males < sizes))
    if mixed.size:
        raise PrivacyInputError(
            f"speaker '{names[mixed[0]]}' has utterances labelled both female and male: a speaker"
            " needs one gender; fix the gender labels of that speaker in the corpus"
        )
    return names, inverse, (males > 0).astype(np.int64)


def require_both_genders(genders: np.ndarray) -> None:
    present = np.unique(genders)
    if present.size < 2:
        only, missing = GENDERS[present[0]], GENDERS[1 - present[0]]
        raise PrivacyInputError(
            f"the corpus has only {only} speakers ({genders.size} of them): the attacker needs both"
            f" genders to learn from; add {missing} speakers"
        )
