"""The measurement protocol (docs/design.md §3): folds, leakage, interval, p-value, decision."""

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from privacy_checks.errors import PrivacyInputError
from privacy_checks.stats import (
    DECISION_RULES,
    LeakageEstimate,
    decide,
    estimate_leakage,
    group_folds,
    majority_chance,
    speaker_bootstrap_ci,
    speaker_folds,
    speaker_permutation_p_value,
)

PROPERTY = settings(max_examples=40, deadline=None)


@st.composite
def corpora(draw, min_per_gender=2, max_per_gender=12):
    """(speakers, labels) per utterance, utterances of different speakers interleaved."""
    n_female = draw(st.integers(min_per_gender, max_per_gender))
    n_male = draw(st.integers(min_per_gender, max_per_gender))
    sizes = draw(st.lists(st.integers(1, 4), min_size=n_female + n_male, max_size=n_female + n_male))
    speakers, labels = [], []
    for index, size in enumerate(sizes):
        gender = int(index >= n_female)
        speakers += [f"{'fm'[gender]}{index}"] * size
        labels += [gender] * size
    order = draw(st.permutations(range(len(speakers))))
    return [speakers[i] for i in order], np.array(labels)[order]


@st.composite
def folded_corpora(draw):
    speakers, labels = draw(corpora())
    k = draw(st.integers(2, min(8, len(set(speakers)))))
    seed = draw(st.integers(0, 2**32 - 1))
    return speakers, labels, k, speaker_folds(speakers, labels, k, seed)


def simulate(rng, per_gender, utterances=(5, 30), accuracy=None):
    """Speakers with random utterance counts; each speaker's predictions are right with
    probability ``accuracy`` (a per-speaker draw from U(0.5, 1) when None)."""
    genders = np.repeat([0, 1], per_gender)
    sizes = rng.integers(*utterances, size=genders.size)
    speaker_index = np.repeat(np.arange(genders.size), sizes)
    labels = genders[speaker_index]
    p_right = rng.uniform(0.5, 1, genders.size) if accuracy is None else np.full(genders.size, accuracy)
    right = rng.random(labels.size) < p_right[speaker_index]
    predictions = np.where(right, labels, 1 - labels)
    return [f"s{i}" for i in speaker_index], labels, predictions


# --- folds --------------------------------------------------------------------------------------


@PROPERTY
@given(folded_corpora())
def test_a_speaker_never_spans_two_folds(case):
    speakers, _, _, folds = case
    folds_of = {}
    for speaker, fold in zip(speakers, folds):
        folds_of.setdefault(speaker, set()).add(fold)
    assert all(len(f) == 1 for f in folds_of.values())


@PROPERTY
@given(folded_corpora())
def test_folds_are_balanced_in_speakers_overall_and_per_gender(case):
    speakers, labels, k, folds = case
    speaker_fold = dict(zip(speakers, folds))
    speaker_gender = dict(zip(speakers, labels))
    for genders in ({0}, {1}, {0, 1}):
        counts = np.bincount([f for s, f in speaker_fold.items() if speaker_gender[s] in genders], minlength=k)
        assert counts.max() - counts.min() <= 1
    assert set(folds) == set(range(k))


@PROPERTY
@given(folded_corpora())
def test_every_training_split_has_both_genders(case):
    _, labels, k, folds = case
    for fold in range(k):
        assert set(labels[folds != fold]) == {0, 1}


@PROPERTY
@given(corpora(), st.integers(2, 4), st.integers(0, 2**32 - 1))
def test_folds_are_deterministic_under_a_seed(corpus, k, seed):
    speakers, labels = corpus
    np.testing.assert_array_equal(speaker_folds(speakers, labels, k, seed), speaker_folds(speakers, labels, k, seed))


def test_speaker_folds_refuses_one_gender():
    with pytest.raises(PrivacyInputError, match="only female speakers.*add male speakers"):
        speaker_folds(["a", "b", "c"], [0, 0, 0], 2, seed=0)


def test_speaker_folds_refuses_a_single_speaker_of_a_gender():
    with pytest.raises(PrivacyInputError, match=r"1 male speaker \(m1\).*at least 2"):
        speaker_folds(["f1", "f2", "m1"], [0, 0, 1], 2, seed=0)


