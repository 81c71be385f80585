"""What the convex probe reads of a layer with a time axis: each channel's mean and standard deviation
over time (``per_channel_statistics``) and the layer's spectral shape over time (``band_spectrum``).

Means and deviations alone are blind to a layer that hands the audio on: a waveform (or a few
channels at an audio rate) has a mean near zero and a deviation that is its loudness, so a layer
that passes T's input through read as chance, a false pass. Its spectrum is where pitch and
formants are: the power of each channel over time in ``BANDS`` log-spaced bands of frequency (in
cycles per frame, from 2**-10 to 0.5: 15.6 Hz to 8 kHz on 16 kHz audio, 0.05 to 25 Hz on 50 frames
a second), averaged over (at most ``SPECTRUM_CHANNELS`` evenly spaced) channels, as the log of each
band's share of the power per unit of frequency. Bands are in cycles per frame, so clips of any length give the same
features; a band narrower than the clip's frequency resolution takes its nearest bin."""

from __future__ import annotations

import functools
import math

import numpy as np
import torch

from privacy_checks.model.layout import Layout, per_channel_statistics

BANDS = 24  # 0.375 octave each: a male and a female pitch (about 0.8 octave apart) fall in different bands
LOWEST = 2.0**-10  # cycles per frame
SPECTRUM_CHANNELS = 64  # channels whose power is averaged (evenly spaced): bounded cost on wide layers
_FLOOR = 1e-12


def band_edges() -> torch.Tensor:
    """BANDS + 1 edges in cycles per frame, log-spaced from LOWEST to 0.5."""
    return torch.logspace(math.log2(LOWEST), -1.0, BANDS + 1, base=2.0, dtype=torch.float64)


def band_spectrum(x: torch.Tensor, layout: Layout, frames: torch.Tensor | None = None) -> torch.Tensor:
    """(B, BANDS) float32: the log share of each band in the power of the layer's channels over its
    valid frames (see the module doc); a layer without a time axis has no spectrum (B, 0)."""
    canonical = layout.canonical(x).float()
    batch = canonical.shape[0]
    if layout.time_axis is None:
        return canonical.new_zeros((batch, 0))
    steps = canonical.shape[1]
    sequence = canonical.reshape(batch, steps, -1)
    channels = sequence.shape[2]
    # picked along the axis whose memory they span (a convolution's channels are whole rows of
    # frames), then channels first: (B, channels, frames)
    channel_last = sequence.stride(2) == 1
    if not channel_last:
        sequence = sequence.transpose(1, 2)
    if channels > SPECTRUM_CHANNELS:
        picked = torch.linspace(0, channels - 1, SPECTRUM_CHANNELS).round().long().to(sequence.device)
        sequence = sequence.index_select(2 if channel_last else 1, picked)
    if channel_last:
        sequence = sequence.transpose(1, 2)
    lengths = [steps] * batch if frames is None else [max(1, min(steps, int(n))) for n in frames.tolist()]
    edges = tuple(band_edges().tolist())
    rows = [_bands(example[:, :length], edges) for example, length in zip(sequence, lengths)]
    return torch.stack(rows).float().to(canonical.device)


def _bands(signal: torch.Tensor, edges: tuple[float, ...]) -> torch.Tensor:
    """(channels, frames) -> (BANDS,) float64 log power shares of the channel-averaged spectrum."""
    frames = signal.shape[1]
    power = _power(signal)[1:]  # the mean removed: no DC bin
    if power.numel() == 0 or float(power.sum()) <= 0:
        return torch.full((BANDS,), math.log(_FLOOR), dtype=torch.float64)
    share = power / power.sum()
    band_of_bin, counts, nearest = _bins_of_bands(frames, edges)
    inside = band_of_bin >= 0
    sums = torch.zeros(BANDS, dtype=torch.float64).index_add_(0, band_of_bin[inside], share[inside])
    # an empty band (narrower than the resolution) takes its nearest bin
    values = torch.where(counts > 0, sums / counts.clamp(min=1), share[nearest])
    # share per bin x frames = share per unit of frequency: the same for a short and a long clip
    return torch.log((values * frames).clamp(min=_FLOOR))


