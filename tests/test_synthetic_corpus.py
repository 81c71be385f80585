"""The built-in synthetic corpus: layout, options, determinism, and acoustics from the audio."""

from __future__ import annotations

import re
from collections import Counter, defaultdict

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.signal import butter, sosfiltfilt
from scipy.stats import mannwhitneyu

from privacy_checks.data.synthetic import (
    EMOTION_SETS,
    SyntheticParams,
    layout,
    make_synthetic_corpus,
    speaker_traits,
    synthesize_utterance,
)
from privacy_checks.errors import PrivacyInputError

SR = 16000


def estimate_f0(audio: np.ndarray, sample_rate: int, fmin: float = 60.0, fmax: float = 500.0):
    """Median F0 over voiced frames: normalised autocorrelation peak of low-passed 40 ms frames."""
    x = sosfiltfilt(butter(4, 900, fs=sample_rate, output="sos"), audio.astype(np.float64))
    frame, hop = int(0.04 * sample_rate), int(0.01 * sample_rate)
    frames = np.lib.stride_tricks.sliding_window_view(x, frame)[::hop]
    energy = (frames**2).mean(axis=1)
    frames = frames[energy > 0.1 * energy.max()]
    frames = frames - frames.mean(axis=1, keepdims=True)
    power = np.abs(np.fft.rfft(frames * np.hanning(frame), 2 * frame)) ** 2
    autocorrelation = np.fft.irfft(power)[:, :frame]
    autocorrelation /= autocorrelation[:, :1]
    lo, hi = int(sample_rate / fmax), int(sample_rate / fmin)
    lag = lo + autocorrelation[:, lo:hi].argmax(axis=1)
    voiced = autocorrelation[np.arange(len(lag)), lag] > 0.5
    return float(np.median(sample_rate / lag[voiced]))


def speaker_f0(params: SyntheticParams) -> dict[str, tuple[str, float]]:
    """speaker id -> (gender, median measured F0 over the speaker's utterances)."""
    corpus = make_synthetic_corpus(params)
    per_speaker = defaultdict(list)
    for utterance in corpus.utterances:
        f0 = estimate_f0(corpus.read_audio(utterance, SR), SR)
        per_speaker[(utterance.speaker, utterance.gender)].append(f0)
    return {spk: (gender, float(np.median(f0s))) for (spk, gender), f0s in per_speaker.items()}


def rms(audio: np.ndarray) -> float:
    return float(np.sqrt(np.mean(audio.astype(np.float64) ** 2)))


def by_gender(f0s: dict[str, tuple[str, float]], gender: str) -> np.ndarray:
    return np.array([f0 for g, f0 in f0s.values() if g == gender])


# --- layout ---------------------------------------------------------------------------------------


def test_counts_balance_and_ids():
    params = SyntheticParams(speakers=6, utterances=8, seed=3, duration=0.5)
    corpus = make_synthetic_corpus(params)
    assert len(corpus) == 48
    assert corpus.emotions == ("neutral", "happy", "angry", "sad")
    speakers = Counter(corpus.speakers)
    assert len(speakers) == 6 and set(speakers.values()) == {8}
    genders = Counter(u.gender for u in {u.speaker: u for u in corpus.utterances}.values())
    assert genders == {"female": 3, "male": 3}
    assert all(re.fullmatch(r"syn3-[FM]0[1-3]-00[0-7]", u.id) for u in corpus.utterances)
    for u in corpus.utterances:
        assert u.id.startswith(u.speaker + "-") and u.speaker[5] == u.gender[0].upper()
    assert len({u.id for u in corpus.utterances}) == 48
    assert all(u.path is None for u in corpus.utterances)
    expected = [0 if u.gender == "female" else 1 for u in corpus.utterances]
    assert corpus.gender_labels.tolist() == expected


def test_emotions_cycle_evenly_per_speaker():
    corpus = make_synthetic_corpus(SyntheticParams(speakers=4, utterances=16, emotions=8))
    assert corpus.emotions == EMOTION_SETS[8]
    for speaker in set(corpus.speakers):
        emotions = Counter(u.emotion for u in corpus.utterances if u.speaker == speaker)
        assert emotions == {e: 2 for e in EMOTION_SETS[8]}


def test_sessions_pair_one_female_with_one_male():
    corpus = make_synthetic_corpus(SyntheticParams(speakers=6, utterances=2))
    sessions = defaultdict(set)
    for u in corpus.utterances:
        sessions[u.session].add((u.speaker, u.gender))
    assert sorted(sessions) == ["S01", "S02", "S03"]
    for members in sessions.values():
        assert sorted(g for _, g in members) == ["female", "male"]


