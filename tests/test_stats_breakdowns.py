"""Breakdowns (docs/design.md §3): leakage per emotion (Table 3), improvised vs scripted, and the
within-speaker permutation test that the attacker is equally accurate in every group."""

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import chi2_contingency

from privacy_checks.errors import PrivacyInputError
from privacy_checks.stats import (
    GroupComparison,
    GroupLeakage,
    compare_groups,
    leakage_by_group,
)

PROPERTY = settings(max_examples=40, deadline=None)

# (speaker, gender, group, correct): f* female (0), m* male (1); None = group unknown
HAND_MADE = [
    ("f1", 0, "neutral", 1),
    ("f1", 0, "neutral", 0),
    ("f1", 0, "sad", 1),
    ("f2", 0, "neutral", 1),
    ("f2", 0, "sad", 1),
    ("f2", 0, None, 0),
    ("m1", 1, "neutral", 1),
    ("m1", 1, "sad", 0),
    ("m1", 1, "angry", 1),
    ("m2", 1, "neutral", 0),
    ("m2", 1, "sad", 1),
    ("m2", 1, "sad", 1),
]


def unpack(rows):
    speakers = [r[0] for r in rows]
    labels = np.array([r[1] for r in rows])
    groups = [r[2] for r in rows]
    predictions = np.where(np.array([r[3] for r in rows]) == 1, labels, 1 - labels)
    return labels, predictions, speakers, groups


def simulate(rng, per_gender, group_names, utterances=(6, 30), accuracy=None):
    """Speakers with utterances in every group (group drawn uniformly per utterance); each
    speaker's predictions are right with a per-speaker probability from U(0.5, 1), or with
    ``accuracy[group]`` when given (a dict)."""
    genders = np.repeat([0, 1], per_gender)
    sizes = rng.integers(*utterances, size=genders.size)
    speaker_index = np.repeat(np.arange(genders.size), sizes)
    labels = genders[speaker_index]
    group_index = rng.integers(len(group_names), size=labels.size)
    if accuracy is None:
        p_right = rng.uniform(0.5, 1, genders.size)[speaker_index]
    else:
        p_right = np.array([accuracy[g] for g in group_names])[group_index]
    right = rng.random(labels.size) < p_right
    predictions = np.where(right, labels, 1 - labels)
    speakers = [f"s{i}" for i in speaker_index]
    groups = [group_names[i] for i in group_index]
    return labels, predictions, speakers, groups


# --- leakage per group --------------------------------------------------------------------------


def test_group_accuracies_chance_and_counts_on_a_hand_made_example():
    results = leakage_by_group(*unpack(HAND_MADE), seed=0, n_bootstrap=200)
    assert [r.group for r in results] == ["angry", "neutral", "sad"]  # sorted; None left out
    angry, neutral, sad = results
    # neutral: f1 right/wrong, f2 right, m1 right, m2 wrong -> 3/5; genders 0,0,0,1,1 -> 3/5
    assert (neutral.leakage, neutral.chance) == (0.6, 0.6)
    assert (neutral.n_utterances, neutral.n_speakers) == (5, 4)
    # sad: f1 right, f2 right, m1 wrong, m2 right, right -> 4/5; genders 0,0,1,1,1 -> 3/5
    assert (sad.leakage, sad.chance) == (0.8, 0.6)
    assert (sad.n_utterances, sad.n_speakers) == (5, 4)
    assert sad.excess == pytest.approx(0.2)
    # angry: one male utterance; one gender -> majority chance 1.0, excess 0, no interval
    assert (angry.leakage, angry.chance, angry.n_utterances, angry.n_speakers) == (1, 1, 1, 1)
    assert math.isnan(angry.ci_low) and math.isnan(angry.ci_high)
    for estimable in (neutral, sad):
        assert estimable.ci_low <= estimable.leakage <= estimable.ci_high


def test_interval_contains_each_groups_estimate():
    rng = np.random.default_rng(1)
    data = simulate(rng, 8, ["improvised", "scripted"])
    for result in leakage_by_group(*data, seed=2, n_bootstrap=300):
        assert 0 <= result.ci_low <= result.leakage <= result.ci_high <= 1
        assert result.ci_low < result.ci_high
        assert result.n_speakers == 16


