"""privacy-checks train / layers: every output format audits end to end."""

from __future__ import annotations

import pytest
import torch

from privacy_checks.cli import main
from privacy_checks.model import load_target
from tests.conftest import DEMO

TINY = "synthetic:speakers=10,utterances=2,duration=0.5,seed=5"


def test_layers_lists_shapes_and_candidates(capsys):
    assert main(["layers", str(DEMO)]) == 0
    out = capsys.readouterr().out
    assert "small_vgg (privacy-checks)" in out
    assert "* features.3" in out and "(16, 20, 50)" in out
    assert "  features.0" in out  # listed, not audited by default


def test_layers_shows_layouts_found_by_behaviour_and_what_is_not_a_split_point(tmp_path, capsys, monkeypatch):
    """A model the project did not write (a weight-normed Conv1d: its parametrisation emits a weight)."""
    (tmp_path / "weightnormed.py").write_text(
        "import torch\n"
        "from torch import nn\n"
        "class M(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.conv = nn.utils.parametrizations.weight_norm(nn.Conv1d(40, 8, 3, padding=1))\n"
        "        self.head = nn.Linear(8, 4)\n"
        "    def forward(self, x):\n"
        "        return self.head(self.conv(x.transpose(1, 2)).mean(-1))\n"
        "def build():\n"
        "    return M()\n"
    )
    import sys

    sys.path.insert(0, str(tmp_path))
    try:
        from weightnormed import build  # type: ignore[import-not-found]

        torch.save(build().state_dict(), tmp_path / "m.pt")
        config = tmp_path / "thresholds.yaml"
        input_spec = "{kind: logmel, sample_rate: 16000, n_mels: 40, layout: sequence, duration_s: 0.5}"
        head = f"model:\n  factory: 'weightnormed:build'\n  input: {input_spec}\n"
        config.write_text(head)
        assert main(["layers", str(tmp_path / "m.pt"), "--config", str(config)]) == 0
        out = capsys.readouterr().out
        assert "* conv " in out and "batch,features,time" in out  # a Conv1d output: channels over time
        assert "not split points" in out and "conv.parametrizations.weight.0" in out and "a weight" in out
        config.write_text(head + "  layouts: {conv: 'batch,time,features'}\n")
        assert main(["layers", str(tmp_path / "m.pt"), "--config", str(config)]) == 0
        assert "batch,time,features  (declared in 'model.layouts.conv')" in capsys.readouterr().out
        with monkeypatch.context() as here:  # ./thresholds.yaml is read without --config, as an audit reads it
            here.chdir(tmp_path)
            assert main(["layers", "m.pt"]) == 0
            assert "batch,time,features  (declared in 'model.layouts.conv')" in capsys.readouterr().out
        config.write_text(head + "  layouts: {conf: 'batch,time,features'}\n")
        assert main(["layers", str(tmp_path / "m.pt"), "--config", str(config)]) == 4
        err = capsys.readouterr().err
        assert "model.layouts" in err and "matches no layer" in err and "conv" in err
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("weightnormed", None)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch.jit is deprecated, still in use
def test_layers_takes_the_trust_flag_its_refusal_names(tmp_path, capsys):
    # Found by a new-user trial: the refusal said --privacy-trust-checkpoint, which `layers` rejected
    path = tmp_path / "scripted.pt"
    torch.jit.save(torch.jit.script(load_target(DEMO).module), str(path))
    config = tmp_path / "thresholds.yaml"
    config.write_text("version: 1\nmodel:\n  input: {kind: logmel}\n")
    assert main(["layers", str(path), "--config", str(config)]) == 4
    assert "--privacy-trust-checkpoint" in capsys.readouterr().err
    assert main(["layers", str(path), "--config", str(config), "--privacy-trust-checkpoint"]) == 0
    assert "features.3" in capsys.readouterr().out


@pytest.mark.parametrize("fmt", ["checkpoint", "pt2"])
def test_train_writes_a_loadable_checkpoint(tmp_path, capsys, fmt):
    out = tmp_path / ("model.pt2" if fmt == "pt2" else "model.pt")
    assert main(["train", "--data", TINY, "--epochs", "1", "--format", fmt, "--out", str(out)]) == 0
    target = load_target(out)
    assert target.labels == ("neutral", "happy", "angry", "sad")
    assert target.input_spec.shape == (1, 40, 101)
    with torch.inference_mode():
        assert target.module(torch.zeros(3, *target.input_spec.shape)).shape == (3, 4)
    if fmt == "checkpoint":
        assert torch.load(out, weights_only=True)["architecture"] == "small_vgg"


def test_train_bad_data_is_a_usage_error(tmp_path, capsys):
    assert main(["train", "--data", "synthetic:speakers=3", "--out", str(tmp_path / "m.pt")]) == 4
    assert "speakers" in capsys.readouterr().err
    assert not (tmp_path / "m.pt").exists()


def test_pt2_program_is_audited(audit_project, tmp_path, pytester):
    program = pytester.path / "demo.pt2"
    from privacy_checks.study.training import export_program

    target = load_target(DEMO)
    export_program(target.module, target.input_spec, program, target.architecture, target.labels)
    result = audit_project("-k", "features.7 or classifier.4", "-rA", checkpoint=program)
    # the program names its zoo architecture, so the attacker clones the same tail as for the checkpoint
    result.stdout.fnmatch_lines(["FAILED demo.pt2::worst_case[[]generic-tail_clone-features.7[]]*"])
    # 20 speakers cannot show the output layer within the limit under the default interval rule
    result.stdout.fnmatch_lines(["FAILED demo.pt2::worst_case[[]generic-linear_probe-classifier.4[]] - INCONCLUSIVE*"])
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_report_of_a_damaged_report_json_is_a_usage_error(tmp_path, capsys):
    path = tmp_path / "report.json"
    path.write_text('{"schema_version": 1, "results": [{"id": "worst_case[generic-tail_clone-pool]"}]}')
    assert main(["report", str(path)]) == 4
    assert "cannot read the report: missing or malformed" in capsys.readouterr().err
    assert not (tmp_path / "report.md").exists()