def test_labels_are_the_same_for_both_genders_of_a_session():
    """Emotion and spontaneity schedules must not differ by gender, or they would leak it."""
    corpus = make_synthetic_corpus(SyntheticParams(speakers=4, utterances=12))
    schedule = defaultdict(dict)
    for u in corpus.utterances:
        schedule[u.session].setdefault(u.gender, []).append((u.emotion, u.spontaneity))
    for by_gender_ in schedule.values():
        assert by_gender_["female"] == by_gender_["male"]
    assert {u.spontaneity for u in corpus.utterances} == {"improvised", "scripted"}


def test_different_seeds_never_share_speakers():
    a = make_synthetic_corpus(SyntheticParams(speakers=4, utterances=1, seed=0))
    b = make_synthetic_corpus(SyntheticParams(speakers=4, utterances=1, seed=1))
    assert not set(a.speakers) & set(b.speakers)
    assert not np.array_equal(a.read_audio(a.utterances[0], SR), b.read_audio(b.utterances[0], SR))


def test_name_and_fingerprint():
    params = SyntheticParams()
    corpus = make_synthetic_corpus(params)
    assert corpus.name == "synthetic(speakers=20,utterances=20,gender_effect=1.0,seed=0,emotions=4)"
    assert re.fullmatch(r"[0-9a-f]{64}", corpus.fingerprint)
    same = make_synthetic_corpus(SyntheticParams(gender_effect=1))  # 1 and 1.0: one setting
    assert same.fingerprint == corpus.fingerprint and same.name == corpus.name
    changed = [
        SyntheticParams(speakers=22),
        SyntheticParams(utterances=21),
        SyntheticParams(gender_effect=0.5),
        SyntheticParams(seed=1),
        SyntheticParams(emotions=8),
        SyntheticParams(duration=3.0),
        SyntheticParams(sample_rate=8000),
    ]
    fingerprints = {make_synthetic_corpus(p).fingerprint for p in changed}
    assert len(fingerprints) == len(changed) and corpus.fingerprint not in fingerprints
    assert make_synthetic_corpus(SyntheticParams(duration=3.0)).name.endswith(",duration=3.0)")


# --- options --------------------------------------------------------------------------------------


def test_from_options_converts_types():
    params = SyntheticParams.from_options(
        {
            "speakers": "10",
            "utterances": "2",
            "gender_effect": "0",
            "seed": "7",
            "emotions": "8",
            "duration": "1.5",
            "sample_rate": "8000",
        }
    )
    assert params == SyntheticParams(10, 2, 0.0, 7, 8, 1.5, 8000)
    assert SyntheticParams.from_options({}) == SyntheticParams()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"foo": "1"},
            r"^--privacy-data synthetic: unknown key 'foo'; valid keys: speakers, utterances, ",
        ),
        ({"speakers": "ten"}, r"speakers='ten' is not an integer; write e\.g\. speakers=20"),
        ({"speakers": "2.5"}, r"speakers='2.5' is not an integer"),
        ({"gender_effect": "high"}, r"gender_effect='high' is not a number"),
        ({"gender_effect": "1.5"}, r"^--privacy-data synthetic: gender_effect=1.5 must be"),
        ({"gender_effect": "nan"}, r"gender_effect=nan must be a finite number"),
        ({"speakers": "3"}, r"speakers=3 must be an even number >= 2 .*use e\.g\. speakers=4"),
        ({"speakers": "0"}, r"speakers=0 must be an even number"),
        ({"utterances": "0"}, r"utterances=0 must be >= 1"),
        ({"emotions": "5"}, r"emotions=5 must be 4 or 8"),
        ({"seed": "-1"}, r"seed=-1 must be >= 0"),
        ({"duration": "0.1"}, r"duration=0.1 must be between 0.5 and 30"),
        ({"sample_rate": "4000"}, r"sample_rate=4000 must be between 8000 and 48000"),
    ],
)
def test_from_options_rejects_bad_input(options, message):
    with pytest.raises(PrivacyInputError, match=message):
        SyntheticParams.from_options(options)


def test_from_options_names_its_origin():
    with pytest.raises(PrivacyInputError, match=r"^--privacy-aux-data synthetic: unknown key 'x'"):
        SyntheticParams.from_options({"x": "1"}, origin="--privacy-aux-data")


