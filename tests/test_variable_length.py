"""Clips at their own length (model.input.variable_length): padding does not change a layer's
statistics, clips of 1-8 s are read whole, a model without lengths never sees padding, cut clips
are named, and variable_length false stores exactly what it stored before."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from privacy_checks.data import Corpus, Utterance, load_corpus
from privacy_checks.engine import open_audit
from privacy_checks.engine.corpora import TARGET
from privacy_checks.engine.length_batches import ClipCutWarning, clip_batches
from privacy_checks.engine.representations import (
    CACHE_VERSION,
    INPUT_LAYER,
    EmbeddingStore,
    cache_key,
    feature_batches,
    layer_outputs,
)
from privacy_checks.engine.row_files import RowFile, StreamedArray
from privacy_checks.errors import PrivacyInputError
from privacy_checks.features import FeatureSpec, extract
from privacy_checks.model import Target, load_target, save_checkpoint, zoo
from privacy_checks.model.forward_call import ForwardAdapter, ForwardCall
from privacy_checks.model.layout import Layout, per_channel_statistics
from privacy_checks.model.spectra import probe_statistics

RATE = 16000
HOP = 160  # the model's frames tile the waveform: 100 frames a second
SPEC = FeatureSpec(kind="waveform", sample_rate=RATE, duration_s=8.0, variable_length=True)
LAYERS = ["front", "mix", "context", "pool", "classifier"]


class MaskedContext(nn.Module):
    """Each valid frame plus the mean of its clip's valid frames (time mixing, as attention does)."""

    def forward(self, x, frames):
        valid = (torch.arange(x.shape[-1])[None, :] < frames[:, None]).to(x.dtype)[:, None]
        mean = (x * valid).sum(-1, keepdim=True) / frames[:, None, None]
        return (x + mean) * valid


class MaskedMean(nn.Module):
    def forward(self, x, frames):
        valid = (torch.arange(x.shape[-1])[None, :] < frames[:, None]).to(x.dtype)[:, None]
        return (x * valid).sum(-1) / frames[:, None]


