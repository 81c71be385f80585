"""Hugging Face save_pretrained folders (issue 14): tiny random-weights wav2vec2-family classifiers
built from configs offline, loaded with their blocks as split points (conv layers read as
(B, C, T) by the survey), the input from preprocessor_config.json, the labels from id2label, and
every refusal a usage error naming the folder (or file) and the fix."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

transformers = pytest.importorskip("transformers")

# pytester forgets modules first imported during a test, and transformers' operator libraries cannot
# be registered twice in one process: import the model classes once, here.
from transformers import (  # noqa: E402
    Data2VecAudioConfig,
    Data2VecAudioForSequenceClassification,
    HubertConfig,
    HubertForSequenceClassification,
    Wav2Vec2Config,
    Wav2Vec2ForSequenceClassification,
    WavLMConfig,
    WavLMForSequenceClassification,
)

from privacy_checks.cli import main  # noqa: E402
from privacy_checks.config import ModelSettings  # noqa: E402
from privacy_checks.errors import PrivacyInputError  # noqa: E402
from privacy_checks.model.forward_call import ForwardAdapter  # noqa: E402
from privacy_checks.model.layout import Excluded, Layout  # noqa: E402
from privacy_checks.model.loader import load_target  # noqa: E402
from tests.conftest import FAST_CONFIG  # noqa: E402

TINY: dict[str, Any] = {
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "intermediate_size": 64,
    "conv_dim": (16, 16),
    # 320 samples a frame, as the real models: clips are read up to 8 s, and attention over a
    # finer frame rate would make each forward pass of the survey slow
    "conv_kernel": (20, 16),
    "conv_stride": (20, 16),
    "num_conv_pos_embeddings": 16,
    "num_conv_pos_embedding_groups": 4,
    "classifier_proj_size": 16,
    "id2label": {0: "angry", 1: "happy", 2: "neutral", 3: "sad"},
    "label2id": {"angry": 0, "happy": 1, "neutral": 2, "sad": 3},
}
ARCHITECTURES = {
    "wav2vec2": (Wav2Vec2Config, Wav2Vec2ForSequenceClassification),
    "hubert": (HubertConfig, HubertForSequenceClassification),
    "wavlm": (WavLMConfig, WavLMForSequenceClassification),
    "data2vec_audio": (Data2VecAudioConfig, Data2VecAudioForSequenceClassification),
}
FIX = "save_pretrained(folder, safe_serialization=True)"


def save_folder(path: Path, name: str = "wav2vec2", seed: int = 0, **overrides: Any) -> Path:
    config_class, model_class = ARCHITECTURES[name]
    torch.manual_seed(seed)
    model_class(config_class(**{**TINY, **overrides})).save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("hf")
    return {name: save_folder(root / name, name) for name in ARCHITECTURES}


def copy_of(folders: dict[str, Path], tmp_path: Path, name: str = "wav2vec2") -> Path:
    return Path(shutil.copytree(folders[name], tmp_path / name))


def refused(path: Path, model_config: ModelSettings | None = None, trust: bool = False) -> str:
    with pytest.raises(PrivacyInputError) as info:
        load_target(path, model_config, trust)
    return str(info.value)


def expected_blocks(prefix: str, final_norm: bool = False) -> list[str]:
    """The blocks of a tiny folder; with `final_norm` (do_stable_layer_norm: a layer norm after the
    last transformer layer) the encoder's own output too, which is otherwise its last layer's."""
    return [
        f"{prefix}.feature_extractor.conv_layers.0",
        f"{prefix}.feature_extractor.conv_layers.1",
        f"{prefix}.feature_projection",
        f"{prefix}.encoder.layers.0",
        f"{prefix}.encoder.layers.1",
        *([f"{prefix}.encoder"] if final_norm else []),
        "projector",
        "classifier",
    ]


@pytest.mark.parametrize("name", list(ARCHITECTURES))
def test_a_folder_loads_with_its_blocks_in_depth_order(folders, name):
    target = load_target(folders[name])
    assert target.format == "huggingface" and target.architecture == ARCHITECTURES[name][1].__name__
    assert target.labels == ("angry", "happy", "neutral", "sad")
    assert target.input_spec.kind == "waveform" and target.input_spec.sample_rate == 16000
    assert target.candidate_layers() == expected_blocks(name)
    survey = target.survey()
    for conv in expected_blocks(name)[:2]:  # (B, C, T): never the rank-based (B, T, D) reading
        layout = survey[conv]
        assert isinstance(layout, Layout) and str(layout) == "batch,features,time", layout
    assert str(survey[f"{name}.encoder.layers.0"]) == "batch,time,features"
    excluded = target.excluded_layers()
    assert f"{name}.encoder.layers.0.final_layer_norm" in excluded and name in excluded
    assert all(isinstance(survey[layer], Excluded) for layer in excluded)


def test_a_layout_glob_over_the_blocks_skips_the_modules_inside_them(folders):
    overrides = {"wav2vec2.encoder.layers.*": "batch,time,features"}
    target = load_target(folders["wav2vec2"], ModelSettings(layouts=overrides))
    assert target.survey()["wav2vec2.encoder.layers.1"].evidence.startswith("declared in")
    assert isinstance(target.survey()["wav2vec2.encoder.layers.1.final_layer_norm"], Excluded)


def test_the_model_runs_in_eval_mode_and_gives_the_same_output_twice(folders):
    module = load_target(folders["wav2vec2"]).module
    assert module.training is False and module.wrapped.training is False
    waves = torch.randn(2, 8000)
    with torch.no_grad():
        assert torch.equal(module(waves), module(waves))


def test_without_a_preprocessor_config_the_defaults_follow_the_model(folders, tmp_path):
    module = load_target(folders["wav2vec2"]).module  # feat_extract_norm "group": no mask
    assert module.call.mask is None and module.call.normalize is True
    layer_norm = save_folder(tmp_path / "large", feat_extract_norm="layer")
    assert load_target(layer_norm).module.call.mask == "attention_mask"


def test_the_preprocessor_config_decides_rate_normalisation_and_mask(folders, tmp_path):
    path = copy_of(folders, tmp_path)
    preprocessor = {"feature_extractor_type": "Wav2Vec2FeatureExtractor", "sampling_rate": 8000}
    (path / "preprocessor_config.json").write_text(
        json.dumps({**preprocessor, "do_normalize": False, "return_attention_mask": True})
    )
    target = load_target(path, ModelSettings(input={"duration_s": 0.5}))
    assert target.input_spec.sample_rate == 8000 and target.input_spec.duration_s == 0.5
    assert target.module.call.mask == "attention_mask" and target.module.call.normalize is False
    assert target.module.sample_rate == 8000
    message = refused(path, ModelSettings(input={"kind": "waveform", "sample_rate": 16000}))
    assert "sample_rate 16000" in message and str(path) in message and "preprocessor_config.json" in message


def test_a_feature_extractor_computing_features_is_refused(folders, tmp_path):
    path = copy_of(folders, tmp_path)
    (path / "preprocessor_config.json").write_text(json.dumps({"feature_extractor_type": "ASTFeatureExtractor"}))
    message = refused(path)
    assert "ASTFeatureExtractor" in message and "ONNX" in message and "preprocessor_config.json" in message


def test_the_fingerprint_follows_config_weights_and_preprocessor(folders, tmp_path):
    path = copy_of(folders, tmp_path)
    seen = {load_target(path).fingerprint}
    (path / "preprocessor_config.json").write_text(json.dumps({"sampling_rate": 16000}))
    seen.add(load_target(path).fingerprint)
    config = json.loads((path / "config.json").read_text())
    (path / "config.json").write_text(json.dumps({**config, "id2label": {"0": "a", "1": "b", "2": "c", "3": "d"}}))
    seen.add(load_target(path).fingerprint)
    shutil.copy(save_folder(tmp_path / "other", seed=1) / "model.safetensors", path / "model.safetensors")
    seen.add(load_target(path).fingerprint)
    assert len(seen) == 4


def test_the_intercept_attackers_fresh_copy_shares_names_and_keeps_none_of_the_weights(folders):
    target = load_target(folders["wav2vec2"])
    fresh = target.fresh_model((2, 4))
    assert isinstance(fresh, ForwardAdapter)
    assert fresh._modules is fresh.wrapped._modules and fresh._modules is not target.module._modules
    own, theirs = target.module.state_dict(), fresh.state_dict()
    for key in ("wav2vec2.masked_spec_embed", "wav2vec2.encoder.pos_conv_embed.conv.parametrizations.weight.original1"):
        assert not torch.equal(own[key], theirs[key]), key
    gender, emotion = fresh(torch.randn(3, 8000))
    assert gender.shape == (3, 2) and emotion.shape == (3, 4)


def test_pytorch_model_bin_is_read_only_when_trusted(folders, tmp_path):
    from safetensors.torch import load_file

    path = tmp_path / "bin"
    path.mkdir()
    shutil.copy(folders["wav2vec2"] / "config.json", path)
    torch.save(load_file(folders["wav2vec2"] / "model.safetensors"), path / "pytorch_model.bin")
    message = refused(path)
    assert str(path / "pytorch_model.bin") in message and "pickle" in message
    assert FIX in message and "--privacy-trust-checkpoint" in message
    assert load_target(path, trust_checkpoint=True).candidate_layers() == expected_blocks("wav2vec2")


def _edit_config(path: Path, **changes: Any) -> None:
    config = json.loads((path / "config.json").read_text())
    (path / "config.json").write_text(json.dumps({**config, **changes}))


def test_custom_code_in_the_config_is_refused(folders, tmp_path):
    path = copy_of(folders, tmp_path)
    _edit_config(path, auto_map={"AutoModelForAudioClassification": "modeling_evil.EvilModel"})
    message = refused(path, trust=True)
    assert str(path / "config.json") in message and "auto_map" in message and "custom code" in message
    assert "ONNX" in message


@pytest.mark.parametrize(
    ("damage", "words"),
    [
        ("not json", ["config.json", "is not valid JSON", "save_pretrained"]),
        ("unknown model_type", ["model_type", "cannot read its config.json", "transformers"]),
        ("a text model", ["'bert'", "wav2vec2 family", "ONNX"]),
        ("missing weights", ["no weights", "model.safetensors", FIX]),
        ("weights of another shape", ["do not fit the architecture", FIX]),
        ("fewer weights than layers", ["lack", "wav2vec2.encoder.layers.2", FIX]),
        ("a shard outside the folder", ["../elsewhere.safetensors", "not a file inside"]),
        ("a Git LFS pointer", ["model.safetensors", "Git LFS pointer", "git lfs pull"]),
    ],
)
def test_a_damaged_folder_names_the_folder_and_the_fix(folders, tmp_path, damage, words):
    path = copy_of(folders, tmp_path)
    if damage == "not json":
        (path / "config.json").write_text("{not json")
    elif damage == "unknown model_type":
        _edit_config(path, model_type="no_such_model")
    elif damage == "a text model":
        _edit_config(path, model_type="bert")
    elif damage == "missing weights":
        (path / "model.safetensors").unlink()
    elif damage == "weights of another shape":
        _edit_config(path, hidden_size=48)
    elif damage == "fewer weights than layers":
        _edit_config(path, num_hidden_layers=3)
    elif damage == "a Git LFS pointer":
        (path / "model.safetensors").write_text("version https://git-lfs.github.com/spec/v1\noid sha256:0\nsize 1\n")
    else:
        (path / "model.safetensors").unlink()
        index = {"weight_map": {"classifier.weight": "../elsewhere.safetensors"}}
        (path / "model.safetensors.index.json").write_text(json.dumps(index))
    message = refused(path)
    assert str(path) in message, message
    for word in words:
        assert word in message, (word, message)


def test_without_transformers_the_message_names_the_extra(folders, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "transformers", None)  # import fails as when it is not installed
    assert main(["layers", str(folders["wav2vec2"])]) == 4
    error = capsys.readouterr().err
    assert str(folders["wav2vec2"]) in error and "pip install 'privacy-checks[hf]'" in error
    assert "Traceback" not in error


def test_a_folder_without_config_json_keeps_the_directory_message(tmp_path):
    message = refused(tmp_path)
    assert "is a directory, not a model file" in message


def test_layers_lists_the_blocks_and_the_excluded_modules(folders, capsys):
    assert main(["layers", str(folders["hubert"])]) == 0
    out = capsys.readouterr().out
    assert "HubertForSequenceClassification (huggingface)" in out
    for block in expected_blocks("hubert"):
        assert f"* {block} " in out, block
    assert "hubert.feature_extractor.conv_layers.0  " in out and "batch,features,time" in out
    # the reason many modules share is said once, with the count, the modules listed under it
    assert (
        "modules: not one of the model's blocks" in out and "\n      hubert.encoder.layers.0.attention.q_proj\n" in out
    )
    assert out.count("not one of the model's blocks") == 1


def test_a_refusal_is_a_usage_error_in_pytest(folders, pytester):
    path = Path(shutil.copytree(folders["wav2vec2"], pytester.path / "model"))
    _edit_config(path, auto_map={"AutoModelForAudioClassification": "modeling_evil.EvilModel"})
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--privacy-audit", str(path))
    output = result.stdout.str() + result.stderr.str()
    assert result.ret == pytest.ExitCode.USAGE_ERROR, output
    assert str(path) in output and "custom code" in output
    assert "Traceback" not in output and "INTERNALERROR" not in output


@pytest.mark.parametrize("name", ["wav2vec2", "hubert", "wavlm"])
def test_pytest_audits_a_folder_end_to_end(folders, pytester, name):
    path = Path(shutil.copytree(folders[name], pytester.path / "ser_model"))
    pytester.makefile(".yaml", thresholds=FAST_CONFIG + "model:\n  input: {duration_s: 0.5}\n")
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "-p", "no:xdist", "--privacy-audit", str(path), "--privacy-budget", "quick",
        "--privacy-scenarios", "worst_case", "--privacy-data", "synthetic:speakers=8,utterances=4,duration=0.5",
        "-v",
    )  # fmt: skip
    output = result.stdout.str() + result.stderr.str()
    assert result.ret in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED), output
    assert "Traceback" not in output and "INTERNALERROR" not in output
    items = [line for line in result.outlines if "ser_model::" in line]
    for block in expected_blocks(name):  # every transformer layer (and conv layer, projector, classifier)
        assert any(f"-{block}]" in line for line in items), (block, output[-3000:])


def test_intercept_items_run_at_every_layer_but_the_output(folders, tmp_path):
    from privacy_checks.engine import open_audit

    # conv_layers.0 has 6,400 frames at duration_s 8: whole maps for every layer (audit.max_map_frames)
    config = {
        "audit": {"access": ["intercept"], "scenarios": ["worst_case"], "budget": "quick", "max_map_frames": 8000}
    }
    audit = open_audit(
        folders["wav2vec2"], "synthetic:speakers=8,utterances=2,duration=0.5", config=config, base_dir=tmp_path
    )
    reasons = {case.layer: audit.skip_reason(case) for case in audit.cases}
    assert all(reasons[layer] is None for layer in expected_blocks("wav2vec2")[:-1]), reasons
    assert "output layer" in (reasons["classifier"] or "")
    # at the default (256) the layers longer than that are stored pooled: their intercept items skip
    config["audit"]["max_map_frames"] = 256
    audit = open_audit(
        folders["wav2vec2"], "synthetic:speakers=8,utterances=2,duration=0.5", config=config, base_dir=tmp_path
    )
    reason = audit.skip_reason(next(c for c in audit.cases if c.layer.endswith("conv_layers.0")))
    assert reason is not None and "6400 frames" in reason and "audit.max_map_frames=256" in reason


def test_a_folder_reads_clips_at_their_own_length_up_to_8_s_unless_model_input_says(folders):
    spec = load_target(folders["wav2vec2"]).input_spec
    assert spec.variable_length is True and spec.duration_s == 8.0
    longest = load_target(folders["wav2vec2"], ModelSettings(input={"duration_s": 3.0})).input_spec
    assert longest.variable_length is True and longest.duration_s == 3.0
    fixed = ModelSettings(input={"duration_s": 2.0, "variable_length": False})
    spec = load_target(folders["wav2vec2"], fixed).input_spec
    assert spec.variable_length is False and spec.duration_s == 2.0


def test_a_mask_taking_folder_gives_a_clip_the_same_statistics_alone_and_padded(tmp_path):
    """Engine level, as tests/test_variable_length.py: a 1 s clip alone, and padded to 2.5 s in one
    batch with a longer clip (the model gets the attention mask), give every block the same
    statistics over the clip's own frames."""
    import numpy as np

    from privacy_checks.engine.representations import EmbeddingStore, layer_outputs
    from privacy_checks.model.layers import representation
    from privacy_checks.model.spectra import probe_statistics
    from tests.test_variable_length import RATE, clips_corpus

    path = save_folder(tmp_path / "masked", feat_extract_norm="layer", do_stable_layer_norm=True)
    target = load_target(path, ModelSettings(input={"duration_s": 3.0}))
    assert target.module.call.mask == "attention_mask" and target.input_spec.variable_length
    blocks = expected_blocks("wav2vec2", final_norm=True)
    assert target.candidate_layers() == blocks
    batches: list[tuple[int, ...]] = []
    target.module.register_forward_pre_hook(lambda _m, args: batches.append(tuple(args[0].shape)))
    padded = layer_outputs(
        target, clips_corpus([1.0, 2.5], "two"), blocks, EmbeddingStore(tmp_path / "cache"), statistics=True
    )
    assert (2, int(2.5 * RATE)) in batches  # both clips in one forward pass, the shorter one padded
    wave = torch.from_numpy(clips_corpus([1.0], "one").read_audio(clips_corpus([1.0], "one").utterances[0], RATE))
    seen: dict[str, torch.Tensor] = {}
    hooks = [
        target.module.get_submodule(name).register_forward_hook(
            lambda _m, _i, out, name=name: seen.__setitem__(name, representation(out))
        )
        for name in blocks
    ]
    with torch.inference_mode():
        target.module(wave[None], torch.tensor([len(wave)]))  # alone: no padding at all
    for hook in hooks:
        hook.remove()
    for name in blocks:
        alone = probe_statistics(seen[name], target.layout_of(name, seen[name].dim())).numpy()[0]
        np.testing.assert_allclose(padded[name][0], alone, atol=1e-4, rtol=1e-4, err_msg=name)
    assert not np.allclose(padded["wav2vec2.encoder.layers.1"][0], padded["wav2vec2.encoder.layers.1"][1], atol=1e-3)


