"""The dispatcher: a batch of waveforms -> the model's input tensor, for every feature kind."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from privacy_checks.features import lld
from privacy_checks.features.custom import custom_features
from privacy_checks.features.logmel import LogMel
from privacy_checks.features.spec import FeatureSpec

if TYPE_CHECKING:
    import torch


def fix_length(audio: np.ndarray, n_samples: int) -> np.ndarray:
    """Crop to the first n_samples or zero-pad at the end."""
    if audio.shape[-1] >= n_samples:
        return audio[..., :n_samples]
    pad = np.zeros(audio.shape[:-1] + (n_samples - audio.shape[-1],), dtype=audio.dtype)
    return np.concatenate([audio, pad], axis=-1)


def extract(spec: FeatureSpec, waveforms: np.ndarray) -> torch.Tensor:
    """Waveforms (B, samples) at spec.sample_rate -> float32 torch tensor of model inputs."""
    import torch

    batch = np.ascontiguousarray(fix_length(np.asarray(waveforms, dtype=np.float32), spec.n_samples))
    if spec.kind == "waveform":
        return torch.from_numpy(batch)
    if spec.kind == "custom":
        return torch.from_numpy(np.ascontiguousarray(custom_features(spec, batch), dtype=np.float32))
    if spec.kind == "lld":
        # looked up on the module, so that a test can stand in for opensmile
        features = torch.from_numpy(np.stack([lld.lld_frames(wave, spec) for wave in batch]))  # (B, frames, 32)
        return features.transpose(1, 2).unsqueeze(1).contiguous() if spec.layout == "image" else features
    with torch.inference_mode():
        image = LogMel(spec)(torch.from_numpy(batch))
    return image if spec.layout == "image" else image[:, 0].transpose(1, 2).contiguous()