class MaskedNet(nn.Module):
    """forward(waveform, lengths): a conv front end, then everything over each clip's own frames."""

    def __init__(self):
        super().__init__()
        self.front = nn.Conv1d(1, 6, kernel_size=HOP, stride=HOP)
        self.mix = nn.Conv1d(6, 6, kernel_size=1)
        self.context = MaskedContext()
        self.pool = MaskedMean()
        self.classifier = nn.Linear(6, 2)

    def forward(self, waveform, lengths):
        frames = (lengths // HOP).clamp(min=1)
        x = torch.tanh(self.mix(torch.tanh(self.front(waveform[:, None]))))
        return self.classifier(self.pool(self.context(x, frames), frames))


class PlainNet(nn.Module):
    """forward(waveform): no lengths; its statistics layer is over every frame it is given."""

    def __init__(self):
        super().__init__()
        self.front = nn.Conv1d(1, 4, kernel_size=HOP, stride=HOP)
        self.classifier = nn.Linear(4, 2)

    def forward(self, waveform):
        return self.classifier(torch.tanh(self.front(waveform[:, None])).mean(-1))


def clips_corpus(seconds: list[float], name: str = "clips") -> Corpus:
    """Noise plus a tone per clip, clip k `seconds[k]` long (whole multiples of HOP samples)."""
    utterances = tuple(Utterance(f"u{k}", f"s{k % 4}", ("female", "male")[k % 2]) for k in range(len(seconds)))
    lengths = {u.id: round(s * RATE) for u, s in zip(utterances, seconds)}

    def read_audio(utterance: Utterance, sample_rate: int) -> np.ndarray:
        k = int(utterance.id[1:])
        rng = np.random.default_rng(k)
        t = np.arange(lengths[utterance.id]) / sample_rate
        return (0.3 * np.sin(2 * np.pi * (120 + 40 * k) * t) + 0.05 * rng.standard_normal(len(t))).astype(np.float32)

    fingerprint = hashlib.sha256(f"{name}|{seconds}".encode()).hexdigest()
    return Corpus(name, utterances, fingerprint, read_audio)


def masked_target(tmp_path: Path, spec: FeatureSpec = SPEC) -> Target:
    torch.manual_seed(0)
    adapter = ForwardAdapter(MaskedNet().eval(), ForwardCall(lengths="lengths"), RATE, time_axis=1)
    return Target(adapter.eval(), "masked", spec, ("a", "b"), "m" * 64, tmp_path / "masked.pt", "test")


def alone(target: Target, wave: np.ndarray) -> dict[str, np.ndarray]:
    """Each layer's statistics of one clip run by itself, at its own length (no padding)."""
    seen: dict[str, torch.Tensor] = {}
    named = dict(target.module.named_modules())
    hooks = [named[n].register_forward_hook(lambda _m, _i, out, n=n: seen.__setitem__(n, out)) for n in LAYERS]
    try:
        with torch.inference_mode():
            x = torch.from_numpy(wave)[None]
            target.module(x, torch.tensor([len(wave)]))
    finally:
        for hook in hooks:
            hook.remove()
    return {n: probe_statistics(seen[n], target.layout_of(n, seen[n].dim())).numpy()[0] for n in LAYERS}


def batch_shapes(module: nn.Module) -> list[tuple[int, ...]]:
    shapes: list[tuple[int, ...]] = []
    module.register_forward_pre_hook(lambda _m, args: shapes.append(tuple(args[0].shape)))
    return shapes


def test_padding_does_not_change_a_layers_statistics(tmp_path):
    """The acceptance test: one clip alone vs the same clip padded in a batch with a longer clip."""
    target = masked_target(tmp_path)
    assert target.layouts()["front"].time_axis == 2 and target.layouts()["pool"].time_axis is None  # surveyed
    shapes = batch_shapes(target.module)
    single = layer_outputs(target, clips_corpus([2.0], "one"), LAYERS, EmbeddingStore(tmp_path / "a"), statistics=True)
    padded = layer_outputs(
        target, clips_corpus([2.0, 5.0], "two"), LAYERS, EmbeddingStore(tmp_path / "b"), statistics=True
    )
    assert shapes == [(1, 8 * RATE), (1, 2 * RATE), (1, 8 * RATE), (2, 5 * RATE)]  # (duration_s probe, batch)
    own = alone(target, clips_corpus([2.0], "one").read_audio(Utterance("u0", "s0", "female"), RATE))
    for layer in LAYERS:
        np.testing.assert_allclose(padded[layer][0], single[layer][0], atol=1e-5, err_msg=layer)
        np.testing.assert_allclose(padded[layer][0], own[layer], atol=1e-5, err_msg=layer)
    # the longer clip's statistics differ: the test can tell clips apart
    assert not np.allclose(padded["front"][0], padded["front"][1], atol=1e-3)


def test_clips_of_one_to_eight_seconds_are_read_whole(tmp_path):
    seconds = [1.0, 8.0, 2.5, 4.0, 1.5, 6.0, 3.0, 7.0]
    corpus = clips_corpus(seconds)
    target = masked_target(tmp_path)
    target.layouts()  # the survey's calls before counting
    shapes = batch_shapes(target.module)
    store = EmbeddingStore(tmp_path / "cache")
    with warnings.catch_warnings():
        warnings.simplefilter("error", ClipCutWarning)  # nothing is cut at duration_s 8
        maps = layer_outputs(target, corpus, [INPUT_LAYER, *LAYERS], store, batch_size=3, max_map_frames=800)
        statistics = layer_outputs(target, corpus, LAYERS, store, statistics=True, max_map_frames=800)  # with the maps
    assert shapes[1:] == [(3, 2 * RATE + RATE // 2), (3, 6 * RATE), (2, 8 * RATE)]  # ordered by length
    for k, wave in enumerate(corpus.read_audio(u, RATE) for u in corpus.utterances):
        own = alone(target, wave)
        for layer in LAYERS:
            np.testing.assert_allclose(statistics[layer][k], own[layer], atol=1e-5, err_msg=f"{layer}, clip {k}")
        # maps: one shape (the frames at duration_s), the clip's own frames then zeros
        assert maps["front"].shape == (len(corpus), 6, 8 * RATE // HOP)
        frames = len(wave) // HOP
        assert not maps["front"][k][:, frames:].any() and maps["front"][k][:, frames - 1].any()
        np.testing.assert_array_equal(maps[INPUT_LAYER][k][: len(wave)], wave)
        assert not maps[INPUT_LAYER][k][len(wave) :].any()


def test_a_long_map_at_variable_length_is_pooled_over_each_clips_valid_frames(tmp_path):
    """800 frames at duration_s 8 -> 200 frames (audit.max_map_frames) of 4 frames each: each clip's
    windows average its own frames, those after them stay zero; the statistics are unchanged."""
    corpus = clips_corpus([1.0, 8.0, 2.5])
    target = masked_target(tmp_path)
    whole = layer_outputs(target, corpus, ["front"], EmbeddingStore(tmp_path / "a"), max_map_frames=800)
    pooled = layer_outputs(target, corpus, ["front"], EmbeddingStore(tmp_path / "b"), max_map_frames=200)
    assert pooled["front"].shape == (3, 6, 200)
    for k, seconds in enumerate([1.0, 8.0, 2.5]):
        frames = int(seconds * RATE) // HOP  # 100, 800, 250: the last window of the 2.5 s clip is half valid
        own = np.asarray(whole["front"][k])[:, :frames]
        windows = [own[:, w * 4 : min(frames, (w + 1) * 4)].mean(1) for w in range(-(-frames // 4))]
        np.testing.assert_allclose(pooled["front"][k][:, : len(windows)], np.stack(windows, 1), atol=1e-5)
        assert not pooled["front"][k][:, len(windows) :].any()


def test_a_model_without_lengths_never_sees_padding(tmp_path):
    seconds = [1.0, 2.0, 1.0, 3.0, 2.0, 2.0, 1.0]
    corpus = clips_corpus(seconds, "plain")
    torch.manual_seed(0)
    target = Target(PlainNet().eval(), "plain", SPEC, ("a", "b"), "p" * 64, tmp_path / "plain.pt", "test")
    target.layouts()  # the survey's calls before counting
    shapes = batch_shapes(target.module)
    out = layer_outputs(target, corpus, ["front"], EmbeddingStore(tmp_path), batch_size=2, statistics=True)
    assert shapes[0] == (1, 8 * RATE)  # the frames at duration_s
    assert sorted(shapes[1:]) == [(1, RATE), (1, 2 * RATE), (1, 3 * RATE), (2, RATE), (2, 2 * RATE)]
    with torch.inference_mode():
        for k, utterance in enumerate(corpus.utterances):
            front = target.module.front(torch.from_numpy(corpus.read_audio(utterance, RATE))[None, None])
            expected = probe_statistics(front, Layout(0, 2, (1,))).numpy()[0]
            np.testing.assert_allclose(out["front"][k], expected, atol=1e-5)


def test_clips_longer_than_duration_are_cut_with_one_warning(tmp_path):
    corpus = clips_corpus([1.0, 3.5, 2.5, 1.5], "long")
    spec = dataclasses.replace(SPEC, duration_s=2.0)
    target = masked_target(tmp_path, spec)
    with pytest.warns(ClipCutWarning) as caught:
        out = layer_outputs(target, corpus, LAYERS, EmbeddingStore(tmp_path), statistics=True)
    assert len(caught) == 1
    message = str(caught[0].message)
    assert "2 of 4 clips of long" in message and "duration_s=2 s" in message
    assert "'u1', 3.50 s" in message and "raise model.input.duration_s" in message
    cut = corpus.read_audio(corpus.utterances[1], RATE)[: 2 * RATE]
    np.testing.assert_allclose(out["front"][1], alone(target, cut)["front"], atol=1e-5)


def test_a_layer_without_a_time_axis_in_the_input_is_refused(tmp_path):
    spec = FeatureSpec(kind="custom", function="tests.test_variable_length:flat_features", variable_length=True)
    with pytest.raises(
        PrivacyInputError, match="variable_length needs an input with a time axis.*variable_length: false"
    ):
        next(clip_batches(clips_corpus([1.0]), spec, 4, equal_lengths=False))


def flat_features(waveforms: np.ndarray, sample_rate: int) -> np.ndarray:
    return waveforms[:, :8]


# -- variable_length false: what was stored before the key existed ----------------------------------


def test_variable_length_false_stores_what_it_stored_before(tmp_path):
    """Cache key and rows of a fixed-length pass: the key is the one the field's absence gives (the
    version aside: CACHE_VERSION 2 added the band spectrum to the statistics), and the rows are byte
    for byte the model run on the clips cut or padded to duration_s, in corpus order, batch by batch."""
    spec = FeatureSpec(duration_s=0.5)
    corpus = load_corpus("synthetic:speakers=2,utterances=2,duration=0.7", Path("."))
    torch.manual_seed(0)
    model = zoo.build("small_vgg", num_classes=2).eval()
    path = tmp_path / "model.pt"
    save_checkpoint(path, model, "small_vgg", {"num_classes": 2}, spec, ("a", "b"))
    target = load_target(path)
    assert target.input_spec.variable_length is False
    before = {k: v for k, v in spec.as_dict().items() if k != "variable_length"}
    old_key = json.dumps(
        {"v": CACHE_VERSION, "model": target.fingerprint, "corpus": corpus.fingerprint, "features": before},
        sort_keys=True,
    )
    assert cache_key(target, corpus, spec) == hashlib.sha256(old_key.encode()).hexdigest()[:32]
    store = EmbeddingStore(tmp_path / "cache")
    out = layer_outputs(target, corpus, [INPUT_LAYER, "features.3"], store, batch_size=3)
    stats = layer_outputs(target, corpus, ["features.3"], store, batch_size=3, statistics=True)
    seen: list[torch.Tensor] = []
    hook = target.module.get_submodule("features.3").register_forward_hook(lambda _m, _i, o: seen.append(o))
    with torch.inference_mode():
        batches = list(feature_batches(corpus, spec, 3))
        for _, inputs in batches:
            target.module(inputs)
    hook.remove()
    inputs = torch.cat([b for _, b in batches]).numpy()
    maps = torch.cat(seen)
    assert np.asarray(out[INPUT_LAYER]).tobytes() == inputs.tobytes()
    assert np.asarray(out["features.3"]).tobytes() == maps.numpy().tobytes()
    expected = torch.cat([probe_statistics(m, Layout(0, 3, (1, 2))) for m in seen]).numpy()
    assert np.asarray(stats["features.3"]).tobytes() == expected.tobytes()


def test_checkpoints_round_trip_the_key_and_old_ones_load(tmp_path):
    torch.manual_seed(0)
    model = zoo.build("small_vgg", num_classes=2).eval()
    spec = FeatureSpec(duration_s=0.5, variable_length=True)
    save_checkpoint(tmp_path / "new.pt", model, "small_vgg", {"num_classes": 2}, spec, ("a", "b"))
    assert load_target(tmp_path / "new.pt").input_spec == spec
    payload = torch.load(tmp_path / "new.pt", weights_only=True)
    del payload["input_spec"]["variable_length"]  # a checkpoint written before the key existed
    torch.save(payload, tmp_path / "old.pt")
    assert load_target(tmp_path / "old.pt").input_spec == dataclasses.replace(spec, variable_length=False)
    with pytest.raises(PrivacyInputError, match="variable_length must be true or false"):
        FeatureSpec.from_mapping({"variable_length": "yes"}, where="model.input")


# -- the pieces -----------------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(1, 9), min_size=1, max_size=5), st.integers(0, 2**31 - 1))
def test_statistics_over_valid_frames_equal_those_of_the_cropped_rows(frames, seed):
    steps = max(frames)
    x = torch.from_numpy(np.random.default_rng(seed).standard_normal((len(frames), 3, steps)).astype(np.float32))
    layout = Layout(0, 2, (1,))
    masked = per_channel_statistics(x, layout, torch.tensor(frames))
    for row, valid in enumerate(frames):
        own = per_channel_statistics(x[row : row + 1, :, :valid], layout)[0]
        np.testing.assert_allclose(masked[row].numpy(), own.numpy(), atol=1e-5)


def test_rows_written_at_any_index(tmp_path):
    path = tmp_path / "rows.npy"
    writer = StreamedArray(path, (5, 2), "test/rows")
    writer.write_rows(np.array([3, 0]), np.array([[3, 3], [0, 0]]))
    writer.write_rows(np.array([4, 1, 2]), np.array([[4, 4], [1, 1], [2, 2]]))
    writer.commit()
    np.testing.assert_array_equal(np.load(path), np.repeat(np.arange(5.0), 2).reshape(5, 2))
    np.testing.assert_array_equal(RowFile(path)[[4, 2]], [[4, 4], [2, 2]])
    partial = StreamedArray(tmp_path / "partial.npy", (3, 2), "test/partial")
    partial.write_rows(np.array([2]), np.ones((1, 2)))
    with pytest.raises(AssertionError, match="1 of 3 rows"):
        partial.commit()
    partial.discard()


def test_a_cut_warning_made_an_error_is_a_usage_error(tmp_path):
    spec = dataclasses.replace(SPEC, duration_s=2.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(PrivacyInputError, match="1 of 2 clips of cut.*-W default::privacy_checks") as caught:
            layer_outputs(
                masked_target(tmp_path, spec), clips_corpus([1.0, 3.0], "cut"), ["front"], EmbeddingStore(tmp_path)
            )
    assert "raise duration_s" in str(caught.value)
    assert not list(tmp_path.rglob("*.npy")) and not list(tmp_path.rglob("*.tmp"))  # nothing half-written


def test_an_audit_at_variable_length_reads_the_statistics_of_its_one_forward_pass(tmp_path, one_torch_thread):
    """open_audit end to end (quick budget, the convex probe on): 12 speakers whose pitch gives their
    gender, clips of 1-3 s; the probe's statistics come from the forward pass that stored the maps."""
    rng = np.random.default_rng(0)
    utterances = tuple(Utterance(f"s{s}u{j}", f"s{s}", ("female", "male")[s % 2]) for s in range(12) for j in range(3))
    lengths = {u.id: int(rng.integers(100, 300)) * HOP for u in utterances}

    def read_audio(utterance: Utterance, sample_rate: int) -> np.ndarray:
        speaker = int(utterance.speaker[1:])
        t = np.arange(lengths[utterance.id]) / sample_rate
        noise = np.random.default_rng(len(t)).standard_normal(len(t))
        pitch = (220 if speaker % 2 == 0 else 120) + 5 * speaker
        return (0.3 * np.sin(2 * np.pi * pitch * t) + 0.05 * noise).astype(np.float32)

    corpus = Corpus("pitched", utterances, hashlib.sha256(b"pitched").hexdigest(), read_audio)
    target = masked_target(tmp_path, dataclasses.replace(SPEC, duration_s=3.0))
    target.layouts()
    shapes = batch_shapes(target.module)
    config = {
        "audit": {"budget": "quick", "scenarios": ["worst_case"], "layers": ["front", "pool"], "bootstrap": 100},
    }
    audit = open_audit(target, corpus, config=config, cache_dir=tmp_path / "cache", base_dir=tmp_path)
    results = {case.layer: audit.result(case) for case in audit.cases}
    assert sum(n for n, samples in shapes if samples != 3 * RATE) == len(corpus)  # one pass (and duration_s probes)
    assert results["front"].status == "failed", results["front"]
    probed = audit.outputs.statistics(TARGET, "front")  # what the probe read: over each clip's frames
    assert probed is not None
    np.testing.assert_allclose(probed[5], alone(target, read_audio(utterances[5], RATE))["front"], atol=1e-5)
    assert all(r.status != "error" for r in results.values())


def test_log_mel_inputs_at_their_own_length(tmp_path):
    """A CNN on log-mel images, which takes no lengths: each clip's statistics are those of its own
    image; the stored input keeps the image shape at duration_s with zeros after the clip's frames."""
    spec = FeatureSpec(duration_s=3.0, variable_length=True)
    corpus = clips_corpus([1.0, 2.0, 1.0, 2.5], "mel")
    torch.manual_seed(0)
    target = Target(
        zoo.build("small_vgg", num_classes=2).eval(), "small_vgg", spec, ("a", "b"), "v" * 64, tmp_path / "v.pt", "test"
    )
    maps = layer_outputs(target, corpus, [INPUT_LAYER, "features.3"], EmbeddingStore(tmp_path), batch_size=4)
    statistics = layer_outputs(target, corpus, ["features.3"], EmbeddingStore(tmp_path), statistics=True)
    assert maps[INPUT_LAYER].shape == (len(corpus), *spec.shape)
    for k, utterance in enumerate(corpus.utterances):
        wave = corpus.read_audio(utterance, RATE)
        image = extract(spec, wave[None], n_samples=len(wave))  # the clip's own frames
        frames = image.shape[-1]
        assert frames == len(wave) // spec.hop_length + 1
        np.testing.assert_array_equal(maps[INPUT_LAYER][k][..., :frames], image[0].numpy())
        assert not maps[INPUT_LAYER][k][..., frames:].any()
        with torch.inference_mode():
            own = target.module.features[:4](image)
        np.testing.assert_allclose(
            statistics["features.3"][k], probe_statistics(own, Layout(0, 3, (1, 2)))[0], atol=1e-5
        )
    padded = next(clip_batches(clips_corpus([1.0, 2.5], "two"), spec, 2, equal_lengths=False))
    assert padded.inputs.shape[-1] == int(2.5 * RATE) // spec.hop_length + 1
    assert padded.steps.tolist() == [RATE // spec.hop_length + 1, int(2.5 * RATE) // spec.hop_length + 1]


def test_thresholds_yaml_turns_variable_length_on_and_checks_its_type(tmp_path):
    from privacy_checks.config import load_config

    good = tmp_path / "good.yaml"
    good.write_text("model:\n  input: {kind: waveform, variable_length: true, duration_s: 8}\n")
    spec = load_config(good).model.feature_spec()
    assert spec is not None and spec.variable_length and spec.duration_s == 8
    bad = tmp_path / "bad.yaml"
    bad.write_text("model:\n  input: {kind: waveform, variable_length: 1}\n")
    with pytest.raises(PrivacyInputError) as caught:
        load_config(bad)
    assert "bad.yaml:2" in str(caught.value) and "variable_length' must be true or false" in str(caught.value)
