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
