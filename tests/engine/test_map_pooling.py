"""Bounded storage of layer outputs: maps over audit.max_map_frames pooled (means kept, shorter maps
byte for byte), outputs reduced inside their hooks (an in-place op after the layer changes
nothing), the forward-pass batch sized by the layers' bytes, and pooled layers' native-map items
skipped with the reason."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from privacy_checks.data import load_corpus
from privacy_checks.engine import map_pooling, open_audit
from privacy_checks.engine.map_pooling import forward_batch_size, pooled_map
from privacy_checks.engine.representations import INPUT_LAYER, EmbeddingStore, layer_outputs
from privacy_checks.engine.results import SKIPPED
from privacy_checks.features import FeatureSpec, extract
from privacy_checks.model import Target
from privacy_checks.model.layout import Layout
from privacy_checks.model.spectra import probe_statistics
from privacy_checks.threat_model import Access
from tests.conftest import DEMO

SPEC = FeatureSpec(duration_s=0.5, layout="sequence", n_mels=16)  # (26, 16) frames per example
CORPUS = "synthetic:speakers=4,utterances=2,duration=0.5"


@settings(max_examples=60, deadline=None)
@given(frames=st.integers(2, 400), limit=st.integers(1, 64), channels=st.integers(1, 5), seed=st.integers(0, 99))
def test_a_longer_map_is_pooled_to_exactly_the_limit_with_its_mean_kept(frames, limit, channels, seed):
    rows = np.random.default_rng(seed).normal(size=(3, channels, frames)).astype(np.float32)  # (B, C, T)
    out = pooled_map(rows, 2, limit)
    if frames <= limit:
        assert out is rows  # untouched: byte for byte
        return
    assert out.shape == (3, channels, limit) and out.dtype == np.float32
    np.testing.assert_allclose(out.mean(axis=2), rows.mean(axis=2), atol=1e-5)
    assert (out.min(axis=2) >= rows.min(axis=2) - 1e-5).all() and (out.max(axis=2) <= rows.max(axis=2) + 1e-5).all()


def test_windows_are_contiguous_means_and_padding_stays_zero():
    rows = np.arange(12, dtype=np.float32).reshape(1, 12, 1)  # (B, T, D)
    np.testing.assert_array_equal(pooled_map(rows, 1, 4)[0, :, 0], [1, 4, 7, 10])  # windows of 3 frames
    # variable length: 7 valid frames of 12 -> windows over valid frames only, zero where none is valid
    padded = rows.copy()
    padded[0, 7:] = 0
    out = pooled_map(padded, 1, 4, valid=np.array([7]))[0, :, 0]
    np.testing.assert_allclose(out, [1, 4, 6, 0])


def test_maps_within_the_limit_are_stored_byte_for_byte(tmp_path):
    target = target_of(InPlace)
    corpus = load_corpus(CORPUS, Path("."))
    maps = layer_outputs(target, corpus, ["conv", INPUT_LAYER], EmbeddingStore(tmp_path), batch_size=3)
    np.testing.assert_array_equal(np.asarray(maps["conv"]), before_relu(target, corpus))
    short = layer_outputs(target, corpus, ["conv"], EmbeddingStore(tmp_path / "b"), max_map_frames=10)
    assert short["conv"].shape == (len(corpus), 6, 10)  # (N, C, T): 26 frames pooled to 10
    np.testing.assert_allclose(np.asarray(short["conv"]).mean(2), before_relu(target, corpus).mean(2), atol=1e-5)


class InPlace(nn.Module):
    """A conv layer whose output an in-place ReLU overwrites right after it."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv1d(16, 6, 3, padding=1)
        self.act = nn.ReLU(inplace=True)
        self.head = nn.Linear(6, 2)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:  # (B, T, 16)
        return self.head(self.act(self.conv(frames.transpose(1, 2))).mean(2))


def target_of(module_class: type[nn.Module]) -> Target:
    torch.manual_seed(0)
    return Target(module_class().eval(), "inplace", SPEC, (), "i" * 64, Path("inplace.pt"), "test")


def before_relu(target: Target, corpus) -> np.ndarray:
    """The conv layer's output, run alone (no ReLU after it)."""
    x = extract(SPEC, np.stack([corpus.read_audio(u, SPEC.sample_rate) for u in corpus.utterances]))
    with torch.no_grad():
        return target.module.conv(x.transpose(1, 2).contiguous()).numpy()


def test_statistics_are_reduced_in_the_hook_before_an_in_place_op_overwrites_the_output(tmp_path):
    target = target_of(InPlace)
    corpus = load_corpus(CORPUS, Path("."))
    stats = layer_outputs(target, corpus, ["conv"], EmbeddingStore(tmp_path), batch_size=3, statistics=True)
    expected = probe_statistics(torch.from_numpy(before_relu(target, corpus)), Layout(0, 2, (1,)))
    assert (before_relu(target, corpus) < 0).any()  # the ReLU would change them
    np.testing.assert_allclose(np.asarray(stats["conv"]), expected.numpy(), atol=1e-6)


