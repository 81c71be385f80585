"""Tiny speech-emotion models of the shapes users ship, which the project did not write.

Each factory is usable as ``model.factory: "tests.foreign.models:NAME"`` in thresholds.yaml with a
plain state_dict checkpoint. Weights are random but fixed by `seed`: random conv features already
carry the synthetic corpus's gender cues, which is all a leakage audit needs.

What makes each one foreign to the audit is the layout of its intermediate outputs:
- `channels_first_cnn`: Conv1d over (B, n_mels, T), so conv outputs are (B, channels, time);
- `time_first_transformer`: nn.TransformerEncoder with batch_first=False, outputs (T, B, D);
- `waveform_frontend`: raw audio through a strided Conv1d stack (wav2vec2-style), (B, C, T);
- `packed_gru`: a GRU on a PackedSequence, whose output is (PackedSequence, h_n (layers, B, H));
- `hf_wav2vec2`: transformers' Wav2Vec2ForSequenceClassification built from a tiny config;
- `pass_through`: a waveform model whose first layer hands the raw audio on unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from privacy_checks.features import FeatureSpec
from tests.foreign.reference_probe import LayerView

EMOTIONS = 4


def _built(seed: int, build: Callable[[], nn.Module]) -> nn.Module:
    """`build()` with the global generator (which nn.Module initialisers draw from) seeded, and
    the caller's generator state left as it was."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build()


