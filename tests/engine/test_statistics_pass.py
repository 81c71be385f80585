"""The convex probe's statistics pass over the uncapped corpus (LayerOutputs.prepare with
statistics): the capped corpus's clips keep the statistics their maps pass stored beside the maps
(at variable length; at fixed length when a layer is pooled), and the forward pass runs over the
other clips only. The figures equal a whole pass's, both cache entries keep their place, and a
later run finds both cached."""

from __future__ import annotations

import dataclasses
import hashlib

import numpy as np
import pytest
import torch
from torch import nn

from privacy_checks import progress
from privacy_checks.data import Corpus, Utterance
from privacy_checks.engine.corpora import TARGET, cap_utterances
from privacy_checks.engine.representations import EmbeddingStore, LayerOutputs, cache_key, layer_outputs
from privacy_checks.features import FeatureSpec
from privacy_checks.model import Target, zoo

RATE = 16000
LAYERS = ["features.3", "features.7"]


def corpus(seconds: list[float]) -> Corpus:
    """Noise plus a tone per clip; 4 speakers, clips in speaker-interleaved order."""
    utterances = tuple(Utterance(f"u{k}", f"s{k % 4}", ("female", "male")[k % 2]) for k in range(len(seconds)))
    lengths = {u.id: round(s * RATE) for u, s in zip(utterances, seconds)}

    def read_audio(utterance: Utterance, sample_rate: int) -> np.ndarray:
        k = int(utterance.id[1:])
        t = np.arange(lengths[utterance.id]) / sample_rate
        noise = np.random.default_rng(k).standard_normal(len(t))
        return (0.3 * np.sin(2 * np.pi * (120 + 40 * k) * t) + 0.05 * noise).astype(np.float32)

    return Corpus("clips", utterances, hashlib.sha256(repr(seconds).encode()).hexdigest(), read_audio)


class Keep:
    """A progress display that keeps what it is shown."""

    def __init__(self, seen: list[progress.Status]) -> None:
        self.seen = seen

    def update(self, status: progress.Status) -> None:
        self.seen.append(status)

    def clear(self) -> None:
        pass


def vgg(tmp_path, variable_length: bool) -> Target:
    torch.manual_seed(0)
    spec = FeatureSpec(duration_s=1.5, variable_length=variable_length)
    module = zoo.build("small_vgg", num_classes=2).eval()
    return Target(module, "small_vgg", spec, ("a", "b"), "v" * 64, tmp_path / "v.pt", "test")


def clips_passed(target: Target) -> list[int]:
    """The batch size of every call of the model (the one-clip shape probe included)."""
    sizes: list[int] = []
    target.module.register_forward_pre_hook(lambda _m, args: sizes.append(int(args[0].shape[0])))
    return sizes


