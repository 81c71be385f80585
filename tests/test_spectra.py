"""The probe's spectral statistics (model/spectra.py): a layer that hands the audio on shows its pitch in
the band spectrum, where per-channel means and deviations read only its loudness."""

from __future__ import annotations

import math

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from privacy_checks.model.layout import Layout, per_channel_statistics
from privacy_checks.model.spectra import BANDS, band_edges, band_spectrum, probe_statistics

RATE = 16000
WAVEFORM = Layout(0, 1, ())  # (B, samples)
SEQUENCE = Layout(0, 1, (2,))  # (B, T, C)


def voice(f0: float, seconds: float = 1.0, loudness: float = 1.0) -> torch.Tensor:
    t = torch.arange(round(RATE * seconds)) / RATE
    return loudness * sum(torch.sin(2 * math.pi * f0 * k * t) / k for k in range(1, 6))


def test_edges_are_log_spaced_from_the_lowest_band_to_nyquist() -> None:
    edges = band_edges()
    assert len(edges) == BANDS + 1 and math.isclose(float(edges[-1]), 0.5)
    ratios = edges[1:] / edges[:-1]
    assert torch.allclose(ratios, ratios[0].expand_as(ratios))


def test_a_male_and_a_female_pitch_differ_in_the_bands_not_in_mean_and_deviation() -> None:
    low, high = voice(120.0), voice(210.0)
    waves = torch.stack([low, high])
    moments = per_channel_statistics(waves[:, :, None], SEQUENCE)
    assert torch.allclose(moments[0], moments[1], atol=0.02)  # same loudness: mean and deviation agree
    bands = band_spectrum(waves, WAVEFORM)
    assert bands.shape == (2, BANDS)
    assert float((bands[0] - bands[1]).abs().max()) > 5.0  # the pitch moves power between bands


def test_the_bands_do_not_depend_on_loudness_or_padding() -> None:
    wave = voice(150.0, 0.8)
    padded = torch.cat([wave, torch.zeros(4000)])[None]
    alone = band_spectrum(wave[None], WAVEFORM)
    torch.testing.assert_close(band_spectrum(padded, WAVEFORM, torch.tensor([len(wave)])), alone)
    torch.testing.assert_close(band_spectrum(3.0 * wave[None], WAVEFORM), alone, atol=1e-3, rtol=1e-3)


@settings(max_examples=25, deadline=None)
@given(
    frames=st.integers(1, 300),
    channels=st.integers(1, 90),
    seed=st.integers(0, 2**16),
)
def test_probe_statistics_are_moments_then_bands_and_finite(frames: int, channels: int, seed: int) -> None:
    x = torch.randn((2, frames, channels), generator=torch.Generator().manual_seed(seed))
    rows = probe_statistics(x, SEQUENCE)
    assert rows.shape == (2, 2 * channels + BANDS) and bool(torch.isfinite(rows).all())
    torch.testing.assert_close(rows[:, : 2 * channels], per_channel_statistics(x, SEQUENCE))
    constant = probe_statistics(torch.ones((1, frames, channels)), SEQUENCE)
    assert bool(torch.isfinite(constant).all())


def test_a_layer_without_time_axis_keeps_its_values() -> None:
    x = torch.randn(3, 5)
    torch.testing.assert_close(probe_statistics(x, Layout(0, None, (1,))), x)


def reference_band_spectrum(x: torch.Tensor, layout: Layout, frames: torch.Tensor | None = None) -> torch.Tensor:
    """The band spectrum as first written (torch float64 rfft over (frames, channels), one example at a
    time): what the faster form must reproduce."""
    canonical = layout.canonical(x).float()
    batch, steps = canonical.shape[:2]
    sequence = canonical.reshape(batch, steps, -1)
    if sequence.shape[2] > 64:
        sequence = sequence[:, :, torch.linspace(0, sequence.shape[2] - 1, 64).round().long()]
    lengths = [steps] * batch if frames is None else [max(1, min(steps, int(n))) for n in frames.tolist()]
    edges = band_edges()
    rows = []
    for example, length in zip(sequence, lengths):
        signal = example[:length].double()
        centred = signal - signal.mean(dim=0, keepdim=True)
        power = (torch.fft.rfft(centred, dim=0).abs() ** 2).mean(dim=1)[1:]
        if power.numel() == 0 or float(power.sum()) <= 0:
            rows.append(torch.full((BANDS,), math.log(1e-12), dtype=torch.float64))
            continue
        share = power / power.sum()
        frequencies = torch.arange(1, power.numel() + 1, dtype=torch.float64) / length
        values = torch.empty(BANDS, dtype=torch.float64)
        for band in range(BANDS):
            low, high = float(edges[band]), float(edges[band + 1])
            inside = (frequencies >= low) & (frequencies < high)
            centre = math.sqrt(low * high)
            values[band] = share[inside].mean() if inside.any() else share[torch.argmin((frequencies - centre).abs())]
        rows.append(torch.log((values * length).clamp(min=1e-12)))
    return torch.stack(rows).float()