def _conv1d_block(in_channels: int, out_channels: int, kernel: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv1d(in_channels, out_channels, kernel, padding=kernel // 2),
        nn.BatchNorm1d(out_channels),
        nn.ReLU(),
    )


class ChannelsFirstCNN(nn.Module):
    """A 1-D CNN over log-mel frames: the mel bins are Conv1d's input channels, and its input is
    (B, n_mels, T) as such a model takes it (model.input layout `channels`)."""

    def __init__(self, n_mels: int = 40, channels: int = 32) -> None:
        super().__init__()
        self.conv1 = _conv1d_block(n_mels, channels, 5)
        self.conv2 = _conv1d_block(channels, channels, 5)
        self.classifier = nn.Linear(channels, EMOTIONS)

    def forward(self, mels: torch.Tensor) -> torch.Tensor:  # (B, n_mels, T)
        hidden = self.conv2(self.conv1(mels))  # (B, C, T)
        return self.classifier(hidden.mean(dim=2))


class TimeFirstTransformer(nn.Module):
    """nn.TransformerEncoder with PyTorch's default batch_first=False: blocks see (T, B, D)."""

    def __init__(self, n_mels: int = 40, d_model: int = 32, layers: int = 2) -> None:
        super().__init__()
        self.embed = nn.Linear(n_mels, d_model)
        layer = nn.TransformerEncoderLayer(d_model, nhead=4, dim_feedforward=64, dropout=0.0)
        self.encoder = nn.TransformerEncoder(layer, num_layers=layers, enable_nested_tensor=False)
        self.classifier = nn.Linear(d_model, EMOTIONS)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:  # (B, T, n_mels)
        hidden = self.encoder(self.embed(frames).permute(1, 0, 2))  # (T, B, D)
        return self.classifier(hidden.mean(dim=0))


class ConvLayerNormBlock(nn.Module):
    """One feature-encoder block as HF writes it for feat_extract_norm="layer" (wav2vec2-large,
    HuBERT, WavLM): the LayerNorm runs over channels, so its output alone is (B, T, C)."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int, stride: int) -> None:
        super().__init__()
        self.conv = nn.Conv1d(in_channels, out_channels, kernel, stride=stride, bias=False)
        self.layer_norm = nn.LayerNorm(out_channels)
        self.activation = nn.GELU()

    def forward(self, signal: torch.Tensor) -> torch.Tensor:  # (B, C, T) -> (B, C', T')
        return self.activation(self.layer_norm(self.conv(signal).transpose(1, 2)).transpose(1, 2))


class WaveformFrontEnd(nn.Module):
    """A wav2vec2-style feature encoder on raw audio (strided Conv1d blocks), then mean-pool."""

    # (kernel, stride) per block: at 16 kHz a 2.5 ms first kernel, then one frame every 2.5 ms
    STACK = ((40, 10), (3, 2), (3, 2))

    def __init__(self, channels: int = 64) -> None:
        super().__init__()
        sizes = zip((1,) + (channels,) * (len(self.STACK) - 1), self.STACK)
        self.feature_encoder = nn.Sequential(
            *(ConvLayerNormBlock(c, channels, kernel, stride) for c, (kernel, stride) in sizes)
        )
        self.projection = nn.Linear(channels, channels)
        self.classifier = nn.Linear(channels, EMOTIONS)

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:  # (B, samples)
        frames = self.feature_encoder(waveform.unsqueeze(1)).transpose(1, 2)  # (B, T, C)
        return self.classifier(torch.relu(self.projection(frames)).mean(dim=1))


class PackedGRU(nn.Module):
    """A GRU fed a PackedSequence (every example at full length, as a padded batch would be)."""

    def __init__(self, n_mels: int = 40, hidden: int = 32, layers: int = 2) -> None:
        super().__init__()
        self.frontend = nn.Sequential(nn.Linear(n_mels, hidden), nn.ReLU())
        self.gru = nn.GRU(hidden, hidden, num_layers=layers, batch_first=True)
        self.classifier = nn.Linear(hidden, EMOTIONS)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:  # (B, T, n_mels)
        lengths = torch.full((frames.shape[0],), frames.shape[1], dtype=torch.int64)
        packed = pack_padded_sequence(self.frontend(frames), lengths, batch_first=True, enforce_sorted=False)
        _, last_hidden = self.gru(packed)  # (layers, B, H)
        return self.classifier(last_hidden[-1])


class PassThrough(nn.Module):
    """A waveform model whose first layer (`front`, a 1x1 convolution of weight 1) hands the raw audio
    on: (B, 1, samples), exactly T's input. Its mean is about 0 and its deviation the loudness."""

    def __init__(self) -> None:
        super().__init__()
        self.front = nn.Conv1d(1, 1, 1, bias=False)
        with torch.no_grad():
            self.front.weight.fill_(1.0)
        self.body = nn.Sequential(nn.Conv1d(1, 16, 400, stride=160), nn.ReLU())
        self.classifier = nn.Linear(16, EMOTIONS)

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:  # (B, samples)
        return self.classifier(self.body(self.front(waveform.unsqueeze(1))).mean(dim=-1))


def channels_first_cnn(n_mels: int = 40, seed: int = 0) -> nn.Module:
    return _built(seed, lambda: ChannelsFirstCNN(n_mels))


def time_first_transformer(n_mels: int = 40, seed: int = 0) -> nn.Module:
    return _built(seed, lambda: TimeFirstTransformer(n_mels))


def waveform_frontend(seed: int = 0) -> nn.Module:
    return _built(seed, lambda: WaveformFrontEnd())


def packed_gru(n_mels: int = 40, seed: int = 0) -> nn.Module:
    return _built(seed, lambda: PackedGRU(n_mels))


def pass_through(seed: int = 0) -> nn.Module:
    return _built(seed, lambda: PassThrough())


def hf_wav2vec2(seed: int = 0, **overrides: Any) -> nn.Module:
    """A random-weights Wav2Vec2ForSequenceClassification: hidden 32, 2 layers, 2 conv layers."""
    from transformers import Wav2Vec2Config, Wav2Vec2ForSequenceClassification

    settings: dict[str, Any] = {
        "hidden_size": 32,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "intermediate_size": 64,
        "conv_dim": (32, 32),
        "conv_kernel": (10, 3),
        "conv_stride": (5, 2),
        "num_conv_pos_embeddings": 16,
        "num_conv_pos_embedding_groups": 4,
        "classifier_proj_size": 16,
        "num_labels": EMOTIONS,
        "mask_time_prob": 0.0,
        # the large models' layout (and one whose layers the reference probe reads at >= 0.85)
        "feat_extract_norm": "layer",
    }
    settings.update(overrides)
    return _built(seed, lambda: Wav2Vec2ForSequenceClassification(Wav2Vec2Config(**settings)))


# --- What the reference probe needs to know: each model's input and its layers' true axes ---------


def _unpacked(output: Any) -> torch.Tensor:
    """A GRU's (PackedSequence, h_n) output as its padded (B, T, H) sequence."""
    from torch.nn.utils.rnn import pad_packed_sequence

    return pad_packed_sequence(output[0], batch_first=True)[0]


def _last_hidden(output: Any) -> torch.Tensor:
    return output[1]  # h_n: (layers, B, H)


def _batch_time(*modules: str) -> tuple[LayerView, ...]:
    return tuple(LayerView(m, batch_axis=0, time_axis=1) for m in modules)


def _batch_channels_time(*modules: str) -> tuple[LayerView, ...]:
    return tuple(LayerView(m, batch_axis=0, time_axis=2) for m in modules)


def _time_batch(*modules: str) -> tuple[LayerView, ...]:
    return tuple(LayerView(m, batch_axis=1, time_axis=0) for m in modules)


CLASSIFIER = LayerView("classifier", batch_axis=0, time_axis=None)


@dataclass(frozen=True)
class ForeignModel:
    """A model under test: its factory (for thresholds.yaml), its input, and its layers' true axes."""

    name: str  # the factory's name in this module
    input: Mapping[str, Any]  # thresholds.yaml model.input
    views: tuple[LayerView, ...]  # every split point worth reading, in execution order
    needs: str | None = None  # an optional package the model is built from

    @property
    def factory(self) -> str:
        return f"{__name__}:{self.name}"

    def build(self, seed: int = 0) -> nn.Module:
        return globals()[self.name](seed=seed)

    def input_spec(self, duration_s: float) -> FeatureSpec:
        return FeatureSpec.from_mapping({**self.input, "duration_s": duration_s})


LOGMEL_FRAMES = {"kind": "logmel", "sample_rate": 16000, "n_mels": 40, "layout": "sequence"}
LOGMEL_CHANNELS = {**LOGMEL_FRAMES, "layout": "channels"}
WAVEFORM = {"kind": "waveform", "sample_rate": 16000}
_ENCODER_LAYERS = [f"encoder.layers.{i}" for i in range(2)]
_HF_CONV = [f"wav2vec2.feature_extractor.conv_layers.{i}" for i in range(2)]

FOREIGN_MODELS = {
    m.name: m
    for m in (
        ForeignModel(
            "channels_first_cnn",
            LOGMEL_CHANNELS,
            (*_batch_channels_time("conv1.0", "conv1.1", "conv1.2", "conv2.0", "conv2.1", "conv2.2"), CLASSIFIER),
        ),
        ForeignModel(
            "time_first_transformer",
            LOGMEL_FRAMES,
            (
                *_batch_time("embed"),
                *_time_batch(*(f"{layer}.{part}" for layer in _ENCODER_LAYERS for part in ("norm1", "norm2"))),
                *_time_batch(*_ENCODER_LAYERS),
                CLASSIFIER,
            ),
        ),
        ForeignModel(
            "waveform_frontend",
            WAVEFORM,
            (
                *(
                    view
                    for i in range(len(WaveformFrontEnd.STACK))
                    for view in (
                        *_batch_channels_time(f"feature_encoder.{i}.conv"),
                        *_batch_time(f"feature_encoder.{i}.layer_norm"),
                        *_batch_channels_time(f"feature_encoder.{i}.activation"),
                    )
                ),
                *_batch_time("projection"),
                CLASSIFIER,
            ),
        ),
        ForeignModel(
            "packed_gru",
            LOGMEL_FRAMES,
            (
                *_batch_time("frontend.0", "frontend.1"),
                LayerView("gru", batch_axis=0, time_axis=1, pick=_unpacked),
                LayerView("gru", batch_axis=1, time_axis=None, label="gru[h_n]", pick=_last_hidden),
                CLASSIFIER,
            ),
        ),
        ForeignModel(
            "hf_wav2vec2",
            WAVEFORM,
            (
                *(
                    view
                    for c in _HF_CONV
                    for view in (
                        *_batch_channels_time(f"{c}.conv"),
                        *_batch_time(f"{c}.layer_norm"),
                        *_batch_channels_time(f"{c}.activation"),
                    )
                ),
                *_batch_time("wav2vec2.feature_projection", "wav2vec2.feature_projection.projection"),
                # post-norm blocks: a block's final_layer_norm (a leaf) emits the block's output
                *_batch_time(*(f"wav2vec2.{x}{part}" for x in _ENCODER_LAYERS for part in ("", ".final_layer_norm"))),
                CLASSIFIER,
            ),
            needs="transformers",
        ),
    )
}
