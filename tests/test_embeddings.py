"""Layer outputs: equal to running T directly, all layers from one forward pass, a content-addressed
disk cache that is hit without any forward pass, and no half-written files after a failure."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from privacy_checks import progress
from privacy_checks.data import load_corpus
from privacy_checks.engine.representations import INPUT_LAYER, EmbeddingStore, RowFile, cache_key, layer_outputs
from privacy_checks.features import FeatureSpec, extract
from privacy_checks.model import Target, load_target, save_checkpoint, zoo

SPEC = FeatureSpec(duration_s=0.5)
CORPUS = "synthetic:speakers=4,utterances=2,duration=0.5"
LAYERS = ["features.3", "features.10", "pool", "classifier.1", "classifier.4"]


@pytest.fixture(scope="module")
def corpus():
    return load_corpus(CORPUS, Path("."))


@pytest.fixture(scope="module")
def target(tmp_path_factory) -> Target:
    torch.manual_seed(0)
    model = zoo.build("small_vgg", num_classes=4).eval()
    path = tmp_path_factory.mktemp("ckpt") / "model.pt"
    save_checkpoint(path, model, "small_vgg", {"num_classes": 4}, SPEC, ("a", "b", "c", "d"))
    return load_target(path)


@pytest.fixture(scope="module")
def features(corpus) -> torch.Tensor:
    """Model inputs computed independently of layer_outputs: one utterance at a time."""
    return torch.cat([extract(SPEC, corpus.read_audio(u, SPEC.sample_rate)[None]) for u in corpus.utterances])


@pytest.fixture
def forward_calls(target):
    """Number of forward passes of T's top module while the test runs."""
    calls = []
    handle = target.module.register_forward_pre_hook(lambda _m, args: calls.append(args[0].shape[0]))
    yield calls
    handle.remove()


def direct_outputs(module: nn.Module, x: torch.Tensor, layers) -> dict[str, np.ndarray]:
    seen: dict[str, torch.Tensor] = {}
    named = dict(module.named_modules())
    handles = [
        named[layer].register_forward_hook(
            lambda _m, _i, out, layer=layer: seen.__setitem__(layer, out.detach().clone())
        )
        for layer in layers
    ]
    try:
        with torch.inference_mode():
            module(x)
    finally:
        for handle in handles:
            handle.remove()
    return {layer: seen[layer].numpy() for layer in layers}


class Recorder:
    """A progress display that keeps every status it is shown."""

    def __init__(self):
        self.statuses = []

    def update(self, status):
        self.statuses.append(status)

    def clear(self):
        pass


def files_under(root: Path) -> list[Path]:
    return sorted(p.relative_to(root) for p in root.rglob("*") if p.is_file())


def no_hooks_left(module: nn.Module) -> bool:
    return all(not m._forward_hooks and not m._forward_pre_hooks for m in module.modules())


def test_outputs_equal_running_the_module(target, corpus, features, tmp_path, forward_calls):
    seen = Recorder()
    with progress.showing(seen):
        out = layer_outputs(target, corpus, LAYERS, EmbeddingStore(tmp_path), batch_size=3)
    # one clip of duration_s (the layers' shapes: they size the batch and the stored maps), then
    # batches of 3, 3, 2: one forward pass per batch for all five layers together
    assert forward_calls == [1, 3, 3, 2]
    assert [(s.phase, s.done, s.total) for s in seen.statuses] == [("forward pass", n, 8) for n in (0, 3, 6, 8)]
    expected = direct_outputs(target.module, features, LAYERS)
    shapes = target.layer_shapes()
    for layer in LAYERS:
        assert out[layer].dtype == np.float32
        assert out[layer].shape == (len(corpus), *shapes[layer])
        np.testing.assert_allclose(out[layer], expected[layer], rtol=1e-5, atol=1e-5)
    assert all(not m._forward_hooks for m in target.module.modules())  # capture hooks removed


def test_all_layers_in_one_pass_then_cache_hit(target, corpus, tmp_path, forward_calls):
    store = EmbeddingStore(tmp_path)
    first = layer_outputs(target, corpus, LAYERS, store)
    assert forward_calls == [1, len(corpus)]  # the shapes on one clip, then ONE pass for every layer
    forward_calls.clear()
    second = layer_outputs(target, corpus, LAYERS, store)
    assert forward_calls == []  # cache hit: T never runs
    for layer in LAYERS:
        assert isinstance(second[layer], RowFile)  # rows read on demand, nothing mapped or held
        np.testing.assert_array_equal(second[layer][:], first[layer][:])
        rows = np.array([0, 2, 3])
        np.testing.assert_array_equal(second[layer][rows], first[layer][:][rows])
    # A new store object over the same folder is a cache hit too (the cache lives on disk).
    third = layer_outputs(target, corpus, LAYERS[:2], EmbeddingStore(tmp_path))
    assert forward_calls == [] and set(third) == set(LAYERS[:2])


