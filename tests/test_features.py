"""Log-mel features: the spec's numbers, its validation, the mel filterbank, and `extract` checked
against an independent numpy reference (and torchaudio where it imports)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from privacy_checks.errors import PrivacyInputError
from privacy_checks.features import (
    FeatureSpec,
    LogMel,
    extract,
    fix_length,
    frames_per_second,
    hz_to_mel,
    mel_filterbank,
    mel_to_hz,
)

SR = 16000
FEW = settings(max_examples=15, deadline=None)


# --- independent reference (numpy only) -------------------------------------------------------


def reference_filterbank(sample_rate: int, n_fft: int, n_mels: int, f_min: float, f_max: float) -> np.ndarray:
    """HTK triangles built one filter at a time with np.interp: 0 at the neighbours' centres, 1 at its own."""
    freqs = np.linspace(0.0, sample_rate / 2, n_fft // 2 + 1)
    mel = lambda f: 2595.0 * np.log10(1.0 + f / 700.0)
    hz = lambda m: 700.0 * (10.0 ** (m / 2595.0) - 1.0)
    edges = hz(np.linspace(mel(f_min), mel(f_max), n_mels + 2))
    return np.stack(
        [np.interp(freqs, edges[i : i + 3], [0.0, 1.0, 0.0], left=0.0, right=0.0) for i in range(n_mels)],
        axis=1,
    )


def reference_logmel(spec: FeatureSpec, audio: np.ndarray) -> np.ndarray:
    """(n_mels, frames) in float64: reflect-pad n_fft/2, frame, periodic Hann zero-padded to n_fft
    and centred (as torch.stft), |rfft|^2, HTK filterbank, log(+offset)."""
    x = np.asarray(audio, dtype=np.float64)
    x = np.concatenate([x, np.zeros(max(0, spec.n_samples - x.size))])[: spec.n_samples]
    half = spec.n_fft // 2
    padded = np.pad(x, half, mode="reflect")
    n = np.arange(spec.win_length)
    hann = 0.5 - 0.5 * np.cos(2 * np.pi * n / spec.win_length)  # periodic
    window = np.zeros(spec.n_fft)
    left = (spec.n_fft - spec.win_length) // 2
    window[left : left + spec.win_length] = hann
    n_frames = 1 + (padded.size - spec.n_fft) // spec.hop_length
    frames = np.stack([padded[i * spec.hop_length : i * spec.hop_length + spec.n_fft] for i in range(n_frames)])
    power = np.abs(np.fft.rfft(frames * window, axis=1)) ** 2
    f_max = spec.sample_rate / 2 if spec.f_max is None else spec.f_max
    fbank = reference_filterbank(spec.sample_rate, spec.n_fft, spec.n_mels, spec.f_min, f_max)
    return np.log(power @ fbank + spec.log_offset).T


def mel_centres(spec: FeatureSpec) -> np.ndarray:
    f_max = spec.sample_rate / 2 if spec.f_max is None else spec.f_max
    return mel_to_hz(np.linspace(hz_to_mel(spec.f_min), hz_to_mel(f_max), spec.n_mels + 2))[1:-1]


def chirp_with_floor(spec: FeatureSpec, seed: int = 0) -> np.ndarray:
    """Linear chirp 50 Hz -> 7.9 kHz over the clip, plus a -46 dB noise floor so that no mel bin is
    empty (an empty bin's log is float32 rounding noise, not a property of the implementation)."""
    t = np.arange(spec.n_samples) / spec.sample_rate
    f0, f1 = 50.0, 0.99 * spec.sample_rate / 2
    phase = 2 * np.pi * (f0 * t + (f1 - f0) * t**2 / (2 * spec.duration_s))
    noise = np.random.default_rng(seed).standard_normal(t.size)
    return (0.5 * np.sin(phase) + 0.01 * noise).astype(np.float32)


def tone(freq: float, seconds: float = 2.0, rate: int = SR, amplitude: float = 0.5) -> np.ndarray:
    return (amplitude * np.sin(2 * np.pi * freq * np.arange(int(rate * seconds)) / rate)).astype(np.float32)


# --- FeatureSpec ----------------------------------------------------------------------------------


def test_default_spec_is_the_papers_30ms_window_with_10ms_overlap():
    spec = FeatureSpec()
    assert (spec.kind, spec.sample_rate, spec.n_mels, spec.n_fft) == ("logmel", 16000, 40, 512)
    assert (spec.win_ms, spec.hop_ms) == (30.0, 20.0)
    assert spec.win_ms - spec.hop_ms == 10.0  # overlap
    assert spec.win_length == 480
    assert spec.hop_length == 320
    assert spec.n_samples == 32000
    assert spec.n_frames == 101
    assert spec.shape == (1, 40, 101)
    assert frames_per_second(spec) == 50.0
    spec.validate()  # the defaults are valid


def test_as_dict_round_trips_through_from_mapping():
    spec = FeatureSpec(sample_rate=8000, n_mels=24, win_ms=25.0, hop_ms=10.0, n_fft=256, f_min=20.0, f_max=3800.0)
    data = spec.as_dict()
    assert data["n_mels"] == 24 and data["f_max"] == 3800.0
    assert FeatureSpec.from_mapping(data) == spec
    assert FeatureSpec.from_mapping({}) == FeatureSpec()


def test_from_mapping_names_unknown_keys_and_lists_valid_ones():
    with pytest.raises(PrivacyInputError) as info:
        FeatureSpec.from_mapping({"n_mel": 40, "hop": 10}, where="ckpt.pt input_spec")
    message = str(info.value)
    assert message.startswith("ckpt.pt input_spec:")
    assert "unknown key(s) hop, n_mel" in message
    assert "valid keys:" in message and "n_mels" in message and "hop_ms" in message


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"kind": "mfcc"}, "kind 'mfcc' is not one of logmel"),
        ({"sample_rate": 500}, "sample_rate must be an integer >= 1000"),
        ({"sample_rate": 16000.0}, "sample_rate must be an integer"),
        ({"n_mels": 0}, "n_mels must be a positive integer"),
        ({"n_fft": 512.0}, "n_fft must be an integer"),
        ({"win_ms": 0}, "win_ms and hop_ms must be in (0, 1000]"),
        ({"hop_ms": 2000}, "win_ms and hop_ms must be in (0, 1000]"),
        ({"hop_ms": 0.01}, "at least one sample"),
        ({"win_ms": 40.0}, "win_ms=40.0 gives 640 samples > n_fft=512"),
        ({"duration_s": 0}, "duration_s must be > 0"),
        ({"log_offset": 0.0}, "log_offset must be > 0"),
        ({"f_max": 9000.0}, "need 0 <= f_min < f_max <= 8000 (Nyquist)"),
        ({"f_min": 4000.0, "f_max": 3000.0}, "need 0 <= f_min < f_max <= 8000 (Nyquist)"),
        ({"f_min": -1.0}, "need 0 <= f_min < f_max"),
        ({"sample_rate": 8000, "f_max": 4001.0}, "<= 4000 (Nyquist)"),
        # values from a checkpoint's input_spec arrive untyped: a string is an input error, not a TypeError
        ({"win_ms": "30"}, "win_ms must be a number"),
        ({"f_max": "8000"}, "f_max must be a number"),
        ({"duration_s": float("nan")}, "duration_s must be a number"),
        ({"n_mels": True}, "n_mels must be an integer"),
    ],
)
def test_from_mapping_rejects_bad_values_naming_the_source_and_the_rule(values, expected):
    with pytest.raises(PrivacyInputError) as info:
        FeatureSpec.from_mapping(values, where="model.pt input_spec")
    assert str(info.value).startswith("model.pt input_spec: ")
    assert expected in str(info.value)


