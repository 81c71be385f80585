"""The paper's reference architectures: torchvision's exact sizes, every candidate layer a working
split point (the tail rebuilt from it computes T's own logits with T's weights), application-aware
variants, training through the project's recipe and the checkpoint round trip."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from privacy_checks.cli import main as cli_main
from privacy_checks.data import load_corpus
from privacy_checks.features import FeatureSpec
from privacy_checks.model import load_target, multitask_from_tail, representation, save_checkpoint, zoo
from privacy_checks.study.training import train_emotion_model

LOGMEL = (2, 1, 40, 101)  # two 2-s clips of 40 log-mel bins
TINY_CORPUS = "synthetic:speakers=10,utterances=2,duration=1.0"
# name -> (arch_kwargs at a small width, input batch shape)
SMALL = {
    "vgg16": ({"width": 0.125}, LOGMEL),
    "vgg19": ({"width": 0.125}, LOGMEL),
    "resnet50": ({"width": 0.125}, LOGMEL),
    "densenet121": ({"width": 0.125}, LOGMEL),
    "lstm_ser": ({"width": 0.25}, (2, 101, 32)),
    "transformer_ser": ({"width": 0.25}, (2, 101, 40)),
}
CNNS = ("vgg16", "resnet50", "densenet121")


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def full_size(name: str, **kwargs) -> nn.Module:
    # Meta tensors: exact shapes without allocating (or initialising) 140 M parameters.
    with torch.device("meta"):
        return zoo.build(name, **kwargs)


def small(name: str) -> tuple[nn.Module, torch.Tensor]:
    torch.manual_seed(0)
    kwargs, shape = SMALL[name]
    return zoo.build(name, **kwargs).eval(), torch.randn(shape)


def test_every_architecture_is_registered():
    assert set(SMALL) | {"small_vgg"} <= set(zoo.names())


@pytest.mark.parametrize(
    "name, kwargs, expected",
    [
        ("vgg16", {"pool": (7, 7)}, 138_357_544),
        ("vgg19", {"pool": (7, 7)}, 143_667_240),
        ("resnet50", {"fc": ()}, 25_557_032),
        ("densenet121", {}, 7_978_856),
    ],
)
def test_torchvision_parameter_counts(name, kwargs, expected):
    assert n_params(full_size(name, in_channels=3, num_classes=1000, **kwargs)) == expected


def test_the_papers_resnet50_parameter_count():
    # 1-channel spectrograms, FC 2048 -> 1024 -> 4096 -> 4 emotions.
    stem = 64 * 1 * 7 * 7 + 2 * 64
    trunk = 25_557_032 - (2048 * 1000 + 1000) - (64 * 3 * 7 * 7 + 2 * 64)  # torchvision's minus its stem and fc
    fc = (2048 * 1024 + 1024) + (1024 * 4096 + 4096) + (4096 * 4 + 4)
    assert n_params(full_size("resnet50", num_classes=4, fc=(1024, 4096))) == stem + trunk + fc == 29_814_724


def test_lstm_parameter_count_is_the_papers():
    count = n_params(full_size("lstm_ser", input_dim=32, num_classes=4))
    assert count == 1_068_036  # one bias per gate, as Keras counts
    assert abs(count - 1.06e6) / 1.06e6 < 0.01


def capture(model: nn.Module, x: torch.Tensor, layers: list[str]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """T's logits and each layer's output, intercepted as the project does (first tensor of a tuple)."""
    seen: dict[str, torch.Tensor] = {}

    def hook(name):
        return lambda _m, _i, out: seen.setdefault(name, representation(out).detach().clone())

    handles = [model.get_submodule(name).register_forward_hook(hook(name)) for name in layers]
    try:
        with torch.no_grad():
            logits = model(x)
    finally:
        for handle in handles:
            handle.remove()
    return logits, seen


@pytest.mark.parametrize("name", SMALL)
def test_forward_and_a_tail_from_every_candidate_layer(name):
    model, x = small(name)
    layers = model.candidate_layers()
    logits, outputs = capture(model, x, layers)
    assert logits.shape == (2, 4)
    assert list(outputs) == layers  # every candidate is a module, listed in forward order
    for layer in ["input", *layers]:
        h = x if layer == "input" else outputs[layer]
        tail = model.tail_from(layer)
        if layer == layers[-1]:  # the output layer: nothing to clone
            assert tail is None
            continue
        with torch.no_grad():
            assert tail.eval()(h).shape == (2, 2), layer
            # Same modules as T after the layer: with T's weights loaded it computes T's logits.
            same = model.tail_from(layer, num_classes=4)
            same.load_state_dict(model.after(layer).state_dict())
            assert torch.allclose(same.eval()(h), logits, atol=1e-5), layer
    # Re-initialised, not T's weights.
    fresh, own = model.tail_from("input").state_dict(), model.state_dict()
    first = next(k for k, v in own.items() if v.dtype.is_floating_point and v.dim() > 1)
    assert not torch.equal(next(v for v in fresh.values() if v.shape == own[first].shape), own[first])


@pytest.mark.parametrize("name", SMALL)
def test_application_aware_variant(name):
    model, x = small(name)
    with torch.no_grad():
        gender, emotion = multitask_from_tail(model, (2, 8)).eval()(x)
    assert gender.shape == (2, 2) and emotion.shape == (2, 8)


@pytest.mark.parametrize("name", CNNS)
def test_cnns_train_with_the_project_recipe(name, tmp_path):
    corpus = load_corpus(TINY_CORPUS, tmp_path)
    _, info = train_emotion_model(
        name,
        corpus,
        FeatureSpec(duration_s=1.0),
        epochs=1,
        lr=1e-4,
        batch_size=8,
        seed=0,
        log=lambda _: None,
        arch_kwargs={"width": 0.125},
    )
    assert info["arch_kwargs"] == {"width": 0.125, "num_classes": len(corpus.emotions)}
    assert 0.0 <= info["held_out_emotion_accuracy"] <= 1.0


@pytest.mark.parametrize("name", ["lstm_ser", "transformer_ser"])
def test_sequence_models_take_a_training_step(name):
    model, x = small(name)
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    loss = nn.functional.cross_entropy(model(x), torch.tensor([0, 3]))
    loss.backward()
    torch.optim.Adam(model.parameters(), lr=1e-3).step()
    assert torch.isfinite(loss)
    assert all(not torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_checkpoint_round_trip_keeps_width_and_layers(tmp_path):
    spec = FeatureSpec(duration_s=1.0)
    kwargs = {"num_classes": 4, "width": 0.125, "fc": (64, 128)}
    torch.manual_seed(1)
    model = zoo.build("resnet50", **kwargs).eval()
    path = tmp_path / "resnet.pt"
    save_checkpoint(path, model, "resnet50", kwargs, spec, ("neutral", "happy", "angry", "sad"))
    target = load_target(path)
    x = torch.randn(2, *spec.shape)
    with torch.no_grad():
        assert torch.equal(target.module(x), model(x))
    assert target.candidate_layers() == model.candidate_layers()
    assert target.family == "cnn"
    assert target.tail_from("layer3.0") is not None


def test_every_candidate_layer_has_a_traced_shape(tmp_path):
    path = tmp_path / "resnet.pt"
    model = zoo.build("resnet50", num_classes=4, width=0.125)
    save_checkpoint(path, model, "resnet50", {"num_classes": 4, "width": 0.125}, FeatureSpec(duration_s=1.0), ())
    target = load_target(path)
    assert set(target.candidate_layers()) <= set(target.layer_shapes())


def test_train_command_saves_width(tmp_path, capsys):
    out = tmp_path / "vgg16.pt"
    assert (
        cli_main(
            ["train", "--arch", "vgg16", "--width", "0.125", "--data", TINY_CORPUS, "--epochs", "1", "--out", str(out)]
        )
        == 0
    )
    payload = torch.load(out, weights_only=True)
    assert payload["arch_kwargs"] == {"width": 0.125, "num_classes": 4}
    assert load_target(out).candidate_layers() == zoo.build("vgg16", width=0.125).candidate_layers()
