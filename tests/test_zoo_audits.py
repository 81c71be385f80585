"""Every zoo architecture, trained one epoch on the synthetic corpus, audited end to end from each
checkpoint format (project checkpoint, torch.export .pt2, TorchScript); TorchScript's limits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from privacy_checks.config import PrivacyConfig
from privacy_checks.data import load_corpus
from privacy_checks.engine.audit import Audit
from privacy_checks.errors import PrivacyInputError
from privacy_checks.features import FeatureSpec
from privacy_checks.model import load_target, save_checkpoint, save_torchscript
from privacy_checks.study.training import export_program, train_emotion_model

DATA = "synthetic:speakers=10,utterances=2,duration=1.0"
LOGMEL = {"duration_s": 1.0}
# (architecture, arch_kwargs, input spec): every zoo member at a CPU-sized width, on its input kind.
ZOO = [
    ("small_vgg", {}, LOGMEL),
    ("vgg16", {"width": 0.0625}, LOGMEL),
    ("vgg19", {"width": 0.0625}, LOGMEL),
    ("resnet50", {"width": 0.0625}, LOGMEL),
    ("densenet121", {"width": 0.125}, LOGMEL),
    ("lstm_ser", {"width": 0.125, "input_dim": 32}, {"kind": "lld", "layout": "sequence", "duration_s": 1.0}),
    ("transformer_ser", {"width": 0.5, "input_dim": 40}, {"layout": "sequence", "duration_s": 1.0}),
    ("wav_transformer", {"width": 0.25}, {"kind": "waveform", "duration_s": 1.0}),
]
FORMATS = ("checkpoint", "pt2", "torchscript")
CONFIG = PrivacyConfig().with_overrides(
    "test",
    audit={
        "scenarios": ["worst_case"],
        "attackers": ["generic"],
        "budget": "quick",
        "folds": 2,
        "bootstrap": 100,
        "permutations": 100,
    },
    # The convex probe is a deterministic function of the layer outputs, which the test compares
    # across formats directly; without it each audit takes a third of the time (22 layers of resnet50).
    attacker={"epochs": 1, "convex_probe": False},
)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return load_corpus(DATA, tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="module")
def trained(corpus, tmp_path_factory):
    """arch -> its checkpoint in every format, after one epoch of emotion training. Each architecture
    is trained when a test first asks for it: under -n every worker trains only its own."""
    folder = tmp_path_factory.mktemp("zoo")
    paths: dict[str, dict[str, Path]] = {}

    def of(arch: str) -> dict[str, Path]:
        if arch not in paths:
            kwargs, spec_fields = next((kwargs, spec) for name, kwargs, spec in ZOO if name == arch)
            spec = FeatureSpec.from_mapping(spec_fields)
            model, info = train_emotion_model(
                arch, corpus, spec, epochs=1, lr=1e-3, batch_size=8, seed=0, log=lambda *_: None, arch_kwargs=kwargs
            )
            arch_kwargs = info["arch_kwargs"]
            labels = corpus.emotions
            save_checkpoint(folder / f"{arch}.pt", model, arch, arch_kwargs, spec, labels)
            export_program(model, spec, folder / f"{arch}.pt2", arch, labels, arch_kwargs)
            save_torchscript(model, spec, folder / f"{arch}.ts", arch, labels, arch_kwargs)
            paths[arch] = {
                "checkpoint": folder / f"{arch}.pt",
                "pt2": folder / f"{arch}.pt2",
                "torchscript": folder / f"{arch}.ts",
            }
        return paths[arch]

    return of


@pytest.mark.parametrize("arch", [z[0] for z in ZOO])
def test_zoo_architecture_is_audited_from_every_format(arch, trained, corpus, tmp_path):
    reference = None
    for fmt in FORMATS:
        target = load_target(trained(arch)[fmt], trust_checkpoint=fmt == "torchscript")
        audit = Audit(target, corpus, CONFIG, tmp_path / fmt / "embeddings")
        results = [audit.result(c) for c in audit.cases]
        assert [r.case.layer for r in results] == target.candidate_layers()
        assert all(r.status in ("passed", "failed", "inconclusive") and 0 <= r.estimate.leakage <= 1 for r in results)
        leakage = {r.case.layer: r.estimate.leakage for r in results}
        outputs = {layer: np.asarray(audit.outputs["target"][layer]) for layer in leakage}
        if reference is None:
            reference = leakage, outputs
            continue
        # The same weights in another container: the same representations. Bit-identical ones give
        # the same L; an exported program may fuse ops differently (last-digit differences, which
        # attacker training can amplify by an utterance or two), so there L agrees within 0.1.
        for layer, values in outputs.items():
            np.testing.assert_allclose(values, reference[1][layer], rtol=1e-4, atol=1e-5, err_msg=f"{fmt} {layer}")
            tolerance = 1e-6 if np.array_equal(values, reference[1][layer]) else 0.1
            assert leakage[layer] == pytest.approx(reference[0][layer], abs=tolerance), (fmt, layer)
    reference = reference[0]
    assert len(reference) >= 4


class Residual(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(1, 2, 3, padding=1)
        self.b = nn.Conv2d(1, 2, 1)
        self.head = nn.Linear(2, 4)

    def forward(self, x):
        return self.head((self.a(x) + self.b(x)).mean((2, 3)))


def test_torchscript_without_metadata_runs_children_in_order(tmp_path):
    demo = load_target(Path(__file__).resolve().parent.parent / "examples" / "demo_ser.pt")
    path = tmp_path / "scripted.pt"
    torch.jit.save(torch.jit.script(demo.module), str(path))
    config = PrivacyConfig().with_overrides("test", model={"input": {"kind": "logmel"}})
    target = load_target(path, config.model, trust_checkpoint=True)
    assert target.format == "torchscript" and target.tail_from("features.3") is None
    assert "features.3" in target.candidate_layers() and "classifier.3" not in target.candidate_layers()  # dropout
    x = torch.randn(2, *demo.input_spec.shape)
    with torch.inference_mode():
        torch.testing.assert_close(target.module(x), demo.module(x))
    assert target.fresh_model() is None  # intercept access cannot rebuild an unknown architecture


class ChannelsFirstConv1d(nn.Module):
    """A user's 1-D CNN over (batch, mel bins, frames): its Conv1d maps are (C, T), not (T, D)."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv1d(40, 8, 5, padding=2), nn.ReLU(), nn.Conv1d(8, 8, 5, stride=2, padding=2)
        )
        self.pool = nn.AdaptiveAvgPool1d(1)
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(8, 4))

    def forward(self, x):
        return self.classifier(self.pool(self.features(x)))


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch.jit is deprecated, still in use
def test_torchscript_conv1d_maps_are_read_with_time_last(tmp_path):
    # Found by a new-user trial: the chain's children were read in the conventional (B, T, D) layout,
    # so a Conv1d's 8 channels were taken as time and its frames as features; the probe then read
    # 0.508 on a layer an independent probe reads at 0.875. Their axes come from the survey now.
    path = tmp_path / "conv1d.pt"
    torch.jit.save(torch.jit.script(ChannelsFirstConv1d().eval()), str(path))
    config = PrivacyConfig().with_overrides(
        "test", model={"input": {"kind": "logmel", "layout": "channels", "duration_s": 1.0}}
    )
    target = load_target(path, config.model, trust_checkpoint=True)
    for layer in ("features.0", "features.2"):
        layout = target.layout_of(layer, 3)
        assert (layout.batch_axis, layout.time_axis, layout.feature_axes) == (0, 2, (1,)), (layer, layout)
    assert target.candidate_layers()[:3] == ["features.0", "features.1", "features.2"]
    assert "classifier.1" in target.candidate_layers()


def test_torchscript_residual_forward_is_a_clear_error(tmp_path):
    path = tmp_path / "residual.pt"
    torch.jit.save(torch.jit.script(Residual().eval()), str(path))
    config = PrivacyConfig().with_overrides("test", model={"input": {"kind": "logmel", "duration_s": 1.0}})
    with pytest.raises(PrivacyInputError) as info:
        load_target(path, config.model, trust_checkpoint=True)
    message = str(info.value)
    assert str(path) in message and "no layer of this TorchScript module (Residual) can be intercepted" in message
    assert "(a, b, head)" in message and "torch.export (.pt2)" in message


def test_torchscript_without_input_spec_asks_for_model_input(tmp_path):
    path = tmp_path / "residual.pt"
    torch.jit.save(torch.jit.script(Residual().eval()), str(path))
    with pytest.raises(PrivacyInputError, match="does not say how its input is computed"):
        load_target(path, trust_checkpoint=True)
