"""The dispatcher: a batch of waveforms -> the model's input tensor, for every feature kind."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import numpy as np

from privacy_checks.features import lld
from privacy_checks.features.custom import custom_features
from privacy_checks.features.logmel import LogMel
from privacy_checks.features.spec import LLD_STEP_S, FeatureSpec

if TYPE_CHECKING:
    import torch


def fix_length(audio: np.ndarray, n_samples: int) -> np.ndarray:
    """Crop to the first n_samples or zero-pad at the end."""
    if audio.shape[-1] >= n_samples:
        return audio[..., :n_samples]
    pad = np.zeros(audio.shape[:-1] + (n_samples - audio.shape[-1],), dtype=audio.dtype)
    return np.concatenate([audio, pad], axis=-1)


def input_time_axis(spec: FeatureSpec, rank: int) -> int | None:
    """The time axis of a batch of model inputs of `rank` axes (batch first): samples of a waveform,
    frames last in an image or in channels, first in a sequence; a custom kind's by its layout where
    that fits the rank (channels: (B, D, frames)), else by the conventional layouts ((B, C, F, T) maps,
    (B, T, D) sequences; None for other ranks)."""
    if spec.kind == "waveform":
        return 1
    if spec.kind != "custom":
        return {"image": 3, "channels": 2}.get(spec.layout, 1)
    declared_rank, time = _LAYOUT_TIME[spec.layout]
    return time if rank == declared_rank else {4: 3, 3: 1}.get(rank)


# layout -> (rank of a batch in it, its time axis)
_LAYOUT_TIME = {"image": (4, 3), "channels": (3, 2), "sequence": (3, 1)}


def input_steps(spec: FeatureSpec, samples: int, padded_steps: int, padded_samples: int) -> int:
    """How many of a padded batch's `padded_steps` input steps (along input_time_axis) a clip of
    `samples` samples fills: its samples, its log-mel frames (torch.stft centred: samples // hop + 1),
    its 10 ms LLD frames; for a custom kind, its share of the padded batch, rounded up. At least 1."""
    if spec.kind == "waveform":
        steps = samples
    elif spec.kind == "logmel":
        steps = samples // spec.hop_length + 1
    elif spec.kind == "lld":
        steps = round(samples / spec.sample_rate / LLD_STEP_S) + 1
    else:
        steps = -(-padded_steps * samples // padded_samples)
    return max(1, min(padded_steps, steps))


def extract(spec: FeatureSpec, waveforms: np.ndarray, n_samples: int | None = None) -> torch.Tensor:
    """Waveforms (B, samples) at spec.sample_rate -> float32 torch tensor of model inputs, every clip
    cut or zero-padded to `n_samples` (default spec.n_samples, the clips of duration_s)."""
    import torch

    if n_samples is not None and n_samples != spec.n_samples:
        spec = dataclasses.replace(spec, duration_s=n_samples / spec.sample_rate)  # LLD frames follow
    batch = np.ascontiguousarray(fix_length(np.asarray(waveforms, dtype=np.float32), spec.n_samples))
    if spec.kind == "waveform":
        return torch.from_numpy(batch)
    if spec.kind == "custom":
        return torch.from_numpy(np.ascontiguousarray(custom_features(spec, batch), dtype=np.float32))
    if spec.kind == "lld":
        # looked up on the module, so that a test can stand in for opensmile
        features = torch.from_numpy(np.stack([lld.lld_frames(wave, spec) for wave in batch]))  # (B, frames, 32)
        image = features.transpose(1, 2).unsqueeze(1)
    else:
        with torch.inference_mode():
            image = LogMel(spec)(torch.from_numpy(batch))  # (B, 1, D, frames)
    return in_layout(image, spec.layout)


def in_layout(image: torch.Tensor, layout: str) -> torch.Tensor:
    """(B, 1, D, frames) features in `layout`: as they are (image), (B, D, frames) (channels) or
    (B, frames, D) (sequence); contiguous."""
    if layout == "image":
        return image.contiguous()
    channels = image[:, 0]
    return (channels if layout == "channels" else channels.transpose(1, 2)).contiguous()