@settings(max_examples=30, deadline=None)
@given(
    frames=st.integers(1, 700),
    channels=st.integers(1, 130),
    channels_first=st.booleans(),
    padded=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_the_band_spectrum_equals_its_reference_form(
    frames: int, channels: int, channels_first: bool, padded: bool, seed: int
) -> None:
    generator = torch.Generator().manual_seed(seed)
    noise = torch.randn((3, frames, channels), generator=generator)
    # coloured (a random walk beside white noise) and offset per channel: bands far apart in power
    x = noise + 0.05 * noise.cumsum(dim=1) + 3.0 * torch.randn((1, 1, channels), generator=generator)
    layout = SEQUENCE
    if channels_first:  # a convolution's (B, C, T): frames contiguous in memory
        x, layout = x.transpose(1, 2).contiguous(), Layout(0, 2, (1,))
    valid = torch.randint(1, frames + 1, (3,), generator=generator) if padded else None
    torch.testing.assert_close(
        band_spectrum(x, layout, valid), reference_band_spectrum(x, layout, valid), rtol=1e-5, atol=1e-5
    )


def test_the_band_spectrum_of_a_wide_long_convolution_equals_its_reference_form() -> None:
    x = torch.randn((2, 300, 4001), generator=torch.Generator().manual_seed(3)).cumsum(dim=2)  # (B, C, T)
    layout = Layout(0, 2, (1,))
    torch.testing.assert_close(band_spectrum(x, layout), reference_band_spectrum(x, layout), rtol=1e-5, atol=1e-5)
    frames = torch.tensor([4001, 1234])
    torch.testing.assert_close(
        band_spectrum(x, layout, frames), reference_band_spectrum(x, layout, frames), rtol=1e-5, atol=1e-5
    )


def test_the_power_spectrum_is_the_same_by_numpy_and_by_torch() -> None:
    """The CPU form (numpy) and the form on a device (torch, run here on the CPU) agree."""
    from privacy_checks.model.spectra import _power, _power_on_device

    signal = torch.randn((64, 3599), generator=torch.Generator().manual_seed(1)).cumsum(dim=1) + 5.0
    torch.testing.assert_close(
        _power(signal), _power_on_device(signal), rtol=1e-9, atol=1e-9 * float(_power(signal).max())
    )


def test_a_layer_whose_time_axis_is_unknown_is_read_flat_and_over_each_axis():
    """A fixed-length model's sequence-first (T, B, D) layer: flat features, then the statistics with
    T as time, then with D as time; `probe_views` names those column sets."""
    from privacy_checks.model.spectra import probe_views

    x = torch.randn(7, 3, 5)
    layout = Layout(1, None, (0, 2), refusal="the model refused a longer input")
    assert layout.time_unknown
    rows = probe_statistics(x, layout)
    views = probe_views(layout, tuple(x.shape))
    assert views is not None and [len(view) for view in views] == [35, 10, 14]
    assert rows.shape == (3, 59)
    torch.testing.assert_close(rows[:, views[0]], x.permute(1, 0, 2).reshape(3, -1))
    torch.testing.assert_close(rows[:, views[1]], per_channel_statistics(x, Layout(1, 0, (2,))))
    torch.testing.assert_close(rows[:, views[2]], per_channel_statistics(x, Layout(1, 2, (0,))))
    known = Layout(1, None, (0, 2))  # no refusal: features that are not time, read flat alone
    assert probe_views(known, tuple(x.shape)) is None and probe_statistics(x, known).shape == (3, 35)
