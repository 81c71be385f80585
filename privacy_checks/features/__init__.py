"""Input features for the target model, named by a FeatureSpec stored in every checkpoint.

Kinds:
- ``logmel``: log-mel spectrograms (the paper's CNN input), torch-native; when torchaudio imports, its
  MelSpectrogram gives the same values (tests/test_features.py checks it where torchaudio is available).
- ``lld``: the Interspeech 2009 low-level descriptors through opensmile (the paper's LSTM input,
  §3.2): RMS energy, MFCC 1-12, zero-crossing rate, voicing probability, F0, then the deltas of the
  same 16 in the same order: 32 values per 25 ms frame, every 10 ms.
- ``waveform``: the raw audio itself, for end-to-end models (e.g. an SSL-style encoder).
- ``custom``: ``function: "module:callable"`` called as ``f(waveforms, sample_rate)`` with a float32
  (B, samples) array, returning a (B, ...) array of one fixed per-example shape.

Layout: ``image`` gives a 1-channel (1, D, frames) map for CNNs, ``sequence`` a (frames, D) sequence
for recurrent and transformer models (D = n_mels, or 32 for LLDs); waveforms are (samples,).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np

from privacy_checks.errors import PrivacyInputError

FEATURE_KINDS = ("logmel", "lld", "waveform", "custom")
LAYOUTS = ("image", "sequence")
LLD_DIMS = 32  # IS09: 16 LLDs and their deltas
LLD_STEP_S = 0.010


@dataclass(frozen=True)
class FeatureSpec:
    """How audio becomes the model's input tensor; stored in every checkpoint."""

    kind: str = "logmel"
    sample_rate: int = 16000
    n_mels: int = 40
    win_ms: float = 30.0  # the paper: 30 ms STFT window ...
    hop_ms: float = 20.0  # ... with 10 ms overlap
    n_fft: int = 512
    f_min: float = 0.0
    f_max: float | None = None  # None: sample_rate / 2
    duration_s: float = 2.0  # every clip padded or cropped to this length
    log_offset: float = 1e-6
    layout: str = "image"  # image: (1, D, frames) for CNNs; sequence: (frames, D)
    function: str | None = None  # kind custom: 'module:callable'

    @property
    def win_length(self) -> int:
        return int(round(self.sample_rate * self.win_ms / 1000))

    @property
    def hop_length(self) -> int:
        return int(round(self.sample_rate * self.hop_ms / 1000))

    @property
    def n_samples(self) -> int:
        return int(round(self.sample_rate * self.duration_s))

    @property
    def n_frames(self) -> int:
        if self.kind == "lld":
            return int(round(self.duration_s / LLD_STEP_S)) + 1
        return self.n_samples // self.hop_length + 1

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of one example's input: (1, D, frames) or (frames, D); (samples,) for waveforms."""
        if self.kind == "waveform":
            return (self.n_samples,)
        if self.kind == "custom":
            return _custom_shape(self)
        dims = LLD_DIMS if self.kind == "lld" else self.n_mels
        return (1, dims, self.n_frames) if self.layout == "image" else (self.n_frames, dims)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], where: str = "input spec") -> FeatureSpec:
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise PrivacyInputError(f"{where}: unknown key(s) {', '.join(unknown)}; valid keys: {', '.join(known)}")
        spec = cls(**dict(data))
        spec.validate(where)
        return spec

    def validate(self, where: str = "input spec") -> None:
        # Types first: a checkpoint's input_spec reaches here unchecked, and the range checks
        # below would raise TypeError on strings.
        wrong = [
            f"{name} must be an integer"
            for name in ("sample_rate", "n_mels", "n_fft")
            if not _is_int(getattr(self, name))
        ]
        wrong += [
            f"{name} must be a number"
            for name in ("win_ms", "hop_ms", "f_min", "f_max", "duration_s", "log_offset")
            if not (name == "f_max" and self.f_max is None) and not _is_number(getattr(self, name))
        ]
        if wrong:
            raise PrivacyInputError(f"{where}: " + "; ".join(wrong))
        problems = []
        if self.kind not in FEATURE_KINDS:
            problems.append(f"kind {self.kind!r} is not one of {', '.join(FEATURE_KINDS)}")
        if self.layout not in LAYOUTS:
            problems.append(f"layout {self.layout!r} is not one of {', '.join(LAYOUTS)}")
        if self.kind == "custom" and not (isinstance(self.function, str) and ":" in self.function):
            problems.append("kind custom needs function: 'module:callable' (called with (waveforms, sample_rate))")
        if self.kind != "custom" and self.function is not None:
            problems.append(f"function is only for kind custom, not {self.kind}")
        if self.sample_rate < 1000:
            problems.append("sample_rate must be an integer >= 1000 (Hz)")
        if self.n_mels < 1:
            problems.append("n_mels must be a positive integer")
        if self.n_fft < 1:
            problems.append("n_fft must be a positive integer")
        elif not 0 < self.win_ms <= 1000 or not 0 < self.hop_ms <= 1000:
            problems.append("win_ms and hop_ms must be in (0, 1000]")
        elif min(self.win_length, self.hop_length) < 1:
            problems.append("win_ms and hop_ms must each span at least one sample")
        elif self.win_length > self.n_fft:
            problems.append(f"win_ms={self.win_ms} gives {self.win_length} samples > n_fft={self.n_fft}")
        if self.duration_s <= 0:
            problems.append("duration_s must be > 0")
        elif self.n_fft >= 1 and self.n_samples <= self.n_fft // 2:
            # torch.stft(center=True) reflect-pads n_fft // 2 samples, which needs a longer clip.
            problems.append(
                f"duration_s={self.duration_s} gives {self.n_samples} samples; need more than "
                f"n_fft // 2 = {self.n_fft // 2} (lengthen duration_s or lower n_fft)"
            )
        if self.log_offset <= 0:
            problems.append("log_offset must be > 0 (log of silent frames)")
        nyquist = self.sample_rate / 2
        f_max = nyquist if self.f_max is None else self.f_max
        if not 0 <= self.f_min < f_max <= nyquist:
            problems.append(f"need 0 <= f_min < f_max <= {nyquist:g} (Nyquist)")
        if problems:
            raise PrivacyInputError(f"{where}: " + "; ".join(problems))


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and bool(np.isfinite(value))


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def hz_to_mel(freq: np.ndarray | float) -> np.ndarray:
    return 2595.0 * np.log10(1.0 + np.asarray(freq, dtype=np.float64) / 700.0)


