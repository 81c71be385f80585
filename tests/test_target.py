"""Checkpoint loading (every format gives the original module's outputs), refusals with actionable
messages, layer listing and the attacker's view of T's tail."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from privacy_checks.config import parse_config
from privacy_checks.errors import PrivacyInputError
from privacy_checks.features import FeatureSpec
from privacy_checks.model import CHECKPOINT_FORMAT, load_target, save_checkpoint, zoo
from privacy_checks.model.zoo.vgg import VGGish
from privacy_checks.study.training import export_program

LABELS = ("neutral", "happy", "angry", "sad")
SHORT = FeatureSpec(duration_s=0.5)  # (1, 40, 26): keeps every forward pass and export cheap

# Factory module written into tmp_path for the state_dict + model.factory format.
FACTORY_SOURCE = """
from torch import nn


class TinyNet(nn.Module):
    def __init__(self, hidden=8, num_classes=4):
        super().__init__()
        self.conv = nn.Conv2d(1, hidden, 3, padding=1)
        self.act = nn.ReLU()
        self.drop = nn.Dropout(0.5)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flat = nn.Flatten()
        self.out = nn.Linear(hidden, num_classes)

    def forward(self, x):
        return self.out(self.flat(self.pool(self.drop(self.act(self.conv(x))))))


def build(hidden=8, num_classes=4):
    return TinyNet(hidden, num_classes)