def test_speaker_folds_refuses_more_folds_than_speakers():
    message = "corpus has 4 speakers but folds=5: lower `audit.folds` in thresholds.yaml or add speakers"
    with pytest.raises(PrivacyInputError, match=message.replace("(", r"\(")):
        speaker_folds(["f1", "f2", "m1", "m2"], [0, 0, 1, 1], 5, seed=0)


def test_speaker_folds_refuses_fewer_than_two_folds():
    with pytest.raises(PrivacyInputError, match="folds=1.*at least 2"):
        speaker_folds(["f1", "f2", "m1", "m2"], [0, 0, 1, 1], 1, seed=0)


def test_a_speaker_labelled_with_both_genders_is_named():
    with pytest.raises(PrivacyInputError, match="speaker 'spk7' has utterances labelled both"):
        speaker_folds(["f1", "f2", "spk7", "spk7", "m1"], [0, 0, 0, 1, 1], 2, seed=0)


def test_mismatched_lengths_are_a_programming_error():
    with pytest.raises(ValueError, match="lengths differ"):
        speaker_folds(["f1", "f2", "m1"], [0, 0, 1, 1], 2, seed=0)


def test_group_folds_leave_one_sorted_group_out():
    groups = ["Ses02", "Ses02", "Ses01", "Ses01", "Ses03", "Ses03"]
    speakers = ["F2", "M2", "F1", "M1", "F3", "M3"]
    labels = [0, 1, 0, 1, 0, 1]
    np.testing.assert_array_equal(group_folds(groups, speakers, labels), [1, 1, 0, 0, 2, 2])


def test_group_folds_refuse_a_speaker_in_two_groups():
    with pytest.raises(PrivacyInputError, match="speaker 'F1' appears in groups 'A', 'B'"):
        group_folds(["A", "A", "B", "B"], ["F1", "M1", "F1", "M2"], [0, 1, 0, 1])


def test_group_folds_refuse_a_training_split_without_a_gender():
    # Every male speaker is in group B: holding B out trains on women only.
    with pytest.raises(PrivacyInputError, match="holding out group 'B' leaves no male speakers"):
        group_folds(["A", "A", "B", "B"], ["F1", "F2", "F3", "M1"], [0, 0, 0, 1])


def test_group_folds_refuse_a_single_group():
    with pytest.raises(PrivacyInputError, match="one group .'A'."):
        group_folds(["A", "A"], ["F1", "M1"], [0, 1])


# --- estimates ----------------------------------------------------------------------------------


def test_chance_is_the_majority_share():
    assert majority_chance([0, 0, 0, 1]) == 0.75
    assert majority_chance([1, 1, 1, 1, 0]) == 0.8
    assert majority_chance([0, 1]) == 0.5


def test_pooled_leakage_and_fold_mean_std():
    estimate = estimate_leakage(
        [0, 1, 0, 1], [0, 1, 0, 0], ["f1", "m1", "f2", "m2"], [0, 0, 1, 1], seed=0, n_bootstrap=50, n_permutations=50
    )
    assert (estimate.leakage, estimate.chance, estimate.excess) == (0.75, 0.5, 0.25)
    assert (estimate.fold_mean, estimate.fold_std) == (0.75, 0.25)  # folds 1.0 and 0.5, ddof=0
    assert (estimate.n_utterances, estimate.n_speakers) == (4, 4)


@PROPERTY
@given(corpora(), st.data())
def test_interval_contains_the_estimate_and_p_is_a_probability(corpus, data):
    speakers, labels = corpus
    predictions = np.array(data.draw(st.lists(st.integers(0, 1), min_size=labels.size, max_size=labels.size)))
    folds = speaker_folds(speakers, labels, 2, seed=0)
    estimate = estimate_leakage(labels, predictions, speakers, folds, seed=1, n_bootstrap=200, n_permutations=200)
    assert estimate.ci_low <= estimate.leakage <= estimate.ci_high
    assert 0 < estimate.p_value <= 1


def test_estimates_are_bit_identical_under_a_seed():
    speakers, labels, predictions = simulate(np.random.default_rng(3), 8)
    folds = speaker_folds(speakers, labels, 4, seed=3)
    first, second = (estimate_leakage(labels, predictions, speakers, folds, seed=11) for _ in range(2))
    assert first == second


