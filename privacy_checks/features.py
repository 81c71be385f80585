"""Input features for the target model: log-mel spectrograms (the paper's CNN input).

Torch-native so it needs nothing beyond torch; when torchaudio imports, its MelSpectrogram gives the
same values (tests/test_features.py checks it where torchaudio is available).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Mapping

import numpy as np

from .errors import PrivacyInputError

FEATURE_KINDS = ("logmel",)


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
        return self.n_samples // self.hop_length + 1

    @property
    def shape(self) -> tuple[int, int, int]:
        """Shape of one example's input: (channels, mel bins, frames)."""
        return (1, self.n_mels, self.n_frames)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], where: str = "input spec") -> "FeatureSpec":
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise PrivacyInputError(
                f"{where}: unknown key(s) {', '.join(unknown)}; valid keys: {', '.join(known)}"
            )
        spec = cls(**dict(data))
        spec.validate(where)
        return spec

    def validate(self, where: str = "input spec") -> None:
        # Types first: a checkpoint's input_spec reaches here unchecked, and the range checks
        # below would raise TypeError on strings.
        wrong = [f"{name} must be an integer" for name in ("sample_rate", "n_mels", "n_fft")
                 if not _is_int(getattr(self, name))]
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

    batch = fix_length(np.asarray(waveforms, dtype=np.float32), spec.n_samples)
    with torch.inference_mode():
        return LogMel(spec)(torch.from_numpy(np.ascontiguousarray(batch)))


def frames_per_second(spec: FeatureSpec) -> float:
    return spec.sample_rate / spec.hop_length


__all__ = ["FeatureSpec", "LogMel", "extract", "mel_filterbank", "fix_length", "frames_per_second"]