@pytest.mark.parametrize("variable_length", [True, False])
def test_the_statistics_pass_runs_only_the_clips_beyond_the_cap(tmp_path, variable_length):
    whole = corpus([1.0, 1.5, 0.75, 1.25, 1.5, 1.0, 0.5, 1.5, 1.25, 1.0, 0.75, 1.5])
    capped = cap_utterances(whole, 1)  # u0..u3
    target = vgg(tmp_path, variable_length)
    pooled = 4  # at fixed length the maps are pooled: their pass stores the statistics too
    sizes = clips_passed(target)
    outputs = LayerOutputs(target, LAYERS, EmbeddingStore(tmp_path / "cache"), 4, "cpu", max_map_frames=pooled)
    outputs.prepare([(TARGET, capped)])
    assert sum(sizes) - 1 == len(capped)  # (the one-clip shape probe)
    sizes.clear()
    seen: list[progress.Status] = []
    with progress.showing(Keep(seen)):
        outputs.prepare([(TARGET, whole)], statistics=True)
    assert sum(sizes) - 1 == len(whole) - len(capped)  # the capped clips are not run again
    # the progress line counts the whole corpus, the capped clips done from the start
    shown = [(s.done, s.total) for s in seen if s.phase == "forward pass"]
    assert shown[0] == (len(capped), len(whole)) and shown[-1] == (len(whole), len(whole)), shown

    reference = layer_outputs(
        target, whole, LAYERS, EmbeddingStore(tmp_path / "alone"), statistics=True, max_map_frames=pooled
    )
    for layer in LAYERS:
        found = outputs.statistics(TARGET, layer)
        assert found is not None and found.shape == reference[layer].shape
        np.testing.assert_allclose(np.asarray(found), np.asarray(reference[layer]), rtol=1e-5, atol=1e-5)

    # the cache keeps one folder per corpus, each with its own entries: a later run computes nothing
    store = EmbeddingStore(tmp_path / "cache")
    for part, kinds in ((capped, ("", ".stats")), (whole, (".stats",))):
        key = cache_key(target, part, target.input_spec, pooled)
        for layer in LAYERS:
            for kind in kinds:
                assert store.load(key, layer, kind) is not None, (part.name, layer, kind)
    sizes.clear()
    later = LayerOutputs(target, LAYERS, store, 4, "cpu", max_map_frames=pooled)
    later.prepare([(TARGET, capped)])
    later.prepare([(TARGET, whole)], statistics=True)
    assert sizes == []
    for layer in LAYERS:
        np.testing.assert_array_equal(
            np.asarray(later.statistics(TARGET, layer)), np.asarray(outputs.statistics(TARGET, layer))
        )


def test_without_stored_statistics_the_pass_runs_every_clip(tmp_path):
    """Fixed length, nothing pooled: the maps pass stores maps only, so every clip is run."""
    whole = corpus([1.5] * 8)
    capped = cap_utterances(whole, 1)
    target = vgg(tmp_path, variable_length=False)
    sizes = clips_passed(target)
    outputs = LayerOutputs(target, LAYERS, EmbeddingStore(tmp_path / "cache"), 4, "cpu")
    outputs.prepare([(TARGET, capped)])
    sizes.clear()
    outputs.prepare([(TARGET, whole)], statistics=True)
    assert sum(sizes) - 1 == len(whole)


class Loud(nn.Module):
    """Its input where the clip is quiet, NaN where it is loud (an overflow on loud audio)."""

    def forward(self, h: torch.Tensor, wave: torch.Tensor) -> torch.Tensor:
        loud = wave.abs().amax(dim=1) > 0.6
        return h * torch.where(loud, torch.nan, 1.0)[:, None, None]


class LoudNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.front = nn.Conv1d(1, 4, 160, stride=160)
        self.loud = Loud()
        self.head = nn.Linear(4, 2)

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        return self.head(self.loud(self.front(wave[:, None]), wave).mean(dim=2))


def test_a_problem_beyond_the_cap_names_the_clips_index_in_the_corpus(tmp_path):
    whole = corpus([1.0] * 12)
    quiet = whole.read_audio

    def read_audio(utterance: Utterance, sample_rate: int) -> np.ndarray:
        wave = quiet(utterance, sample_rate)
        return 2.5 * wave if utterance.id == "u9" else wave  # beyond the cap (u0..u3): the 6th of the rest

    whole = dataclasses.replace(whole, read_audio=read_audio)
    capped = cap_utterances(whole, 1)
    torch.manual_seed(0)
    spec = FeatureSpec(kind="waveform", duration_s=1.0, variable_length=True)
    target = Target(LoudNet().eval(), "loud", spec, ("a", "b"), "l" * 64, tmp_path / "l.pt", "test")
    outputs = LayerOutputs(target, ["loud"], EmbeddingStore(tmp_path / "cache"), 4, "cpu")
    outputs.prepare([(TARGET, capped)])
    assert outputs.problem("loud") is None
    outputs.prepare([(TARGET, whole)], statistics=True)
    problem = outputs.problem("loud")
    assert problem is not None and "layer 'loud'" in problem and "non-finite" in problem, problem
    assert "first at utterance 9;" in problem and "every utterance" in problem, problem