def test_a_large_layer_makes_the_forward_batches_smaller(tmp_path, monkeypatch):
    shapes = {"small": (1, 6, 51), "large": (1, 512, 14_399)}  # wav2vec2's conv_layers.0 on 4.5 s: ~29 MB
    assert forward_batch_size(shapes, ["small"], 32) == 32
    assert forward_batch_size(shapes, ["small", "large"], 32) == 9  # 256 MB / 29.5 MB
    assert forward_batch_size(shapes, ["large"], 32, budget=1) == 1  # never below one clip
    # in a forward pass: a budget of two clips' conv output gives batches of two
    monkeypatch.setattr(map_pooling, "CAPTURE_BUDGET_BYTES", 2 * 4 * 6 * 26)  # conv: (6, 26) per clip
    target = target_of(InPlace)
    target.layouts()  # the survey's calls before counting
    calls: list[int] = []
    handle = target.module.register_forward_pre_hook(lambda _m, args: calls.append(args[0].shape[0]))
    layer_outputs(target, load_corpus(CORPUS, Path(".")), ["conv"], EmbeddingStore(tmp_path), batch_size=32)
    handle.remove()
    assert calls == [1, 2, 2, 2, 2]  # the shapes on one clip of duration_s, then 8 clips two by two


@pytest.fixture(scope="module")
def pooled_audit(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pooled")
    config = {
        "audit": {
            "access": ["encoder", "intercept"],
            "scenarios": ["worst_case"],
            "budget": "thorough",
            "folds": 2,
            "max_map_frames": 60,  # the demo's features.2 has 101 frames, features.3 50
        }
    }
    corpus = "synthetic:speakers=4,utterances=2,duration=1.0"
    return open_audit(DEMO, corpus, config=config, cache_dir=tmp / "cache" / "embeddings", base_dir=tmp)


def test_a_pooled_layers_tail_clone_and_intercept_items_skip_naming_the_layer_and_the_setting(pooled_audit):
    audit = pooled_audit
    tail = [c for c in audit.cases if c.used_head == "tail_clone" and c.attack.access == Access.ENCODER]
    intercept = [c for c in audit.cases if c.attack.access == Access.INTERCEPT]
    assert tail and intercept
    for case in [*tail, *intercept]:
        reason = audit.skip_reason(case)
        if case.layer == "features.2":
            assert reason is not None and "features.2" in reason and "101 frames" in reason
            assert "audit.max_map_frames=60" in reason and "thresholds.yaml" in reason
            assert audit.result(case).status == SKIPPED  # never a pass, and no forward pass needed
        else:
            assert reason is None or "max_map_frames" not in reason
    generic = next(
        c
        for c in audit.cases
        if c.layer == "features.2" and c.attack.access == Access.ENCODER and c.used_head != "tail_clone"
    )
    assert audit.skip_reason(generic) is None  # the generic heads read its pooled map


def test_a_map_cached_longer_than_the_limit_is_recomputed_pooled(tmp_path, monkeypatch):
    """A cache entry written before maps were bounded (a whole map under the default's key)."""
    from privacy_checks.engine import representations

    target = target_of(InPlace)
    corpus = load_corpus(CORPUS, Path("."))
    store = EmbeddingStore(tmp_path)
    assert layer_outputs(target, corpus, ["conv"], store)["conv"].shape == (8, 6, 26)  # whole: within 256
    monkeypatch.setattr(representations, "MAX_MAP_FRAMES", 10)  # the default's key, now with a limit of 10
    calls: list[int] = []
    handle = target.module.register_forward_pre_hook(lambda _m, args: calls.append(args[0].shape[0]))
    again = layer_outputs(target, corpus, ["conv"], store, max_map_frames=10)
    handle.remove()
    assert calls and again["conv"].shape == (8, 6, 10)


def test_a_pooled_layers_statistics_come_from_its_native_output_in_the_same_pass(tmp_path):
    """The convex probe reads statistics, never a pooled map's (window means have less spread)."""
    target = target_of(InPlace)
    corpus = load_corpus(CORPUS, Path("."))
    store = EmbeddingStore(tmp_path)
    layer_outputs(target, corpus, ["conv"], store, max_map_frames=10)
    calls: list[int] = []
    handle = target.module.register_forward_pre_hook(lambda _m, args: calls.append(args[0].shape[0]))
    stats = layer_outputs(target, corpus, ["conv"], store, statistics=True, max_map_frames=10)
    handle.remove()
    assert calls == []  # written by the maps pass
    expected = probe_statistics(torch.from_numpy(before_relu(target, corpus)), Layout(0, 2, (1,)))
    np.testing.assert_allclose(np.asarray(stats["conv"]), expected.numpy(), atol=1e-6)


def test_the_probe_reads_the_statistics_pass_when_a_layer_is_pooled(pooled_audit, tmp_path):
    assert pooled_audit.probe._own_statistics  # features.2 is pooled: its maps' spread is not the layer's
    whole = open_audit(
        DEMO,
        "synthetic:speakers=4,utterances=2,duration=1.0",
        config={"audit": {"folds": 2, "scenarios": ["worst_case"]}},
        cache_dir=tmp_path / "embeddings",
        base_dir=tmp_path,
    )
    assert not whole.probe._own_statistics  # nothing pooled, nothing capped: the maps give them, as before