def test_a_one_gender_group_has_chance_one_and_no_interval():
    labels, predictions, speakers, _ = unpack(HAND_MADE)
    groups = ["female-only" if label == 0 else "male-only" for label in labels]
    for result in leakage_by_group(labels, predictions, speakers, groups, seed=0):
        assert result.chance == 1.0
        assert result.excess <= 0
        assert math.isnan(result.ci_low) and math.isnan(result.ci_high)


def test_min_speakers_counts_speakers_of_each_gender():
    # "neutral" has 2 female and 2 male speakers; "pair" one of each
    labels, predictions, speakers, groups = unpack(HAND_MADE)
    groups = ["pair" if s in ("f1", "m1") and g == "sad" else g for s, g in zip(speakers, groups)]
    by_name = {r.group: r for r in leakage_by_group(labels, predictions, speakers, groups, seed=0, n_bootstrap=100)}
    assert by_name["pair"].n_speakers == 2 and math.isnan(by_name["pair"].ci_low)
    assert not math.isnan(by_name["neutral"].ci_low)
    by_name = {
        r.group: r
        for r in leakage_by_group(labels, predictions, speakers, groups, seed=0, n_bootstrap=100, min_speakers=3)
    }
    assert math.isnan(by_name["neutral"].ci_low)
    by_name = {
        r.group: r
        for r in leakage_by_group(labels, predictions, speakers, groups, seed=0, n_bootstrap=100, min_speakers=1)
    }
    pair = by_name["pair"]  # one speaker per stratum: every resample is the same
    assert pair.ci_low == pair.ci_high == pair.leakage
    with pytest.raises(ValueError, match="min_speakers"):
        leakage_by_group(labels, predictions, speakers, groups, seed=0, min_speakers=0)


def test_group_as_dict_is_json_stable_with_none_for_nan():
    angry, neutral, _ = leakage_by_group(*unpack(HAND_MADE), seed=0, n_bootstrap=200)
    assert angry.as_dict() == {
        "group": "angry",
        "leakage": 1.0,
        "chance": 1.0,
        "ci_low": None,
        "ci_high": None,
        "n_utterances": 1,
        "n_speakers": 1,
        "excess": 0.0,
    }
    values = neutral.as_dict()
    assert isinstance(values["n_utterances"], int) and isinstance(values["ci_low"], float)
    assert values["ci_low"] == round(neutral.ci_low, 6)
    json.dumps([angry.as_dict(), values], allow_nan=False)


def test_group_leakage_is_bit_identical_under_a_seed():
    rng = np.random.default_rng(3)
    data = simulate(rng, 6, ["neutral", "sad", "happy"])
    seed = np.random.SeedSequence(11)
    first = leakage_by_group(*data, seed=seed, n_bootstrap=200)
    assert first == leakage_by_group(*data, seed=seed, n_bootstrap=200)  # seed not consumed
    assert first == leakage_by_group(*data, seed=np.random.SeedSequence(11), n_bootstrap=200)
    assert first != leakage_by_group(*data, seed=12, n_bootstrap=200)


def test_nothing_known_gives_no_groups_and_bad_input_is_refused():
    labels, predictions, speakers, _ = unpack(HAND_MADE)
    assert leakage_by_group(labels, predictions, speakers, [None] * len(labels), seed=0) == []
    with pytest.raises(ValueError, match="lengths differ"):
        leakage_by_group(labels, predictions, speakers, ["a"], seed=0)
    mixed = list(labels)
    mixed[0] = 1  # f1 now has a male utterance
    with pytest.raises(PrivacyInputError, match="'f1'"):
        leakage_by_group(mixed, predictions, speakers, ["a"] * len(labels), seed=0)


# --- comparison between groups ------------------------------------------------------------------


def test_perfect_in_one_group_and_chance_in_the_other_is_significant():
    rng = np.random.default_rng(4)
    data = simulate(rng, 20, ["improvised", "scripted"], accuracy={"improvised": 1.0, "scripted": 0.5})
    result = compare_groups(*data, seed=5, n_permutations=200)
    assert result.groups == ("improvised", "scripted")
    assert result.statistic > 0.3  # improvised minus scripted, signed
    assert result.p_value < 0.01
    assert "within-speaker" in result.method