def test_a_misspelt_kind_or_layout_gets_a_did_you_mean_hint():
    with pytest.raises(PrivacyInputError) as info:
        FeatureSpec.from_mapping({"kind": "logmle", "layout": "sequense"}, where="cfg")
    assert "kind 'logmle' is not one of logmel, lld, waveform, custom (did you mean 'logmel'?)" in str(info.value)
    assert "layout 'sequense' is not one of image, sequence, channels (did you mean 'sequence'?)" in str(info.value)


def test_clip_too_short_for_reflect_padding_is_rejected_not_a_crash():
    # torch.stft(center=True) reflect-pads n_fft // 2 = 1024 samples: a 1000-sample clip cannot be.
    with pytest.raises(PrivacyInputError) as info:
        FeatureSpec.from_mapping({"sample_rate": 8000, "n_fft": 2048, "duration_s": 0.125}, where="cfg")
    assert "duration_s=0.125 gives 1000 samples; need more than n_fft // 2 = 1024" in str(info.value)
    assert "lengthen duration_s or lower n_fft" in str(info.value)
    shortest = FeatureSpec(n_fft=512, duration_s=257 / SR)  # 257 samples > 256: the shortest that works
    shortest.validate()
    assert tuple(extract(shortest, np.ones((1, 300), dtype=np.float32)).shape) == (1, *shortest.shape)