def mel_to_hz(mel: np.ndarray) -> np.ndarray:
    return 700.0 * (10.0 ** (np.asarray(mel, dtype=np.float64) / 2595.0) - 1.0)


def mel_filterbank(spec: FeatureSpec) -> np.ndarray:
    """Triangular HTK-mel filters, (n_fft // 2 + 1, n_mels), as torchaudio.functional.melscale_fbanks."""
    n_freqs = spec.n_fft // 2 + 1
    f_max = spec.sample_rate / 2 if spec.f_max is None else spec.f_max
    all_freqs = np.linspace(0, spec.sample_rate // 2, n_freqs)
    m_pts = np.linspace(hz_to_mel(spec.f_min), hz_to_mel(f_max), spec.n_mels + 2)
    f_pts = mel_to_hz(m_pts)
    f_diff = f_pts[1:] - f_pts[:-1]
    slopes = f_pts[None, :] - all_freqs[:, None]
    down = -slopes[:, :-2] / f_diff[:-1]
    up = slopes[:, 2:] / f_diff[1:]
    return np.maximum(0.0, np.minimum(down, up)).astype(np.float32)


def fix_length(audio: np.ndarray, n_samples: int) -> np.ndarray:
    """Crop to the first n_samples or zero-pad at the end."""
    if audio.shape[-1] >= n_samples:
        return audio[..., :n_samples]
    pad = np.zeros(audio.shape[:-1] + (n_samples - audio.shape[-1],), dtype=audio.dtype)
    return np.concatenate([audio, pad], axis=-1)


class LogMel:
    """Callable: batch of waveforms (B, samples) -> log-mel tensors (B, 1, n_mels, frames)."""

    def __init__(self, spec: FeatureSpec):
        import torch

        self.spec = spec
        self._torch = torch
        self.window = torch.hann_window(spec.win_length)
        self.fbank = torch.from_numpy(mel_filterbank(spec))

    def power_mel(self, waveforms):
        torch = self._torch
        s = self.spec
        stft = torch.stft(
            waveforms,
            n_fft=s.n_fft,
            hop_length=s.hop_length,
            win_length=s.win_length,
            window=self.window.to(waveforms.device),
            center=True,
            pad_mode="reflect",
            return_complex=True,
        )
        power = stft.real**2 + stft.imag**2  # (B, freqs, frames)
        return torch.matmul(power.transpose(-1, -2), self.fbank.to(waveforms.device)).transpose(-1, -2)

    def __call__(self, waveforms):
        mel = self.power_mel(waveforms)
        return self._torch.log(mel + self.spec.log_offset).unsqueeze(1)


def extract(spec: FeatureSpec, waveforms: np.ndarray):
    """Waveforms (B, samples) at spec.sample_rate -> float32 torch tensor of model inputs."""
    import torch

    batch = np.ascontiguousarray(fix_length(np.asarray(waveforms, dtype=np.float32), spec.n_samples))
    if spec.kind == "waveform":
        return torch.from_numpy(batch)
    if spec.kind == "custom":
        return torch.from_numpy(np.ascontiguousarray(custom_features(spec, batch), dtype=np.float32))
    if spec.kind == "lld":
        features = torch.from_numpy(np.stack([lld_frames(wave, spec) for wave in batch]))  # (B, frames, 32)
        return features.transpose(1, 2).unsqueeze(1).contiguous() if spec.layout == "image" else features
    with torch.inference_mode():
        image = LogMel(spec)(torch.from_numpy(batch))
    return image if spec.layout == "image" else image[:, 0].transpose(1, 2).contiguous()


@functools.lru_cache(maxsize=1)
def _is09_extractors():
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
    for column, smile in zip((0, LLD_DIMS // 2), _is09_extractors()):
        frames = smile.process_signal(wave, spec.sample_rate)
        # The two levels flush different numbers of end frames (some repeat a start time), so rows
        # are placed by their start time on the 10 ms grid; the first row of a start time wins.
        starts = frames.index.get_level_values("start").total_seconds().to_numpy()
        index = np.round(starts / LLD_STEP_S).astype(np.int64)
        keep = np.flatnonzero((np.r_[True, index[1:] != index[:-1]]) & (index < spec.n_frames))
        out[index[keep], column : column + LLD_DIMS // 2] = frames.to_numpy(dtype=np.float32)[keep]
    return out


@functools.lru_cache(maxsize=8)
def _custom_shape(spec: FeatureSpec) -> tuple[int, ...]:
    return tuple(custom_features(spec, np.zeros((1, spec.n_samples), dtype=np.float32)).shape[1:])


def custom_features(spec: FeatureSpec, waveforms: np.ndarray) -> np.ndarray:
    """A user's `module:callable` feature function, checked for a batch-shaped finite array."""
    import importlib

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


def frames_per_second(spec: FeatureSpec) -> float:
    return spec.sample_rate / spec.hop_length


__all__ = ["FeatureSpec", "LogMel", "extract", "fix_length", "frames_per_second", "mel_filterbank"]