def test_direct_construction_is_validated():
    with pytest.raises(PrivacyInputError, match=r"synthetic: speakers=5 must be an even number"):
        SyntheticParams(speakers=5)
    with pytest.raises(PrivacyInputError, match=r"utterances='3' must be an integer"):
        SyntheticParams(utterances="3")


# --- determinism ----------------------------------------------------------------------------------


def test_same_params_give_bit_identical_audio():
    params = SyntheticParams(speakers=2, utterances=3, seed=5, duration=1.0)
    a, b = make_synthetic_corpus(params), make_synthetic_corpus(params)
    for ua, ub in zip(a.utterances, b.utterances):
        assert np.array_equal(a.read_audio(ua, SR), b.read_audio(ub, SR))


def test_one_utterance_alone_equals_reading_all():
    params = SyntheticParams(speakers=4, utterances=5, duration=0.5)
    corpus = make_synthetic_corpus(params)
    bulk = [corpus.read_audio(u, SR) for u in corpus.utterances]
    fresh = make_synthetic_corpus(params)
    assert np.array_equal(fresh.read_audio(fresh.utterances[17], SR), bulk[17])
    assert np.array_equal(synthesize_utterance(params, 17), bulk[17])
    # a bigger corpus with the same seed contains the same speakers with the same audio
    bigger = make_synthetic_corpus(SyntheticParams(speakers=6, utterances=5, duration=0.5))
    assert bigger.utterances[17] == corpus.utterances[17]
    assert np.array_equal(bigger.read_audio(bigger.utterances[17], SR), bulk[17])


def test_read_audio_refuses_a_foreign_utterance():
    corpus = make_synthetic_corpus(SyntheticParams(speakers=2, utterances=1, seed=0))
    other = make_synthetic_corpus(SyntheticParams(speakers=2, utterances=1, seed=1))
    with pytest.raises(PrivacyInputError, match="syn1-F01-000.*is not in synthetic"):
        corpus.read_audio(other.utterances[0], SR)


def test_read_audio_refuses_a_bad_sample_rate():
    corpus = make_synthetic_corpus(SyntheticParams(speakers=2, utterances=1))
    with pytest.raises(PrivacyInputError, match="sample_rate=0 must be a positive integer"):
        corpus.read_audio(corpus.utterances[0], 0)


def test_synthesize_utterance_index_out_of_range():
    with pytest.raises(IndexError):
        synthesize_utterance(SyntheticParams(speakers=2, utterances=1), 2)


def test_resampling_halves_the_samples():
    params = SyntheticParams(speakers=2, utterances=1, duration=1.0)
    corpus = make_synthetic_corpus(params)
    native = corpus.read_audio(corpus.utterances[0], SR)
    half = corpus.read_audio(corpus.utterances[0], 8000)
    assert half.dtype == np.float32 and len(half) == len(native) // 2
    assert abs(estimate_f0(half, 8000) - estimate_f0(native, SR)) < 0.05 * estimate_f0(native, SR)
    assert abs(len(corpus.read_audio(corpus.utterances[0], 22050)) - 22050) <= 1


# --- speaker traits -------------------------------------------------------------------------------


def test_gender_effect_only_moves_the_gender_means():
    """Same draws at every gender_effect: the traits shift by a per-gender constant, linearly."""
    effects = (0.0, 0.5, 1.0)
    traits = {ge: speaker_traits(SyntheticParams(speakers=8, gender_effect=ge)) for ge in effects}
    names = [k for k, v in traits[0.0][0].items() if isinstance(v, float)]
    for name in names:
        zero, half, one = (np.array([t[name] for t in traits[ge]]) for ge in effects)
        np.testing.assert_allclose(half, (zero + one) / 2, rtol=1e-12, atol=1e-12)
        shift = one - zero
        female = np.array([t["gender"] == "female" for t in traits[0.0]])
        np.testing.assert_allclose(shift[female], shift[female][0], atol=1e-9)
        np.testing.assert_allclose(shift[~female], -shift[female][0], atol=1e-9)
    f0_shift = traits[1.0][0]["f0_hz"] - traits[0.0][0]["f0_hz"]
    assert f0_shift == pytest.approx((210 - 115) / 2)


@pytest.mark.parametrize("gender_effect", [0.0, 1.0])
def test_swapping_genders_changes_audio_only_through_gender_effect(monkeypatch, gender_effect):
    """Relabel every speaker with the other gender: at gender_effect 0 not one sample may change."""
    params = SyntheticParams(speakers=2, utterances=2, gender_effect=gender_effect, duration=0.5)
    original = [synthesize_utterance(params, i) for i in range(4)]
    monkeypatch.setattr(layout, "GENDERS", ("male", "female"))
    assert make_synthetic_corpus(params).utterances[0].gender == "male"
    swapped = [synthesize_utterance(params, i) for i in range(4)]
    identical = all(np.array_equal(a, b) for a, b in zip(original, swapped))
    assert identical == (gender_effect == 0.0)