def test_from_mapping_reports_every_problem_at_once():
    with pytest.raises(PrivacyInputError) as info:
        FeatureSpec.from_mapping({"n_mels": 0, "duration_s": -1.0, "f_max": 9000.0})
    message = str(info.value)
    assert "n_mels" in message and "duration_s" in message and "Nyquist" in message


def test_f_max_at_nyquist_is_accepted_and_equals_the_default():
    assert (
        mel_filterbank(FeatureSpec.from_mapping({"f_max": 8000.0})).tolist() == mel_filterbank(FeatureSpec()).tolist()
    )


@FEW
@given(
    rate=st.sampled_from([8000, 16000, 22050, 44100]),
    hop_ms=st.floats(5.0, 30.0),
    duration=st.floats(0.15, 1.5),
)
def test_frame_count_matches_extract_output(rate, hop_ms, duration):
    spec = FeatureSpec(sample_rate=rate, win_ms=hop_ms, hop_ms=hop_ms, n_fft=2048, n_mels=16, duration_s=duration)
    spec.validate()
    out = extract(spec, np.zeros((1, 10), dtype=np.float32))
    assert tuple(out.shape) == (1, *spec.shape)
    assert spec.n_frames == 1 + spec.n_samples // spec.hop_length


# --- mel filterbank -------------------------------------------------------------------------------


def test_filterbank_shape_and_independent_reference():
    spec = FeatureSpec()
    fbank = mel_filterbank(spec)
    assert fbank.shape == (257, 40) and fbank.dtype == np.float32
    np.testing.assert_allclose(fbank, reference_filterbank(16000, 512, 40, 0.0, 8000.0), atol=1e-6)


def test_hz_mel_conversions_are_htk_and_inverse():
    assert hz_to_mel(700.0) == pytest.approx(2595.0 * np.log10(2.0))
    assert hz_to_mel(1000.0) == pytest.approx(999.99, abs=0.01)  # HTK: 1 kHz is ~1000 mel
    freqs = np.array([0.0, 100.0, 1000.0, 7999.0])
    np.testing.assert_allclose(mel_to_hz(hz_to_mel(freqs)), freqs, atol=1e-9)


