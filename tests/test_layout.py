"""Layer layouts from behaviour (batch axis follows the batch size, time axis the duration), the
overrides for what behaviour cannot settle, the split points users mean, and the per-channel
statistics the convex probe reads."""

from __future__ import annotations

import re

import pytest
import torch
from torch import nn

from privacy_checks.errors import PrivacyInputError
from privacy_checks.features import FeatureSpec
from privacy_checks.model.layout import Excluded, Layout, infer_layouts, per_channel_statistics
from privacy_checks.model.layout_overrides import apply_overrides, check_layout_text, layout_from_text
from privacy_checks.model.split_points import candidate_points, layer_survey, spec_input, structural_points
from privacy_checks.validation import Invalid

FRAMES_PER_SECOND, DIMS = 20, 8


def sequence_input(batch: int, seconds: float) -> torch.Tensor:
    """(B, T, D) feature frames; T grows with the duration."""
    return torch.randn(batch, round(seconds * FRAMES_PER_SECOND), DIMS, generator=torch.Generator().manual_seed(0))


def image_input(batch: int, seconds: float) -> torch.Tensor:
    """(B, 1, F, T) log-mel maps: F fixed, T grows."""
    return sequence_input(batch, seconds).transpose(1, 2).unsqueeze(1)


class ChannelsFirstCNN(nn.Module):
    """A 1-D CNN on channels-first frames: the Conv1d outputs are (B, C, T)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Sequential(nn.Conv1d(DIMS, 6, 3, padding=1), nn.BatchNorm1d(6), nn.ReLU())
        self.conv2 = nn.Sequential(nn.Conv1d(6, 5, 3, padding=1), nn.ReLU())
        self.head = nn.Linear(5, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.conv2(self.conv1(x.transpose(1, 2))).mean(dim=-1))


class TimeFirstTransformer(nn.Module):
    """PyTorch's default batch_first=False: every encoder output is (T, B, D)."""

    def __init__(self) -> None:
        super().__init__()
        layer = nn.TransformerEncoderLayer(DIMS, nhead=2, dim_feedforward=16, dropout=0.0)
        self.encoder = nn.TransformerEncoder(layer, num_layers=2, enable_nested_tensor=False)
        self.head = nn.Linear(DIMS, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(x.transpose(0, 1)).mean(dim=0))


class LastState(nn.Module):
    """A GRU on packed input returning (PackedSequence, h_n): its intercepted output is the
    PackedSequence padded to (B, T, H), the per-frame outputs the next layer reads."""

    def __init__(self) -> None:
        super().__init__()
        self.gru = nn.GRU(DIMS, 6, num_layers=2, batch_first=True)
        self.head = nn.Linear(6, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lengths = torch.full((x.shape[0],), x.shape[1])
        packed = nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True)
        _, h_n = self.gru(packed)
        return self.head(h_n[-1])