def test_a_folder_without_a_mask_still_batches_the_synthetic_corpus(folders, tmp_path):
    """feat_extract_norm "group" takes no mask: only clips of one length share a forward pass, and the
    synthetic corpus's clips all have one length, so its batches stay full."""
    from privacy_checks.data import load_corpus
    from privacy_checks.engine.representations import EmbeddingStore, layer_outputs

    target = load_target(folders["wav2vec2"], ModelSettings(input={"duration_s": 1.0}))
    assert target.module.call.mask is None and target.input_spec.variable_length
    target.layouts()
    batches: list[tuple[int, ...]] = []
    target.module.register_forward_pre_hook(lambda _m, args: batches.append(tuple(args[0].shape)))
    corpus = load_corpus("synthetic:speakers=4,utterances=4,duration=0.5", tmp_path)
    layer_outputs(target, corpus, ["wav2vec2.encoder.layers.1"], EmbeddingStore(tmp_path), batch_size=8)
    assert [shape for shape in batches if shape[1] == 8000] == [(8, 8000), (8, 8000)], batches


@pytest.mark.parametrize("name", list(ARCHITECTURES))
def test_frame_counts_are_the_models_own(folders, name):
    """Each conv layer's frames, and every later layer's, as transformers counts them."""
    from privacy_checks.model.hf_folder import conv_frame_counts

    target = load_target(folders[name])
    model = target.module.wrapped
    samples = np.array([400, 5119, 16160, 80000, 128000])
    counts = target.frame_counts
    assert counts is not None
    prefix = model.base_model_prefix
    expected = model._get_feat_extract_output_lengths(torch.from_numpy(samples)).numpy()
    np.testing.assert_array_equal(counts(f"{prefix}.encoder.layers.1", samples), expected)
    np.testing.assert_array_equal(counts(f"{prefix}.feature_extractor.conv_layers.0", samples), samples // 20)
    model.config.add_adapter = True  # frames change after the encoder: counted in proportion instead
    assert conv_frame_counts(model) is None


def test_a_short_clip_padded_beside_a_long_one_keeps_its_statistics_at_every_block(tmp_path):
    """With the attention mask, a 1.01 s clip padded to 5 s has 50 valid frames at 50 a second, as
    alone; counted in proportion to the samples it would have 51, one of them reading the padding."""
    from privacy_checks.engine.representations import EmbeddingStore, layer_outputs
    from tests.test_variable_length import clips_corpus

    path = save_folder(tmp_path / "masked", feat_extract_norm="layer")  # group norm must not be padded
    (path / "preprocessor_config.json").write_text(
        json.dumps({"sampling_rate": 16000, "do_normalize": True, "return_attention_mask": True})
    )
    target = load_target(path, ModelSettings(input={"duration_s": 5.0}))
    layers = [name for name, layout in target.layouts().items() if layout.time_axis is not None]
    assert len(layers) == 6  # two conv layers, the projection, two transformer layers, the projector
    single = layer_outputs(target, clips_corpus([1.01], "one"), layers, EmbeddingStore(tmp_path / "a"), statistics=True)
    padded = layer_outputs(
        target, clips_corpus([1.01, 5.0], "two"), layers, EmbeddingStore(tmp_path / "b"), statistics=True
    )
    for layer in layers:
        np.testing.assert_allclose(padded[layer][0], single[layer][0], atol=2e-5, err_msg=layer)


def test_the_encoders_output_is_a_block_where_it_is_not_its_last_layers(tmp_path):
    """A new-user trial: a SEW folder's last hidden state (upsampled back to the frame rate after its
    squeezed layers; an independent probe read gender at 0.88 there) was no split point. The
    encoder is one wherever something follows its last layer (SEW's upsampling, a stable layer norm),
    and not where its output is its last layer's, value for value (wav2vec2-base)."""
    from transformers import SEWConfig, SEWForSequenceClassification

    torch.manual_seed(0)
    config = SEWConfig(**{**TINY, "squeeze_factor": 2})
    SEWForSequenceClassification(config).save_pretrained(tmp_path / "sew")
    layers = load_target(tmp_path / "sew").candidate_layers()
    assert layers.index("sew.encoder.layers.1") < layers.index("sew.encoder") < layers.index("projector")
    plain = load_target(save_folder(tmp_path / "plain")).candidate_layers()
    assert "wav2vec2.encoder" not in plain and "wav2vec2.encoder.layers.1" in plain
