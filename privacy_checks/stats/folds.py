"""Cross-validation folds over speakers (docs/design.md §3): stratified speaker k-fold and
leave-one-group-out, with the checks that every training split holds both genders."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from privacy_checks.data.records import GENDERS
from privacy_checks.errors import PrivacyInputError
from privacy_checks.seeds import Seed
from privacy_checks.stats.inputs import as_labels, check_lengths, require_both_genders, speaker_table


def speaker_folds(speakers: Sequence[str], labels: Sequence[int] | np.ndarray, k: int, seed: Seed) -> np.ndarray:
    """Fold index (0..k-1) per utterance: group k-fold over speakers, stratified by gender.

    Speakers of each gender are shuffled and dealt round-robin; the deal continues from one
    gender to the next, so every fold's speaker count differs by at most 1, per gender and overall.
    """
    labels = as_labels(labels)
    check_lengths(speakers=speakers, labels=labels)
    if k < 2:
        raise PrivacyInputError(
            f"folds={k}: held-out evaluation needs at least 2 folds; set `audit.folds` in thresholds.yaml to 2 or more"
        )
    names, inverse, genders = speaker_table(speakers, labels)
    require_both_genders(genders)
    _require_two_per_gender(names, genders)
    if names.size < k:
        raise PrivacyInputError(
            f"corpus has {names.size} speakers but folds={k}: lower `audit.folds` in thresholds.yaml or add speakers"
        )
    rng = np.random.default_rng(seed)
    dealt = np.concatenate([rng.permutation(np.flatnonzero(genders == g)) for g in (0, 1)])
    fold_of_speaker = np.empty(names.size, dtype=np.int64)
    fold_of_speaker[dealt] = np.arange(dealt.size) % k
    return fold_of_speaker[inverse]


def group_folds(groups: Sequence[str], speakers: Sequence[str], labels: Sequence[int] | np.ndarray) -> np.ndarray:
    """Leave-one-group-out (IEMOCAP sessions): fold i holds the i-th distinct group, sorted."""
    group_of = np.asarray(groups, dtype=str)
    labels = as_labels(labels)
    check_lengths(groups=group_of, speakers=speakers, labels=labels)
    names, inverse, genders = speaker_table(speakers, labels)
    require_both_genders(genders)
    group_names, folds = np.unique(group_of, return_inverse=True)
    if group_names.size < 2:
        raise PrivacyInputError(
            f"the corpus has one group ('{group_names[0]}'): leave-one-group-out needs at least"
            " 2; add groups or use speaker folds"
        )
    _require_one_group_per_speaker(names, inverse, group_names, folds)
    _require_both_genders_in_training(group_names, folds, genders[inverse])
    return folds.astype(np.int64)


def _require_one_group_per_speaker(names, inverse, group_names, folds) -> None:
    # A speaker in two groups would be trained on and tested on: not speaker-independent.
    pairs = np.unique(np.stack([inverse, folds]), axis=1)
    speaker_index, counts = np.unique(pairs[0], return_counts=True)
    split = speaker_index[counts > 1]
    if split.size:
        speaker = split[0]
        where = ", ".join(f"'{g}'" for g in group_names[pairs[1][pairs[0] == speaker]])
        raise PrivacyInputError(
            f"speaker '{names[speaker]}' appears in groups {where}: leave-one-group-out needs"
            " each speaker in one group; fix the session labels or use speaker folds"
        )


def _require_both_genders_in_training(group_names, folds, utterance_genders) -> None:
    # present[g, gender]: group g has utterances of that gender
    present = np.zeros((group_names.size, 2), dtype=bool)
    present[folds, utterance_genders] = True
    elsewhere = present.sum(axis=0) - present  # groups other than g holding each gender
    missing = np.argwhere(elsewhere == 0)
    if missing.size:
        held_out, gender = missing[0]
        raise PrivacyInputError(
            f"holding out group '{group_names[held_out]}' leaves no {GENDERS[gender]}"
            " speakers to train on: every training split needs both genders; add"
            f" {GENDERS[gender]} speakers to other groups or use speaker folds"
        )


def _require_two_per_gender(names: np.ndarray, genders: np.ndarray) -> None:
    # With one speaker of a gender, the fold holding that speaker trains without the gender.
    for gender, gender_name in enumerate(GENDERS):
        members = names[genders == gender]
        if members.size < 2:
            raise PrivacyInputError(
                f"the corpus has {members.size} {gender_name} speaker ({', '.join(members)}):"
                f" every training split needs both genders, so at least 2 speakers of each;"
                f" add {gender_name} speakers"
            )