class Image2d(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 3, 3, padding=1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flat = nn.Flatten()
        self.head = nn.Linear(3, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.flat(self.pool(self.conv(x))))


class WeightNormed(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.utils.parametrizations.weight_norm(nn.Conv1d(DIMS, 4, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x.transpose(1, 2))


def layouts(model: nn.Module, make_input=sequence_input, names=None):
    torch.manual_seed(0)
    return infer_layouts(model, make_input, names or [n for n, _ in model.named_modules() if n])


def test_conv1d_output_is_channels_first():
    found = layouts(ChannelsFirstCNN(), names=["conv1.0", "conv1", "conv2.1", "head"])
    assert found["conv1.0"] == Layout(batch_axis=0, time_axis=2, feature_axes=(1,))
    assert found["conv1"] == found["conv2.1"] == found["conv1.0"]
    assert "time axis 2 (20→30 with the duration)" in found["conv1.0"].evidence
    assert found["head"] == Layout(0, None, (1,)), "a pooled head has no time axis"


def test_linear_on_sequence_has_time_axis_1():
    model = nn.Sequential(nn.Linear(DIMS, 5), nn.Tanh())
    assert layouts(model)["0"] == Layout(0, 1, (2,))


def test_time_first_transformer_has_batch_axis_1():
    found = layouts(TimeFirstTransformer(), names=["encoder.layers.0", "encoder.layers.1.linear2", "encoder"])
    assert set(found.values()) == {Layout(batch_axis=1, time_axis=0, feature_axes=(2,))}


def test_gru_last_state_has_batch_axis_1_and_no_time():
    assert layouts(LastState(), names=["gru"])["gru"] == Layout(batch_axis=0, time_axis=1, feature_axes=(2,))


def test_2d_cnn_time_is_the_growing_axis_not_the_fixed_frequency_axis():
    found = layouts(Image2d(), image_input)
    assert found["conv"] == Layout(0, 3, (1, 2))  # (B, C, F, T): F fixed at 8, T 20 -> 30
    assert found["pool"] == Layout(0, None, (1, 2, 3)), "(B, C, 1, 1) after global pooling"
    assert found["flat"] == found["head"] == Layout(0, None, (1,))


def test_weight_norm_parametrization_emits_a_weight_and_is_excluded():
    found = layouts(WeightNormed(), names=["conv", "conv.parametrizations.weight.0"])
    assert found["conv"] == Layout(0, 2, (1,))
    weight = found["conv.parametrizations.weight.0"]
    assert isinstance(weight, Excluded) and weight.reason.startswith("no batch axis")
    assert structural_points(WeightNormed()) == {
        "conv": None,
        "conv.parametrizations.weight.0": "parametrisation internals: it computes a weight, not an activation",
    }


def test_shared_unused_non_tensor_and_mask_outputs_are_excluded():
    class Odd(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a, self.b, self.act = nn.Linear(DIMS, DIMS), nn.Linear(DIMS, 4), nn.ReLU()
            self.unused = nn.Linear(2, 2)

        def forward(self, x):
            return self.b(self.act(self.a(self.act(x))))

    found = layouts(Odd())
    assert found["a"] == Layout(0, 1, (2,))
    assert "called 2 times per forward pass" in found["act"].reason
    assert list(found)[-1] == "unused" and found["unused"].reason.startswith("not called")


def test_flattened_channels_time_is_read_as_flat_features():
    # (B, C·T): the only non-batch axis grows; one channel's mean/std would discard everything.
    found = layouts(nn.Sequential(nn.Linear(DIMS, 3), nn.Flatten()))
    assert found["1"] == Layout(0, None, (1,)) and "read as flat features" in found["1"].evidence


def test_a_head_sized_for_one_duration_leaves_earlier_time_axes_intact():
    class FixedLength(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv1d(DIMS, 3, 1)
            self.head = nn.Linear(3 * FRAMES_PER_SECOND, 4)  # only accepts 1-second inputs

        def forward(self, x):
            return self.head(self.conv(x.transpose(1, 2)).flatten(1))

    found = layouts(FixedLength())
    assert found["conv"] == Layout(0, 2, (1,))
    assert found["head"] == Layout(0, None, (1,)) and "did not reach it" in found["head"].evidence


def test_a_model_refusing_other_durations_leaves_the_time_axis_unknown():
    class Refuses(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv1d(DIMS, 3, 1)
            self.head = nn.Flatten()

        def forward(self, x):
            if x.shape[1] != FRAMES_PER_SECOND:
                raise ValueError(f"invalid dimensions for input: index: 1 Got: {x.shape[1]} Expected: 20")
            return self.head(self.conv(x.transpose(1, 2)))

    found = layouts(Refuses())
    evidence = found["conv"].evidence
    assert "did not reach it (ValueError: invalid dimensions for input: index: 1 Got: " in evidence
    assert "Expected: 20)" in evidence
    # (B, C, T) with T unprovable: flagged, so that a pass read from its flat features is not trusted;
    # (B, D) has no other axis that could be time
    assert found["conv"] == Layout(0, None, (1, 2)) and found["conv"].time_unknown
    assert not found["head"].time_unknown


def test_ambiguous_batch_axis_is_excluded_and_an_override_settles_it():
    class Gram(nn.Module):  # (B, B) similarities between the examples of a batch
        def forward(self, x):
            flat = x.flatten(1)
            return flat @ flat.T

    found = layouts(nn.Sequential(Gram()))
    assert "ambiguous batch axis" in found["0"].reason and found["0"].rank == 2
    assert apply_overrides(found, {"0": "batch,features"})["0"] == Layout(0, None, (1,))


def test_inference_is_deterministic_and_restores_training_mode():
    model = ChannelsFirstCNN().train()
    first, second = layouts(model), layouts(model)
    assert first == second and [r.evidence for r in first.values() if isinstance(r, Layout)] == [
        r.evidence for r in second.values() if isinstance(r, Layout)
    ]
    assert model.training


def test_unknown_module_names_and_a_model_that_cannot_run_are_errors():
    with pytest.raises(ValueError, match="no module named 'conv9'"):
        infer_layouts(ChannelsFirstCNN(), sequence_input, ["conv9"])
    with pytest.raises(RuntimeError, match="cannot run on a batch of 2"):
        infer_layouts(ChannelsFirstCNN(), image_input, ["conv1"])


# ------------------------------------------------------------------------------------------------
# Overrides


def test_override_text_parses_to_layouts():
    assert layout_from_text("batch,channels,time") == Layout(0, 2, (1,))
    assert layout_from_text(" Time, batch ,features") == Layout(1, 0, (2,))
    assert layout_from_text("batch,features") == Layout(0, None, (1,))
    assert check_layout_text("batch,channels,time", ("model", "layouts", "conv1")) == "batch,features,time"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("batch,chanels,time", "unknown axis name 'chanels' (did you mean 'channels'?)"),
        ("time,features", "needs exactly one 'batch' axis, got 0"),
        ("batch,time,time", "at most one 'time' axis, got 2"),
    ],
)
def test_malformed_override_text_is_refused_with_the_key(text, message):
    with pytest.raises(Invalid, match=re.escape(message)) as refused:
        check_layout_text(text, ("model", "layouts", "conv1"))
    assert refused.value.message.startswith("'model.layouts.conv1'")
    with pytest.raises(Invalid, match="put it in quotes"):
        check_layout_text(3, ("model", "layouts", "conv1"))


def test_override_applies_to_named_layers_and_globs():
    found = layouts(ChannelsFirstCNN(), names=["conv1.0", "conv1.2", "conv2.0", "head"])
    applied = apply_overrides(found, {"conv*.0": "batch,features,features", "conv1.0": "batch,channels,time"})
    assert applied["conv1.0"] == Layout(0, 2, (1,))
    assert applied["conv2.0"] == Layout(0, None, (1, 2)) and "declared in" in applied["conv2.0"].evidence
    assert applied["conv1.2"] is found["conv1.2"] and applied["head"] is found["head"]
    assert list(applied) == list(found)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"conv3": "batch,time"}, r"'model.layouts.conv3' matches no layer \(did you mean 'conv1'\?\)"),
        ({"conv1": "batch,time"}, r"names 2 axes \(batch,time\) but layer 'conv1' outputs 3"),
        ({"conv1": "time,batch,features"}, r"batch on axis 1 of layer 'conv1'.*Declare it as 'batch,time,features'"),
        ({"conv1": "batch,chanels,time"}, r"'model.layouts.conv1' for layer 'conv1': unknown axis name 'chanels'"),
        ({"act": "batch,time,features"}, r"layer 'act' cannot be read whatever its layout \(called 2 times"),
        ({"c*": "batch,time,features", "*1": "batch,features,time"}, "matches two layout overrides"),
    ],
)
def test_override_mistakes_name_the_layer_and_the_fix(overrides, message):
    found = {"conv1": Layout(0, 2, (1,)), "act": Excluded("called 2 times per forward pass")}
    with pytest.raises(PrivacyInputError, match=message):
        apply_overrides(found, overrides)


