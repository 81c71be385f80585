"""`privacy-checks reproduce` at toy size: every table of the paper's layout is written, a rerun
resumes from the finished cells (nothing retrained), and a lost cell is recomputed alone."""

from __future__ import annotations

import json

import pytest

from privacy_checks.cli import main
from privacy_checks.study import reproduce

TARGET = "synthetic:speakers=10,utterances=2,duration=0.5"
AUX = "synthetic:seed=1,speakers=10,utterances=2,emotions=8,duration=0.5"
PRETRAIN = "synthetic:seed=2,speakers=10,utterances=2,duration=0.5"


@pytest.fixture
def toy_budget(monkeypatch):
    monkeypatch.setitem(reproduce.STUDY_BUDGETS, "toy", reproduce.StudyBudget("toy", 0.0625, 1, 2, 1, 1e-3, 100, 100))


def test_writes_every_table_and_resumes(tmp_path, toy_budget, one_torch_thread, monkeypatch):
    out = tmp_path / "study"
    assert (
        main(
            [
                "reproduce",
                "--target",
                TARGET,
                "--aux",
                AUX,
                "--out",
                str(out),
                "--budget",
                "toy",
                "--pretrain",
                PRETRAIN,
            ]
        )
        == 0
    )
    tables = (out / "tables.md").read_text()
    for heading in (
        "## Table 2",
        "**Generic attacker A_g**",
        "**Application-aware attacker A_a**",
        "Random gender classifier",
        "## Table 3",
        "## Table 4",
        "## Spontaneity",
        "own accuracies",
        "## Figure 3",
    ):
        assert heading in tables
    assert (out / "figure3.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    results = json.loads((out / "results.json").read_text())
    table2 = [r for r in results["cells"]["logmel"] if r["layer"] == "features.4"]
    # 2 kinds x (worst case + scenario 1 + 3 CNNs in scenarios 2 and 3 + the LSTM of scenario 4)
    assert len(table2) == 18
    assert {r["access"] for r in table2} == {"intercept"}  # the paper's protocol
    depth = {
        r["layer"] for r in results["cells"]["logmel"] if r["scenario"] == "scenario_2" and r["attacker"] == "generic"
    }
    assert len(depth) == 9  # five pooling blocks, avgpool and three classifier layers
    cells = sorted((out / "cells").glob("*.json"))

    # A rerun finds T and every cell in --out: nothing is trained, the tables are the same.
    def no_training(*args, **kwargs):
        raise AssertionError("a resumed run trained something")

    with monkeypatch.context() as patch:
        patch.setattr("privacy_checks.engine.audit.Audit.result", no_training)
        patch.setattr("privacy_checks.study.training.train_emotion_model", no_training)
        assert (
            main(
                [
                    "reproduce",
                    "--target",
                    TARGET,
                    "--aux",
                    AUX,
                    "--out",
                    str(out),
                    "--budget",
                    "toy",
                    "--pretrain",
                    PRETRAIN,
                ]
            )
            == 0
        )
    assert (out / "tables.md").read_text() == tables

    # A run stopped mid-way (a cell's file never written) recomputes that cell only, identically.
    cells[0].unlink()
    assert (
        main(
            [
                "reproduce",
                "--target",
                TARGET,
                "--aux",
                AUX,
                "--out",
                str(out),
                "--budget",
                "toy",
                "--pretrain",
                PRETRAIN,
            ]
        )
        == 0
    )
    assert sorted((out / "cells").glob("*.json")) == cells
    assert (out / "tables.md").read_text() == tables


def test_unknown_budget_is_a_usage_error(tmp_path, capsys):
    assert main(["reproduce", "--out", str(tmp_path), "--budget", "huge"]) == 4
    assert "--budget 'huge': choose cpu or paper" in capsys.readouterr().err
