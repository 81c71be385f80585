"""Log-mel spectrograms (the paper's CNN input), torch-native. Where torchaudio imports, its
MelSpectrogram gives the same values (tests/test_features.py checks it)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from privacy_checks.features.spec import FeatureSpec

if TYPE_CHECKING:
    import torch


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


class LogMel:
    """Callable: batch of waveforms (B, samples) -> log-mel tensors (B, 1, n_mels, frames)."""

    def __init__(self, spec: FeatureSpec):
        import torch  # lazy: the spec and the filterbank serve without torch

        self.spec = spec
        self._torch = torch
        self.window = torch.hann_window(spec.win_length)
        self.fbank = torch.from_numpy(mel_filterbank(spec))

    def power_mel(self, waveforms: torch.Tensor) -> torch.Tensor:
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

    def __call__(self, waveforms: torch.Tensor) -> torch.Tensor:
        mel = self.power_mel(waveforms)
        return self._torch.log(mel + self.spec.log_offset).unsqueeze(1)