def test_a_glob_passes_over_layers_no_layout_can_read():
    """A new-user trial: `encoder*` on a sequence-first transformer also matched an attention block's
    out_proj (its weights are used, the module is never called), and the whole override was refused."""
    found = {
        "encoder.layers.0": Layout(1, None, (0, 2)),
        "encoder.layers.0.self_attn.out_proj": Excluded("not called by the model's forward pass"),
    }
    applied = apply_overrides(found, {"encoder*": "time,batch,features"})
    assert applied["encoder.layers.0"] == Layout(1, 0, (2,))
    assert applied["encoder.layers.0.self_attn.out_proj"] is found["encoder.layers.0.self_attn.out_proj"]
    with pytest.raises(PrivacyInputError, match=r"matches only layers that cannot be read whatever their layout"):
        apply_overrides(found, {"*out_proj": "batch,features"})


# ------------------------------------------------------------------------------------------------
# Split points


def test_transformer_blocks_are_candidates_in_execution_order():
    points = candidate_points(TimeFirstTransformer(), sequence_input)
    assert {"encoder.layers.0", "encoder.layers.1", "encoder", "encoder.layers.0.self_attn"} <= set(points)
    assert (
        points.index("encoder.layers.0.linear2")
        < points.index("encoder.layers.0")
        < points.index("encoder.layers.1.self_attn")
    )
    assert not any("out_proj" in point or "dropout" in point for point in points)
    assert points[-1] == "head"


def test_conv_blocks_and_named_stages_are_candidates():
    points = candidate_points(ChannelsFirstCNN(), sequence_input)
    assert points == ["conv1.0", "conv1.1", "conv1.2", "conv1", "conv2.0", "conv2.1", "conv2", "head"]