def test_only_missing_layers_are_computed(target, corpus, tmp_path, forward_calls):
    store = EmbeddingStore(tmp_path)
    layer_outputs(target, corpus, ["pool"], store)
    folder = store.folder(cache_key(target, corpus, target.input_spec))
    before = (folder / "pool.npy").stat().st_mtime_ns
    forward_calls.clear()
    out = layer_outputs(target, corpus, ["pool", "features.3", INPUT_LAYER], store)
    assert forward_calls == [1, len(corpus)]
    assert (folder / "pool.npy").stat().st_mtime_ns == before  # not rewritten
    stored = ["features.3.npy", "input.npy", "pool.npy"]  # each with its seal (tests/security)
    assert sorted(p.name for p in folder.iterdir()) == sorted(stored + [name + ".seal" for name in stored])
    assert set(out) == {"pool", "features.3", INPUT_LAYER}


def test_input_layer_is_the_features(target, corpus, features, tmp_path):
    out = layer_outputs(target, corpus, [INPUT_LAYER], EmbeddingStore(tmp_path), batch_size=5)
    assert out[INPUT_LAYER].shape == (len(corpus), *SPEC.shape)
    np.testing.assert_allclose(out[INPUT_LAYER], features.numpy(), rtol=1e-6, atol=1e-6)


def test_cache_key_depends_on_corpus_checkpoint_and_features(target, corpus):
    key = cache_key(target, corpus, SPEC)
    assert key == cache_key(target, load_corpus(CORPUS, Path(".")), SPEC)  # deterministic
    other_corpus = load_corpus(CORPUS + ",seed=1", Path("."))
    other_model = dataclasses.replace(target, fingerprint="0" * 64)
    keys = {
        key,
        cache_key(target, other_corpus, SPEC),
        cache_key(other_model, corpus, SPEC),
        cache_key(target, corpus, dataclasses.replace(SPEC, n_mels=32)),
        # model.layouts: the statistics and pooled maps are taken over the time axis it names
        cache_key(dataclasses.replace(target, layout_overrides={"features.*": "batch,channels,time"}), corpus, SPEC),
    }
    assert len(keys) == 5


def test_different_checkpoint_is_not_served_from_cache(target, corpus, tmp_path, forward_calls):
    store = EmbeddingStore(tmp_path)
    layer_outputs(target, corpus, ["pool"], store)
    forward_calls.clear()
    retrained = dataclasses.replace(target, fingerprint="f" * 64)
    layer_outputs(retrained, corpus, ["pool"], store)
    assert forward_calls == [1, len(corpus)]
    assert len([p for p in tmp_path.iterdir() if p.is_dir()]) == 2


def test_no_temp_files_left(target, corpus, tmp_path):
    layer_outputs(target, corpus, [*LAYERS, INPUT_LAYER], EmbeddingStore(tmp_path), batch_size=3)
    key = cache_key(target, corpus, target.input_spec)
    stored = [Path(key) / f"{layer}.npy{seal}" for layer in [*LAYERS, INPUT_LAYER] for seal in ("", ".seal")]
    assert files_under(tmp_path) == sorted(stored)


def test_failure_mid_pass_leaves_no_partial_files(target, corpus, tmp_path):
    reads = []

    def failing_read(utterance, sample_rate):
        reads.append(utterance.id)
        if len(reads) == 3:
            raise OSError("disk went away")
        return corpus.read_audio(utterance, sample_rate)

    broken = dataclasses.replace(corpus, read_audio=failing_read)  # same fingerprint, same cache key
    store = EmbeddingStore(tmp_path)
    with pytest.raises(OSError, match="disk went away"):
        # batch of 2 written to the temp arrays first, then the 3rd read fails
        layer_outputs(target, broken, LAYERS, store, batch_size=2)
    assert len(reads) == 3
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]  # no .npy, no temp file
    assert no_hooks_left(target.module)
    # The next (healthy) run computes everything, as if the failed run never happened.
    out = layer_outputs(target, corpus, LAYERS, store, batch_size=2)
    assert all(out[layer].shape[0] == len(corpus) for layer in LAYERS)


def test_unknown_layer_is_refused_without_leaving_hooks(target, corpus, tmp_path):
    with pytest.raises(KeyError, match="no.such.layer"):
        layer_outputs(target, corpus, ["pool", "no.such.layer"], EmbeddingStore(tmp_path))
    assert no_hooks_left(target.module)
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]


class InPlace(nn.Module):
    """torchvision-style: BatchNorm followed by ReLU(inplace=True), which rewrites BN's output tensor."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.relu = nn.ReLU(inplace=True)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.out = nn.Linear(4, 2)

    def forward(self, x):
        return self.out(self.pool(self.relu(self.bn(self.conv(x)))).flatten(1))


def test_in_place_ops_do_not_rewrite_captured_outputs(corpus, features, tmp_path):
    torch.manual_seed(0)
    module = InPlace().eval()
    target = Target(module, "inplace", SPEC, (), "1" * 64, tmp_path / "m.pt", "test")
    out = layer_outputs(target, corpus, ["bn", "relu"], EmbeddingStore(tmp_path / "cache"))
    with torch.inference_mode():
        bn = module.bn(module.conv(features)).numpy()
    np.testing.assert_allclose(out["bn"], bn, rtol=1e-5, atol=1e-5)
    assert (out["bn"][:] < 0).any()  # BatchNorm's output, not the ReLU's
    np.testing.assert_allclose(out["relu"], np.maximum(bn, 0), rtol=1e-5, atol=1e-5)