def test_the_two_group_statistic_is_the_signed_accuracy_difference():
    labels, predictions, speakers, groups = unpack(HAND_MADE)
    keep = [g in ("neutral", "sad") for g in groups]
    result = compare_groups(labels, predictions, speakers, groups, seed=0, n_permutations=50)
    assert result.groups == ("angry", "neutral", "sad")  # three groups here
    pick = lambda values: [v for v, k in zip(values, keep) if k]
    two = compare_groups(pick(labels), pick(predictions), pick(speakers), pick(groups), seed=0, n_permutations=50)
    assert two.groups == ("neutral", "sad")
    assert two.statistic == pytest.approx(0.6 - 0.8)
    assert 0 < two.p_value <= 1


@pytest.mark.parametrize("group_names", [["improvised", "scripted"], ["angry", "happy", "sad"]])
def test_p_values_are_calibrated_when_accuracy_ignores_the_group(group_names):
    # 100 null datasets: speakers differ in accuracy, but not by group
    rng = np.random.default_rng(6)
    p_values = [
        compare_groups(*simulate(rng, 6, group_names), seed=seed, n_permutations=200).p_value for seed in range(100)
    ]
    assert 0.0 <= np.mean(np.array(p_values) < 0.05) <= 0.12
    assert 0.3 < np.mean(p_values) < 0.7


def test_speakers_with_different_group_mixes_do_not_fake_a_difference():
    # Accurate speakers talk mostly in "improvised": pooled accuracies differ between the groups,
    # yet for any one speaker the group changes nothing. Permuting within speakers asks the
    # latter, so it stays calibrated (pooling all speakers of a gender rejects ~58 % at 0.05).
    rng = np.random.default_rng(11)
    p_values = []
    for seed in range(100):
        genders = np.repeat([0, 1], 6)
        sizes = rng.integers(10, 40, size=genders.size)
        speaker_index = np.repeat(np.arange(genders.size), sizes)
        labels = genders[speaker_index]
        accuracy = rng.uniform(0.5, 1, genders.size)
        improvised_share = (accuracy - 0.5) * 1.6 + 0.1
        improvised = rng.random(labels.size) < improvised_share[speaker_index]
        right = rng.random(labels.size) < accuracy[speaker_index]
        p_values.append(
            compare_groups(
                labels,
                np.where(right, labels, 1 - labels),
                [f"s{i}" for i in speaker_index],
                np.where(improvised, "improvised", "scripted"),
                seed=seed,
                n_permutations=200,
            ).p_value
        )
    assert np.mean(np.array(p_values) < 0.05) <= 0.12


def test_three_groups_use_the_pearson_chi_square():
    rng = np.random.default_rng(7)
    names = ["angry", "neutral", "sad"]
    data = simulate(rng, 10, names, accuracy={"angry": 0.95, "neutral": 0.6, "sad": 0.6})
    result = compare_groups(*data, seed=8, n_permutations=200)
    labels, predictions, _, groups = data
    correct = np.asarray(labels) == np.asarray(predictions)
    table = [[np.sum(correct & (np.array(groups) == g)), np.sum(~correct & (np.array(groups) == g))] for g in names]
    assert result.groups == tuple(names)
    assert result.statistic == pytest.approx(chi2_contingency(table, correction=False)[0])
    assert result.p_value < 0.01
    assert "chi-square" in result.method


def test_unknown_groups_are_dropped():
    rng = np.random.default_rng(9)
    labels, predictions, speakers, groups = simulate(rng, 5, ["improvised", "scripted"])
    unknown = rng.random(len(groups)) < 0.3
    noisy = [None if u else g for g, u in zip(groups, unknown)]
    noisy[0] = float("nan")  # a missing pandas cell counts as unknown too
    keep = ~unknown
    keep[0] = False
    kept = (
        np.asarray(labels)[keep],
        np.asarray(predictions)[keep],
        list(np.asarray(speakers)[keep]),
        list(np.asarray(groups, dtype=object)[keep]),
    )
    assert compare_groups(labels, predictions, speakers, noisy, seed=1, n_permutations=100) == compare_groups(
        *kept, seed=1, n_permutations=100
    )
    assert leakage_by_group(labels, predictions, speakers, noisy, seed=1, n_bootstrap=100) == leakage_by_group(
        *kept, seed=1, n_bootstrap=100
    )