def test_names_that_break_node_ids_are_excluded_with_the_reason():
    class Keyed(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.stages = nn.ModuleDict({"mel/conv": nn.Linear(DIMS, 4), "ok": nn.Linear(4, 4)})

        def forward(self, x):
            return self.stages["ok"](self.stages["mel/conv"](x))

    survey = layer_survey(Keyed(), sequence_input)
    assert survey["stages.ok"] == Layout(0, 1, (2,))
    assert "breaks test ids" in survey["stages.mel/conv"].reason


def test_survey_applies_overrides():
    survey = layer_survey(ChannelsFirstCNN(), sequence_input, overrides={"conv1.*": "batch,features,features"})
    assert survey["conv1.1"] == Layout(0, None, (1, 2)) and survey["conv1"] == Layout(0, 2, (1,))


def test_spec_input_follows_the_feature_spec():
    image = spec_input(FeatureSpec(n_mels=DIMS, duration_s=1.0))
    assert image(2, 1.0).shape == (2, 1, DIMS, 51) and image(3, 1.5).shape == (3, 1, DIMS, 76)
    assert torch.equal(image(2, 1.0), image(2, 1.0))
    assert spec_input(FeatureSpec(kind="waveform", sample_rate=8000))(2, 0.5).shape == (2, 4000)
    sequence = spec_input(FeatureSpec(n_mels=DIMS, layout="sequence"))
    assert layer_survey(ChannelsFirstCNN(), sequence)["conv1.0"] == Layout(0, 2, (1,))


def test_wav2vec2_encoder_layers_and_feature_encoder_convs():
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    config = transformers.Wav2Vec2Config(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        conv_dim=(16, 16),
        conv_stride=(5, 2),
        conv_kernel=(10, 3),
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=2,
        num_labels=4,
        classifier_proj_size=16,
    )
    model = transformers.Wav2Vec2ForSequenceClassification(config)
    waveform = lambda batch, seconds: torch.randn(batch, round(seconds * 1600))
    survey = layer_survey(model, waveform)
    for n in range(2):
        assert survey[f"wav2vec2.encoder.layers.{n}"] == Layout(0, 1, (2,))
        assert survey[f"wav2vec2.feature_extractor.conv_layers.{n}"] == Layout(0, 2, (1,))
    assert survey["wav2vec2"] == Layout(0, 1, (2,)), "a ModelOutput is read at its first tensor"
    assert survey["classifier"] == Layout(0, None, (1,))
    weight = "wav2vec2.encoder.pos_conv_embed.conv.parametrizations.weight.0"
    assert isinstance(survey[weight], Excluded) and "parametrisation" in survey[weight].reason
    points = candidate_points(model, waveform)
    assert not any("parametrizations" in point for point in points)
    assert points.index("wav2vec2.feature_extractor.conv_layers.1") < points.index("wav2vec2.encoder.layers.0")


# ------------------------------------------------------------------------------------------------
# What the probe reads


def test_per_channel_statistics_over_the_true_time_axis():
    x = torch.arange(2 * 3 * 4, dtype=torch.float32).reshape(2, 3, 4)  # (B, C, T)
    stats = per_channel_statistics(x, Layout(0, 2, (1,)))
    assert stats.shape == (2, 6)
    torch.testing.assert_close(stats[:, :3], x.mean(dim=2))
    torch.testing.assert_close(stats[:, 3:], x.std(dim=2, correction=0))
    # The same data laid out (T, B, C) gives the same statistics.
    torch.testing.assert_close(per_channel_statistics(x.permute(2, 0, 1), Layout(1, 0, (2,))), stats)


def test_per_channel_statistics_flatten_feature_axes_and_pooled_outputs():
    x = torch.randn(2, 3, 5, 7)  # (B, C, F, T): C·F = 15 channels
    stats = per_channel_statistics(x, Layout(0, 3, (1, 2)))
    assert stats.shape == (2, 30)
    torch.testing.assert_close(stats[:, :15], x.mean(dim=3).reshape(2, 15))
    assert per_channel_statistics(torch.randn(2, 3, 4), Layout(0, None, (1, 2))).shape == (2, 12)
    one_frame = per_channel_statistics(torch.randn(2, 1, 4), Layout(0, 1, (2,)))
    assert torch.equal(one_frame[:, 4:], torch.zeros(2, 4))


def test_layout_canonical_order_and_validation():
    layout = Layout(1, 0, (2,))
    assert layout.canonical(torch.zeros(7, 2, 5)).shape == (2, 7, 5)
    assert layout.canonical_shape((7, 2, 5)) == (2, 7, 5)
    assert str(layout) == "time,batch,features" and layout.rank == 3
    with pytest.raises(ValueError, match="has 3 axes"):
        layout.canonical(torch.zeros(2, 5))
    with pytest.raises(ValueError, match="exactly once"):
        Layout(0, 0, (1,))