@FEW
@given(
    rate=st.sampled_from([8000, 16000, 22050]),
    n_mels=st.integers(8, 64),
    n_fft=st.sampled_from([1024, 2048]),
    f_min=st.floats(0.0, 300.0),
)
def test_filterbank_properties(rate, n_mels, n_fft, f_min):
    spec = FeatureSpec(sample_rate=rate, n_mels=n_mels, n_fft=n_fft, f_min=f_min, win_ms=20.0, hop_ms=10.0)
    spec.validate()
    fbank = mel_filterbank(spec)
    assert fbank.shape == (n_fft // 2 + 1, n_mels)
    assert np.all(fbank >= 0) and np.all(fbank <= 1.0 + 1e-6)
    assert np.all(fbank.max(axis=0) > 0)  # no empty filter at these resolutions
    peaks = fbank.argmax(axis=0)
    assert np.all(np.diff(peaks) > 0)  # each filter peaks at a higher frequency than the last
    freqs = np.linspace(0, rate / 2, n_fft // 2 + 1)
    np.testing.assert_allclose(freqs[peaks], mel_centres(spec), atol=rate / n_fft)  # within one bin
    assert np.all(fbank[freqs < f_min] == 0)  # nothing below f_min


def test_filterbank_triangles_peak_at_one_on_a_fine_grid():
    fbank = mel_filterbank(FeatureSpec(n_fft=16384))
    np.testing.assert_allclose(fbank.max(axis=0), 1.0, atol=0.02)
    # Between adjacent centres the two overlapping triangles sum to one (HTK, norm=None).
    freqs = np.linspace(0, 8000, 8193)
    centres = mel_centres(FeatureSpec())
    inner = (freqs > centres[0]) & (freqs < centres[-1])
    np.testing.assert_allclose(fbank[inner].sum(axis=1), 1.0, atol=1e-5)


# --- fix_length -----------------------------------------------------------------------------------


@FEW
@given(length=st.integers(1, 300), target=st.integers(1, 300), batch=st.integers(1, 3))
def test_fix_length_crops_the_start_or_zero_pads_the_end(length, target, batch):
    audio = np.random.default_rng(length).standard_normal((batch, length)).astype(np.float32)
    out = fix_length(audio, target)
    assert out.shape == (batch, target) and out.dtype == np.float32
    keep = min(length, target)
    np.testing.assert_array_equal(out[:, :keep], audio[:, :keep])
    assert np.all(out[:, keep:] == 0)


# --- extract --------------------------------------------------------------------------------------


def test_extract_shape_dtype_and_determinism():
    spec = FeatureSpec()
    batch = np.stack([chirp_with_floor(spec, seed) for seed in range(3)])
    out = extract(spec, batch)
    assert isinstance(out, torch.Tensor)
    assert tuple(out.shape) == (3, 1, 40, 101) and out.dtype == torch.float32
    assert torch.isfinite(out).all()
    assert torch.equal(out, extract(spec, batch))
    # Examples are independent: one at a time gives the same rows.
    for i in range(3):
        torch.testing.assert_close(extract(spec, batch[i : i + 1])[0], out[i], rtol=0, atol=1e-5)


def test_the_three_layouts_hold_the_same_values_on_their_own_axes():
    # image (B, 1, D, frames) for 2-D CNNs, sequence (B, frames, D), channels (B, D, frames) for a
    # Conv1d front end taking the mel bins as its input channels (issue: Whisper-style encoders)
    batch = np.stack([chirp_with_floor(FeatureSpec(), seed) for seed in range(2)])
    image = extract(FeatureSpec(layout="image"), batch)
    sequence = extract(FeatureSpec(layout="sequence"), batch)
    channels = extract(FeatureSpec(layout="channels"), batch)
    assert FeatureSpec(layout="channels").shape == (40, 101) == tuple(channels.shape[1:])
    assert FeatureSpec(layout="sequence").shape == (101, 40) == tuple(sequence.shape[1:])
    assert torch.equal(channels, image[:, 0]) and torch.equal(sequence, image[:, 0].transpose(1, 2))
    assert channels.is_contiguous() and sequence.is_contiguous()


def test_extract_pads_short_and_crops_long_clips_to_duration():
    spec = FeatureSpec()
    long = chirp_with_floor(FeatureSpec(duration_s=3.0))
    cropped = extract(spec, long[None])
    torch.testing.assert_close(cropped, extract(spec, long[None, : spec.n_samples]), rtol=0, atol=0)

    short = long[: spec.n_samples // 2]
    padded = np.concatenate([short, np.zeros(spec.n_samples - short.size, dtype=np.float32)])
    out = extract(spec, short[None])
    assert tuple(out.shape) == (1, 1, 40, 101)
    torch.testing.assert_close(out, extract(spec, padded[None]), rtol=0, atol=0)
    # The padded tail is digital silence: log(offset) exactly, in every bin of the last frames.
    np.testing.assert_allclose(out[0, 0, :, -5:].numpy(), np.log(spec.log_offset), rtol=1e-6)


def test_extract_of_silence_is_log_offset():
    spec = FeatureSpec(log_offset=1e-3)
    out = extract(spec, np.zeros((2, 1000), dtype=np.float32))
    np.testing.assert_allclose(out.numpy(), np.log(1e-3), rtol=1e-6)


@pytest.mark.parametrize(
    "spec",
    [
        FeatureSpec(),
        FeatureSpec(
            sample_rate=8000, n_mels=24, win_ms=25.0, hop_ms=10.0, n_fft=256, f_min=60.0, f_max=3800.0, duration_s=1.0
        ),
    ],
    ids=["default", "8k-25ms"],
)
def test_extract_matches_independent_numpy_reference(spec):
    audio = chirp_with_floor(spec, seed=1)
    ours = extract(spec, audio[None])[0, 0].numpy().astype(np.float64)
    expected = reference_logmel(spec, audio)
    assert ours.shape == expected.shape == (spec.n_mels, spec.n_frames)
    np.testing.assert_allclose(ours, expected, rtol=1e-4, atol=1e-4)


@settings(max_examples=10, deadline=None)
@given(freq=st.floats(400.0, 6500.0))
def test_pure_tone_peaks_in_the_mel_bin_centred_nearest_it(freq):
    spec = FeatureSpec()
    centres = mel_centres(spec)
    order = np.argsort(np.abs(centres - freq))
    nearest, second = order[:2]
    # Halfway between two centres the two filters tie; only judge tones clearly nearer one centre.
    gap = abs(centres[nearest] - centres[second])
    if abs(abs(centres[second] - freq) - abs(centres[nearest] - freq)) < 0.2 * gap:
        return
    out = extract(spec, tone(freq)[None])[0, 0].numpy()
    middle = out[:, 5:-5]  # away from the reflect-padded edges
    assert np.all(middle.argmax(axis=0) == nearest)


def test_1khz_tone_energy_sits_at_1khz():
    spec = FeatureSpec()
    out = extract(spec, tone(1000.0)[None])[0, 0].numpy()
    profile = out[:, 5:-5].mean(axis=1)
    peak = int(profile.argmax())
    assert peak == int(np.abs(mel_centres(spec) - 1000.0).argmin())
    assert abs(mel_centres(spec)[peak] - 1000.0) < 60.0
    # The tone's bin is far above bins an octave away: > 60 dB (natural log 13.8) in power.
    octave_up = int(np.abs(mel_centres(spec) - 2000.0).argmin())
    assert profile[peak] - profile[octave_up] > 13.8


def test_logmel_module_accepts_batches_on_its_own():
    spec = FeatureSpec(duration_s=0.5)
    module = LogMel(spec)
    audio = torch.from_numpy(np.stack([chirp_with_floor(spec, s) for s in range(2)]))
    out = module(audio)
    assert tuple(out.shape) == (2, *spec.shape)
    torch.testing.assert_close(out, extract(spec, audio.numpy()), rtol=0, atol=0)


# --- torchaudio ----------------------------------------------------------------------------------


def _torchaudio():
    try:
        import torchaudio
    except (ImportError, OSError) as exc:  # absent, or a wheel built for another torch/CUDA
        pytest.skip(f"torchaudio does not import here: {type(exc).__name__}: {exc}")
    return torchaudio


@pytest.mark.parametrize(
    "spec",
    [
        FeatureSpec(),
        FeatureSpec(
            sample_rate=8000, n_mels=24, win_ms=25.0, hop_ms=10.0, n_fft=256, f_min=60.0, f_max=3800.0, duration_s=1.0
        ),
    ],
    ids=["default", "8k-25ms"],
)
def test_matches_torchaudio_melspectrogram(spec):
    torchaudio = _torchaudio()
    transform = torchaudio.transforms.MelSpectrogram(
        sample_rate=spec.sample_rate,
        n_fft=spec.n_fft,
        win_length=spec.win_length,
        hop_length=spec.hop_length,
        f_min=spec.f_min,
        f_max=spec.f_max,
        n_mels=spec.n_mels,
        power=2.0,
        center=True,
        pad_mode="reflect",
        norm=None,
        mel_scale="htk",
    )
    batch = np.stack([chirp_with_floor(spec, seed) for seed in range(2)])
    with torch.inference_mode():
        theirs = torch.log(transform(torch.from_numpy(batch)) + spec.log_offset)
    ours = extract(spec, batch)[:, 0]
    assert theirs.shape == ours.shape
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-4, atol=1e-4)