def test_interval_narrows_as_speakers_grow():
    def width(per_gender):
        speakers, labels, predictions = simulate(np.random.default_rng(per_gender), per_gender)
        low, high = speaker_bootstrap_ci(
            predictions == labels, speakers, labels, seed=0, n_bootstrap=1000, confidence=0.95
        )
        return high - low

    small, large = width(5), width(80)
    assert large < small / 2  # ~1/sqrt(speakers): 16x the speakers, ~1/4 the width


def test_a_perfect_attacker_is_significant_with_a_tight_interval():
    speakers, labels, _ = simulate(np.random.default_rng(0), 10)
    estimate = estimate_leakage(labels, labels, speakers, speaker_folds(speakers, labels, 5, 0), seed=0)
    assert estimate.leakage == 1.0
    assert estimate.p_value <= 0.01
    assert estimate.ci_low > 0.9


@pytest.mark.parametrize("constant", [0, 1])
def test_always_answering_one_gender_is_not_significant(constant):
    # Here the 10 men have 221 utterances, the 10 women 137. Most speaker->gender permutations are
    # more balanced, so scoring raw accuracy would call "always male" significant (p = 0.03);
    # scoring accuracy above the permuted labels' chance does not.
    speakers, labels, _ = simulate(np.random.default_rng(0), 10)
    assert np.bincount(labels).tolist() == [137, 221]
    p = speaker_permutation_p_value(labels, np.full_like(labels, constant), speakers, seed=0, n_permutations=1000)
    assert p > 0.5


def test_p_values_are_calibrated_under_the_null():
    """Predictions random per speaker (a speaker-level bias, as a real attacker's errors are)."""
    rng = np.random.default_rng(2024)
    p_values = []
    for _ in range(200):
        speakers, labels, _ = simulate(rng, 10)
        speaker_bias = {s: rng.random() for s in set(speakers)}
        predictions = (rng.random(labels.size) < [speaker_bias[s] for s in speakers]).astype(int)
        p_values.append(
            speaker_permutation_p_value(
                labels, predictions, speakers, seed=int(rng.integers(2**32)), n_permutations=500
            )
        )
    rejected = np.mean(np.array(p_values) < 0.05)
    assert 0.01 <= rejected <= 0.10


def test_as_dict_is_plain_and_rounded():
    estimate = LeakageEstimate(
        leakage=2 / 3,
        chance=0.5,
        ci_low=0.6,
        ci_high=0.7,
        p_value=0.001,
        fold_mean=0.66,
        fold_std=0.01,
        n_utterances=30,
        n_speakers=6,
    )
    values = estimate.as_dict()
    assert values["leakage"] == 0.666667
    assert values["excess"] == 0.166667
    assert values["n_speakers"] == 6 and isinstance(values["n_speakers"], int)
    assert json.loads(json.dumps(values)) == values


# --- decision -----------------------------------------------------------------------------------


ESTIMATE = LeakageEstimate(
    leakage=0.75,
    chance=0.5,
    ci_low=0.625,
    ci_high=0.875,
    p_value=0.001,
    fold_mean=0.75,
    fold_std=0.05,
    n_utterances=100,
    n_speakers=10,
)


@pytest.mark.parametrize(
    ("rule", "max_excess", "compared", "status"),
    [
        ("point", 0.2, 0.25, "failed"),
        ("point", 0.25, 0.25, "passed"),  # strictly above the limit fails
        ("ci_low", 0.2, 0.125, "passed"),
        ("ci_low", 0.1, 0.125, "failed"),
        ("ci_high", 0.3, 0.375, "failed"),
        ("ci_high", 0.4, 0.375, "passed"),
    ],
)
def test_decide_compares_the_rules_excess(rule, max_excess, compared, status):
    decision = decide(ESTIMATE, max_excess, rule)
    assert (decision.status, decision.rule, decision.compared_excess, decision.max_excess) == (
        status,
        rule,
        compared,
        max_excess,
    )


def test_ci_high_is_as_strict_as_the_intervals_upper_end_below_chance():
    below = LeakageEstimate(0.30, 0.5, 0.10, 0.50, 1.0, 0.30, 0.19, 20, 10)
    decision = decide(below, 0.1, "ci_high")
    assert (decision.status, decision.compared_excess) == ("failed", pytest.approx(0.2))


def test_decide_names_the_known_rules():
    assert DECISION_RULES == ("point", "ci_low", "ci_high", "interval")
    with pytest.raises(PrivacyInputError, match="'median' is unknown: use one of point, ci_low"):
        decide(ESTIMATE, 0.1, "median")