def test_fewer_than_two_groups_is_reported_not_raised():
    labels, predictions, speakers, _ = unpack(HAND_MADE)
    one = compare_groups(labels, predictions, speakers, ["sad"] * 11 + [None], seed=0)
    assert one.groups == ("sad",)
    assert math.isnan(one.p_value) and math.isnan(one.statistic)
    assert "fewer than two groups" in one.method and "'sad'" in one.method
    none = compare_groups(labels, predictions, speakers, [None] * 12, seed=0)
    assert none.groups == () and math.isnan(none.p_value)
    assert none.as_dict() == {"groups": [], "statistic": None, "p_value": None, "method": none.method}
    json.dumps(none.as_dict(), allow_nan=False)


def test_groups_that_no_speaker_spans_cannot_be_tested():
    labels, predictions, speakers, _ = unpack(HAND_MADE)
    sessions = ["one" if s in ("f1", "m1") else "two" for s in speakers]
    result = compare_groups(labels, predictions, speakers, sessions, seed=0)
    assert result.groups == ("one", "two")
    assert math.isnan(result.p_value) and not math.isnan(result.statistic)
    assert "no speaker has utterances in two groups" in result.method


def test_an_attacker_right_everywhere_shows_no_difference():
    labels, _, speakers, groups = unpack(HAND_MADE)
    result = compare_groups(labels, labels, speakers, groups, seed=0, n_permutations=50)
    assert result.statistic == 0.0 and result.p_value == 1.0


def test_comparison_is_bit_identical_under_a_seed_and_refuses_bad_input():
    rng = np.random.default_rng(10)
    data = simulate(rng, 6, ["neutral", "sad", "happy", "angry"])
    seed = np.random.SeedSequence(3)
    first = compare_groups(*data, seed=seed, n_permutations=300)
    assert first == compare_groups(*data, seed=seed, n_permutations=300)
    assert first.as_dict() == compare_groups(*data, seed=3, n_permutations=300).as_dict()
    assert isinstance(first, GroupComparison)
    with pytest.raises(ValueError, match="n_permutations"):
        compare_groups(*data, seed=0, n_permutations=0)
    with pytest.raises(ValueError, match="0 \\(female\\) / 1 \\(male\\)"):
        compare_groups(data[0], np.full(len(data[0]), 2), data[2], data[3], seed=0)


@st.composite
def grouped_corpora(draw):
    """Speakers of both genders, utterances with 2-4 groups (and some unknown)."""
    k = draw(st.integers(2, 4))
    names = ["angry", "happy", "neutral", "sad"][:k]
    n_speakers = draw(st.integers(2, 8))
    rows = []
    for s in range(n_speakers):
        gender = s % 2
        for _ in range(draw(st.integers(1, 6))):
            group = draw(st.sampled_from(names + [None]))
            rows.append((f"s{s}", gender, group, draw(st.integers(0, 1))))
    return rows, draw(st.integers(0, 2**32 - 1))


@PROPERTY
@given(grouped_corpora())
def test_p_is_a_probability_and_dispersion_is_non_negative(case):
    rows, seed = case
    result = compare_groups(*unpack(rows), seed=seed, n_permutations=50)
    if len(result.groups) < 2 or "not tested" in result.method:
        assert math.isnan(result.p_value)
        return
    assert 0 < result.p_value <= 1
    if len(result.groups) == 2:
        assert -1 <= result.statistic <= 1
    else:
        assert result.statistic >= 0
    for group in leakage_by_group(*unpack(rows), seed=seed, n_bootstrap=20):
        assert isinstance(group, GroupLeakage)
        assert 0 <= group.leakage <= 1 and 0.5 <= group.chance <= 1
        assert math.isnan(group.ci_low) or group.ci_low <= group.ci_high