"""


def model_config(factory: str | None = "tiny_factory_mod:build", kwargs: str = "{hidden: 6}"):
    lines = ["model:"]
    if factory:
        lines += [f"  factory: '{factory}'", f"  kwargs: {kwargs}"]
    lines += [
        "  input: {kind: logmel, sample_rate: 16000, n_mels: 40, duration_s: 0.5}",
        "  labels: [neutral, happy, angry, sad]",
    ]
    return parse_config("\n".join(lines) + "\n").model


@pytest.fixture(scope="module")
def vgg() -> VGGish:
    torch.manual_seed(0)
    model = zoo.build("small_vgg", num_classes=len(LABELS))
    # Non-trivial BatchNorm statistics, so a loader that forgot the buffers would be caught.
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
    return model.eval()


@pytest.fixture(scope="module")
def batch() -> torch.Tensor:
    return torch.randn(3, *SHORT.shape, generator=torch.Generator().manual_seed(1))


@pytest.fixture(scope="module")
def project_checkpoint(vgg, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("ckpt") / "model.pt"
    save_checkpoint(path, vgg, "small_vgg", {"num_classes": len(LABELS)}, SHORT, LABELS, {"epochs": 1})
    return path


@pytest.fixture(scope="module")
def exported(vgg, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("export") / "model.pt2"
    export_program(vgg, SHORT, path, "small_vgg", LABELS)
    return path


@pytest.fixture
def factory_on_path(tmp_path, monkeypatch):
    (tmp_path / "tiny_factory_mod.py").write_text(FACTORY_SOURCE)
    monkeypatch.syspath_prepend(str(tmp_path))
    import importlib

    importlib.invalidate_caches()
    yield
    import sys

    sys.modules.pop("tiny_factory_mod", None)


def outputs(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.inference_mode():
        return module(x)


# --- formats ----------------------------------------------------------------------------------------


def test_project_checkpoint_round_trip(project_checkpoint, vgg, batch):
    target = load_target(project_checkpoint)
    assert target.format == "privacy-checks"
    assert target.architecture == "small_vgg"
    assert target.labels == LABELS
    assert target.input_spec == SHORT
    assert len(target.fingerprint) == 64
    assert not target.module.training
    torch.testing.assert_close(outputs(target.module, batch), outputs(vgg, batch), rtol=0, atol=0)
    assert target.describe()["sha256"] == target.fingerprint


def test_project_checkpoint_is_weights_only(project_checkpoint):
    payload = torch.load(project_checkpoint, map_location="cpu", weights_only=True)
    assert payload["format"] == CHECKPOINT_FORMAT
    assert payload["architecture"] == "small_vgg"
    assert payload["labels"] == list(LABELS)
    assert payload["input_spec"] == SHORT.as_dict()
    assert all(isinstance(v, torch.Tensor) for v in payload["state_dict"].values())


def test_committed_demo_checkpoint_loads(demo_checkpoint):
    target = load_target(demo_checkpoint)
    assert target.architecture == "small_vgg"
    assert target.candidate_layers()[0] == "features.2"
    x = torch.zeros((2, *target.input_spec.shape))
    assert outputs(target.module, x).shape == (2, len(target.labels))


def test_state_dict_with_factory(tmp_path, factory_on_path, batch):
    import tiny_factory_mod

    torch.manual_seed(3)
    original = tiny_factory_mod.build(hidden=6).eval()
    path = tmp_path / "weights.pt"
    torch.save(original.state_dict(), path)
    target = load_target(path, model_config())
    assert target.format == "state_dict"
    assert target.architecture == "tiny_factory_mod:build"
    assert target.labels == LABELS
    assert target.input_spec == SHORT
    torch.testing.assert_close(outputs(target.module, batch), outputs(original, batch), rtol=0, atol=0)


def test_export_program_round_trip(exported, vgg, batch):
    target = load_target(exported)  # no config: the input spec travels inside the .pt2
    assert target.format == "torch.export"
    assert target.architecture == "small_vgg"
    assert target.input_spec == SHORT
    assert target.labels == LABELS
    torch.testing.assert_close(outputs(target.module, batch), outputs(vgg, batch))


def test_export_program_layer_hooks_see_named_layers(exported, vgg, batch):
    target = load_target(exported)
    assert target.layer_shapes()["features.3"] == (16, 20, 13)

    def capture(module, name):
        seen = {}
        handle = dict(module.named_modules())[name].register_forward_hook(
            lambda _m, _i, out: seen.setdefault("out", out.detach().clone())
        )
        try:
            outputs(module, batch)
        finally:
            handle.remove()
        return seen["out"]

    for layer in ("features.3", "pool", "classifier.1"):
        torch.testing.assert_close(capture(target.module, layer), capture(vgg, layer))


def test_pickled_module_refused_without_trust(tmp_path, vgg):
    path = tmp_path / "whole.pt"
    torch.save(vgg, path)
    with pytest.raises(PrivacyInputError, match="--privacy-trust-checkpoint") as info:
        load_target(path, model_config(factory=None))
    assert str(path) in str(info.value)


def test_pickled_module_accepted_with_trust(tmp_path, vgg, batch):
    path = tmp_path / "whole.pt"
    torch.save(vgg, path)
    target = load_target(path, model_config(factory=None), trust_checkpoint=True)
    assert target.format == "pickled-module"
    assert target.architecture == "VGGish"
    assert target.input_spec == SHORT
    torch.testing.assert_close(outputs(target.module, batch), outputs(vgg, batch), rtol=0, atol=0)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch.jit is deprecated, still in use
def test_torchscript_without_an_input_spec_asks_for_model_input(tmp_path, vgg):
    """(TorchScript interception itself: tests/test_zoo_audits.py.)"""
    path = tmp_path / "scripted.pt"
    torch.jit.save(torch.jit.script(vgg), str(path))
    with pytest.raises(PrivacyInputError, match="does not say how its input is computed") as info:
        load_target(path, trust_checkpoint=True)
    assert str(path) in str(info.value) and "model:" in str(info.value)


def test_missing_file(tmp_path):
    path = tmp_path / "nope.pt"
    with pytest.raises(PrivacyInputError, match="does not exist") as info:
        load_target(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("damage", ["empty", "junk", "truncated", "central_directory"])
def test_corrupt_file(tmp_path, project_checkpoint, damage):
    good = project_checkpoint.read_bytes()
    data = {
        "empty": b"",
        "junk": b"not a checkpoint at all\n" * 20,
        "truncated": good[: len(good) // 2],
        # the zip's end record survives, the central directory it points at does not
        "central_directory": good[:-300] + b"A" * 270 + good[-30:],
    }[damage]
    path = tmp_path / "broken.pt"
    path.write_bytes(data)
    with pytest.raises(PrivacyInputError) as info:
        load_target(path)
    assert str(path) in str(info.value)


def test_corrupt_export_program(tmp_path):
    path = tmp_path / "broken.pt2"
    path.write_bytes(b"garbage" * 50)
    with pytest.raises(PrivacyInputError, match="torch.export") as info:
        load_target(path)
    assert str(path) in str(info.value)


def test_state_dict_without_factory(tmp_path, vgg):
    path = tmp_path / "weights.pt"
    torch.save(vgg.state_dict(), path)
    for config in (None, model_config(factory=None)):
        with pytest.raises(PrivacyInputError, match=r"model\.factory") as info:
            load_target(path, config)
        message = str(info.value)
        assert str(path) in message and "thresholds.yaml" in message


def test_state_dict_factory_not_importable(tmp_path, vgg):
    path = tmp_path / "weights.pt"
    torch.save(vgg.state_dict(), path)
    with pytest.raises(PrivacyInputError, match="model.factory") as info:
        load_target(path, model_config(factory="no_such_module_xyz:build"))
    assert "no_such_module_xyz:build" in str(info.value)


def test_weights_that_do_not_fit(tmp_path, factory_on_path, vgg):
    path = tmp_path / "weights.pt"
    torch.save(vgg.state_dict(), path)  # VGG weights, TinyNet factory
    with pytest.raises(PrivacyInputError, match="do not fit") as info:
        load_target(path, model_config())
    assert str(path) in str(info.value)


def test_project_checkpoint_weights_that_do_not_fit(tmp_path, vgg):
    path = tmp_path / "model.pt"
    save_checkpoint(path, vgg, "small_vgg", {"num_classes": 7}, SHORT, LABELS)  # head has 4 outputs
    with pytest.raises(PrivacyInputError, match="do not fit"):
        load_target(path)


def test_unknown_architecture(tmp_path, vgg):
    path = tmp_path / "model.pt"
    save_checkpoint(path, vgg, "resnet9000", {}, SHORT, LABELS)
    with pytest.raises(PrivacyInputError, match="unknown architecture 'resnet9000'") as info:
        load_target(path)
    assert "small_vgg" in str(info.value)  # lists the known ones


def test_unknown_architecture_kwargs(tmp_path, vgg):
    path = tmp_path / "model.pt"
    save_checkpoint(path, vgg, "small_vgg", {"num_classes": 4, "bogus": 1}, SHORT, LABELS)
    with pytest.raises(PrivacyInputError, match="bogus") as info:
        load_target(path)
    assert str(path) in str(info.value)


def test_unsupported_payload(tmp_path):
    path = tmp_path / "list.pt"
    torch.save([1, 2, 3], path)
    with pytest.raises(PrivacyInputError, match="not a checkpoint"):
        load_target(path)


def test_missing_input_spec_message_is_well_formed(tmp_path, vgg):
    path = tmp_path / "whole.pt"
    torch.save(vgg, path)
    with pytest.raises(PrivacyInputError, match="model.*input") as info:
        load_target(path, None, trust_checkpoint=True)
    message = str(info.value)
    assert "n_mels: 40, layout: channels}}`" in message and "}}}" not in message


# --- layers and tails -------------------------------------------------------------------------------


def test_layer_shapes_small_vgg_default_spec():
    target = load_target_from_module(zoo.build("small_vgg"), FeatureSpec())
    shapes = target.layer_shapes()
    assert FeatureSpec().shape == (1, 40, 101)
    assert list(shapes) == [
        *(f"features.{i}" for i in range(12)),
        "pool",
        "classifier.0",
        "classifier.1",
        "classifier.2",
        "classifier.4",  # no Dropout
    ]
    assert shapes["features.0"] == (16, 40, 101)
    assert shapes["features.3"] == (16, 20, 50)
    assert shapes["features.7"] == (32, 10, 25)
    assert shapes["features.11"] == (64, 5, 12)
    assert shapes["pool"] == (64, 1, 1)
    assert shapes["classifier.0"] == (64,)
    assert shapes["classifier.2"] == (128,)
    assert shapes["classifier.4"] == (4,)


def test_candidate_layers_small_vgg(project_checkpoint):
    target = load_target(project_checkpoint)
    candidates = target.candidate_layers()
    assert candidates == [
        "features.2",
        "features.3",
        "features.6",
        "features.7",
        "features.10",
        "features.11",
        "pool",
        "classifier.1",
        "classifier.2",
        "classifier.4",
    ]
    order = list(target.layer_shapes())
    assert [order.index(c) for c in candidates] == sorted(order.index(c) for c in candidates)


def test_tail_from_every_candidate(project_checkpoint):
    target = load_target(project_checkpoint)
    shapes = target.layer_shapes()
    own = {name: p.detach().clone() for name, p in target.module.named_parameters()}
    # Random in T: conv/linear weights (dim >= 2) and the BatchNorm running means the fixture drew.
    own_random = [
        t for n, t in (*own.items(), *target.module.named_buffers()) if t.dim() >= 2 or n.endswith("running_mean")
    ]
    torch.manual_seed(5)
    for layer in target.candidate_layers():
        tail = target.tail_from(layer)
        if layer == "classifier.4":
            assert tail is None  # the output layer: nothing left to clone
            continue
        assert tail is not None, layer
        tail.eval()
        x = torch.randn(3, *shapes[layer])
        assert outputs(tail, x).shape == (3, 2), layer
        # Fresh weights and statistics: nothing of the tail equals T's tensor of the same shape.
        for t in (*tail.parameters(), *tail.buffers()):
            assert not any(t.shape == q.shape and torch.equal(t.detach(), q) for q in own_random), layer
    # T itself is untouched by building tails.
    assert all(torch.equal(p, own[n]) for n, p in target.module.named_parameters())


def test_tail_from_unknown_layer(project_checkpoint):
    with pytest.raises(KeyError):
        load_target(project_checkpoint).tail_from("nonsense")


class Generic(nn.Module):
    """No candidate_layers/tail_from; definition order differs from execution order."""

    def __init__(self):
        super().__init__()
        self.head = nn.Linear(8, 3)
        self.drop = nn.Dropout(0.2)
        self.body = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU())
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.ident = nn.Identity()

    def forward(self, x):
        h = self.pool(self.drop(self.body(x))).flatten(1)
        return self.head(self.ident(h))


def load_target_from_module(module: nn.Module, spec: FeatureSpec):
    from privacy_checks.model import Target

    return Target(module.eval(), "test", spec, (), "0" * 64, Path("x.pt"), "test")


def test_generic_module_lists_leaves_and_blocks_in_execution_order():
    target = load_target_from_module(Generic(), SHORT)
    assert target.layer_shapes() == {
        "body.0": (8, 40, 26),
        "body.1": (8, 40, 26),
        "body": (8, 40, 26),  # a named stage (nn.Sequential): a block users mean
        "pool": (8, 1, 1),
        "head": (3,),
    }
    assert target.candidate_layers() == ["body.0", "body.1", "body", "pool", "head"]
    layouts = target.layouts()
    assert str(layouts["body.0"]) == "batch,features,features,time"
    assert str(layouts["pool"]) == "batch,features,features,features"  # pooled: no axis follows the duration
    assert target.excluded_layers() == {}
    assert target.tail_from("pool") is None  # cannot rebuild its tail: the caller uses a probe


class TimeFirst(nn.Module):
    """A batch_first=False encoder layer and GRU: outputs whose batch is not on axis 0."""

    def __init__(self):
        super().__init__()
        self.block = nn.TransformerEncoderLayer(40, nhead=2, dim_feedforward=16, dropout=0.0)
        self.gru = nn.GRU(40, 8, num_layers=2)
        self.head = nn.Linear(8, 3)

    def forward(self, x):  # (B, 1, F, T)
        frames = x[:, 0].permute(2, 0, 1)  # (T, B, F)
        _, last = self.gru(self.block(frames))
        return self.head(last[-1])


def test_layer_shapes_drop_the_batch_axis_where_the_layout_has_it():
    target = load_target_from_module(TimeFirst(), SHORT)
    layouts = target.layouts()
    assert str(layouts["block"]) == "time,batch,features" and str(layouts["gru"]) == "time,batch,features"
    shapes = target.layer_shapes()
    assert shapes["block"] == (26, 40) and shapes["gru"] == (26, 8)
    assert list(shapes) == target.candidate_layers()


def test_layout_overrides_from_the_model_section_apply_to_the_survey():
    target = load_target_from_module(TimeFirst(), SHORT)
    target.layout_overrides = {"gru": "features,batch,features"}  # read its frames as one vector
    assert str(target.layouts()["gru"]) == "features,batch,features"
    target = load_target_from_module(TimeFirst(), SHORT)
    target.layout_overrides = {"gru": "batch,time,features"}
    with pytest.raises(PrivacyInputError, match=r"model\.layouts.*'gru'.*batch"):
        target.layouts()


def test_export_program_layers_and_tail_follow_its_zoo_architecture(exported, project_checkpoint):
    program = load_target(exported)
    checkpoint = load_target(project_checkpoint)
    assert program.candidate_layers() == checkpoint.candidate_layers()
    shapes = program.layer_shapes()
    assert all(shapes[layer] == checkpoint.layer_shapes()[layer] for layer in program.candidate_layers())
    tail = program.tail_from("features.7").eval()
    assert outputs(tail, torch.randn(2, *shapes["features.7"])).shape == (2, 2)
    assert program.tail_from("classifier.4") is None


@pytest.mark.parametrize(
    ("spec", "rank", "layout"),
    [
        (FeatureSpec(layout="image"), 4, (0, 3, (1, 2))),
        (FeatureSpec(layout="sequence"), 3, (0, 1, (2,))),
        (FeatureSpec(layout="channels"), 3, (0, 2, (1,))),  # (B, D, frames): a Conv1d front end's input
        (FeatureSpec(kind="waveform"), 2, (0, None, (1,))),  # samples read as flat features
    ],
)
def test_the_input_pseudo_layer_is_read_by_the_input_spec(spec, rank, layout):
    from privacy_checks.model.layout import Layout
    from privacy_checks.model.target import INPUT_LAYER, Target

    target = Target(nn.Identity(), "identity", spec, (), "c" * 64, Path("m.pt"), "test")
    found = target.layout_of(INPUT_LAYER, rank)
    assert (found.batch_axis, found.time_axis, found.feature_axes) == layout
    assert isinstance(found, Layout)