def test_realistic_trait_ranges_at_full_gender_effect():
    traits = speaker_traits(SyntheticParams(speakers=40, gender_effect=1.0))
    expected = {"female": ((170, 250), (13.5, 15.5)), "male": ((90, 140), (16, 18))}
    for gender, (f0_range, vtl_range) in expected.items():
        f0 = [t["f0_hz"] for t in traits if t["gender"] == gender]
        vtl = [t["vtl_cm"] for t in traits if t["gender"] == gender]
        assert f0_range[0] < np.mean(f0) < f0_range[1] and 8 < np.std(f0) < 30
        assert vtl_range[0] < np.mean(vtl) < vtl_range[1]


# --- acoustics, measured from the audio -----------------------------------------------------------


def test_f0_separates_genders_at_full_gender_effect():
    params = SyntheticParams(speakers=10, utterances=4, gender_effect=1.0, duration=1.0)
    f0s = speaker_f0(params)
    female, male = by_gender(f0s, "female"), by_gender(f0s, "male")
    assert np.median(male) < 150 < np.median(female)
    assert male.max() < female.min()
    # the measurement tracks the speaker's parameter (emotions raise the average a little)
    traits = {t["id"]: t["f0_hz"] for t in speaker_traits(params)}
    measured = [f0s[s][1] for s in traits]
    assert np.corrcoef(measured, list(traits.values()))[0, 1] > 0.95


def test_f0_does_not_separate_genders_without_gender_effect():
    f0s = speaker_f0(SyntheticParams(speakers=20, utterances=4, gender_effect=0.0, duration=1.0))
    female, male = by_gender(f0s, "female"), by_gender(f0s, "male")
    spread = np.std(np.concatenate([female, male]))
    assert abs(np.mean(female) - np.mean(male)) < 0.5 * spread
    assert mannwhitneyu(female, male).pvalue > 0.05
    assert 140 < np.median(np.concatenate([female, male])) < 190


def test_emotions_shift_f0_and_energy_within_each_speaker():
    corpus = make_synthetic_corpus(SyntheticParams(speakers=4, utterances=8, duration=1.0))
    f0, loudness = defaultdict(list), defaultdict(list)
    for u in corpus.utterances:
        audio = corpus.read_audio(u, SR)
        f0[u.speaker, u.emotion].append(estimate_f0(audio, SR))
        loudness[u.speaker, u.emotion].append(rms(audio))
    for speaker in set(corpus.speakers):
        sad = np.mean(f0[speaker, "sad"])
        assert np.mean(f0[speaker, "angry"]) > sad and np.mean(f0[speaker, "happy"]) > sad
        assert np.mean(loudness[speaker, "angry"]) > 2 * np.mean(loudness[speaker, "sad"])


def test_loudness_does_not_depend_on_gender():
    corpus = make_synthetic_corpus(SyntheticParams(speakers=8, utterances=4, duration=1.0))
    loudness = defaultdict(list)
    for u in corpus.utterances:
        loudness[u.gender].append(rms(corpus.read_audio(u, SR)))
    assert np.mean(loudness["female"]) == pytest.approx(np.mean(loudness["male"]), rel=0.2)


@settings(max_examples=15, deadline=None)
@given(
    speakers=st.sampled_from([2, 4, 6]),
    utterances=st.integers(1, 3),
    gender_effect=st.floats(0.0, 1.0),
    seed=st.integers(0, 10_000),
    emotions=st.sampled_from([4, 8]),
    duration=st.sampled_from([0.5, 1.0, 2.0]),
    sample_rate=st.sampled_from([8000, 16000, 22050]),
)
def test_audio_is_always_valid(speakers, utterances, gender_effect, seed, emotions, duration, sample_rate):
    params = SyntheticParams(speakers, utterances, gender_effect, seed, emotions, duration, sample_rate)
    corpus = make_synthetic_corpus(params)
    expected = duration * sample_rate
    for utterance in corpus.utterances:
        audio = corpus.read_audio(utterance, sample_rate)
        assert audio.dtype == np.float32 and audio.ndim == 1
        assert 0.75 * expected <= len(audio) <= 1.25 * expected
        assert np.all(np.isfinite(audio)) and np.max(np.abs(audio)) <= 1.0
        assert rms(audio) > 1e-3