def _power(signal: torch.Tensor) -> torch.Tensor:
    """(channels, frames) -> (frames // 2 + 1,) float64 on the CPU: |X|^2 of each channel's real DFT
    after its mean over the frames is removed, averaged over the channels. On the CPU in numpy: its
    pocketfft takes 0.3-0.7x the time of torch's (MKL) float64 rfft at a wav2vec2 conv layer's frame
    counts (14,399, 3,599), one example at a time with its temporaries, in place where it can (a
    batch's float64 copies of a conv layer cost more than its transform); the same values to float64
    rounding."""
    if signal.device.type != "cpu":
        return _power_on_device(signal)
    centred = signal.detach().numpy().astype(np.float64)
    centred -= centred.mean(axis=1, keepdims=True)
    spectrum = np.fft.rfft(centred, axis=1)
    return torch.from_numpy((spectrum.real**2 + spectrum.imag**2).mean(axis=0))


def _power_on_device(signal: torch.Tensor) -> torch.Tensor:
    """_power by torch where the signal is (a GPU's), returned on the CPU."""
    centred = signal.double()
    centred = centred - centred.mean(dim=1, keepdim=True)
    spectrum = torch.fft.rfft(centred, dim=1)
    return (spectrum * spectrum.conj()).real.mean(dim=0).cpu()


@functools.lru_cache(maxsize=64)
def _bins_of_bands(frames: int, edges: tuple[float, ...]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """For a clip of `frames` frames: each non-DC bin's band (-1: outside every band), each band's
    bin count, and each band's bin nearest its centre (geometric), in cycles per frame."""
    frequencies = torch.arange(1, frames // 2 + 1, dtype=torch.float64) / frames
    band_of_bin = torch.full((len(frequencies),), -1, dtype=torch.int64)
    counts = torch.zeros(BANDS, dtype=torch.float64)
    nearest = torch.zeros(BANDS, dtype=torch.int64)
    for band in range(BANDS):
        low, high = edges[band], edges[band + 1]
        inside = (frequencies >= low) & (frequencies < high)
        band_of_bin[inside] = band
        counts[band] = float(inside.sum())
        nearest[band] = int(torch.argmin((frequencies - math.sqrt(low * high)).abs()))
    return band_of_bin, counts, nearest


def probe_statistics(x: torch.Tensor, layout: Layout, frames: torch.Tensor | None = None) -> torch.Tensor:
    """(B, 2·C + BANDS) with a time axis, (B, F) without: per-channel means and deviations, then the
    band spectrum — one utterance's row of a layer's ``.stats.npy``. A layer whose time axis could
    not be found (the model takes one input length: ``Layout.time_unknown``) gives its flat features
    and, for each of its feature axes, the means and deviations over that axis as if it were time
    (``probe_views``): a sequence-first transformer's (T, D) read flat scored 0.54-0.62 where the
    same layer read over time scores 0.83-0.89 (a new-user trial's fixed-length .pt2)."""
    statistics = per_channel_statistics(x, layout, frames)
    if layout.time_unknown:
        return torch.cat([statistics, *_each_axis_as_time(x, layout)], dim=1)
    if layout.time_axis is None:
        return statistics
    return torch.cat([statistics, band_spectrum(x, layout, frames).to(statistics.device)], dim=1)


def probe_views(layout: Layout, shape: tuple[int, ...]) -> list[np.ndarray] | None:
    """The column sets of ``probe_statistics``' rows for an output of `shape` (batch included) that
    the probe chooses among by inner cross-validation when the layer's time axis is unknown: its
    flat features, then each axis read as time. None otherwise (one set: every column)."""
    if not layout.time_unknown:
        return None
    flat = math.prod(shape[axis] for axis in layout.feature_axes)
    views, start = [np.arange(flat)], flat
    for axis in layout.feature_axes:
        if shape[axis] > 1:
            width = 2 * flat // shape[axis]
            views.append(np.arange(start, start + width))
            start += width
    return views


def _each_axis_as_time(x: torch.Tensor, layout: Layout) -> list[torch.Tensor]:
    """Per-channel statistics of `x` with each feature axis longer than 1 taken as the time axis."""
    return [
        per_channel_statistics(x, Layout(layout.batch_axis, axis, tuple(a for a in layout.feature_axes if a != axis)))
        for axis in layout.feature_axes
        if x.shape[axis] > 1
    ]
