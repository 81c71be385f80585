"""Layers that cannot be attacked (issue 12: a layer emitting NaN read L = 0.500, "pass"): NaN/inf
or constant outputs are found before any attacker trains, and that layer's items are errors that
name it; the run is not green."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from privacy_checks.engine.layer_checks import row_problem
from privacy_checks.engine.representations import RowFile
from tests.broken_models import INPUT
from tests.conftest import REPO, TINY_DATA


def test_healthy_rows_have_no_problem():
    rows = np.random.default_rng(0).normal(size=(50, 3, 4)).astype(np.float32)
    assert row_problem(rows, "layer x") is None


def test_nan_rows_are_counted_and_the_layer_named():
    rows = np.random.default_rng(0).normal(size=(200, 8)).astype(np.float32)
    rows[[3, 10, 11, 40, 41, 42, 60, 61, 62, 63, 100, 199], 2] = np.nan
    rows[150, 0] = np.inf
    problem = row_problem(rows, "layer conv2.2")
    assert problem is not None
    assert problem.startswith("layer conv2.2 emits NaN in 12 of 200 utterances and inf in 1 of 200 utterances")
    assert "the first: utterance 3" in problem and "audit.layers" in problem


def test_constant_rows_are_a_problem_and_float_noise_is_not_variation():
    rows = np.tile(np.linspace(-3, 3, 12, dtype=np.float32), (30, 1))
    problem = row_problem(rows, "layer dead")
    assert problem is not None and "the same output for all 30 utterances" in problem
    rows[5, 0] = np.nextafter(rows[5, 0], np.float32(10))  # a batching ulp, not information
    assert row_problem(rows, "layer dead") is not None
    rows[7, 3] += 0.01
    assert row_problem(rows, "layer dead") is None
    dead_feature = np.random.default_rng(1).normal(size=(30, 4))
    dead_feature[:, 1] = 0.0  # one dead unit among live ones is fine
    assert row_problem(dead_feature, "layer x") is None


def test_rows_are_read_from_the_disk_cache_in_chunks(tmp_path, monkeypatch):
    rows = np.random.default_rng(0).normal(size=(64, 5)).astype(np.float32)
    rows[63, 4] = np.nan
    np.save(tmp_path / "layer.npy", rows)
    monkeypatch.setattr("privacy_checks.engine.layer_checks._CHUNK_BYTES", 7 * 20)  # 7 rows a chunk
    problem = row_problem(RowFile(tmp_path / "layer.npy"), "layer l")
    assert problem is not None and "NaN in 1 of 64 utterances (the first: utterance 63" in problem


CONFIG = """\
audit:
  scenarios: [worst_case]
  budget: quick
  bootstrap: 200
  permutations: 200
  layers: [embed.1, log_energy, dead, classifier]
attacker:
  epochs: 10
  batch_size: 8
model:
  factory: "tests.broken_models:nan_layer"
  input: {input}
"""


@pytest.mark.slow
def test_a_layer_emitting_nan_is_an_error_naming_it(pytester, monkeypatch):
    import torch

    from tests.broken_models import nan_layer

    checkpoint = pytester.path / "nan_layer.pt"
    torch.save(nan_layer().state_dict(), checkpoint)
    (pytester.path / "thresholds.yaml").write_text(CONFIG.format(input=json.dumps({**INPUT, "duration_s": 1.0})))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    argv = ["-p", "no:cacheprovider", "-p", "no:xdist", "--privacy-audit", str(checkpoint)]
    result = pytester.runpytest_subprocess(*argv, "--privacy-data", TINY_DATA, "--privacy-report", "out")
    out = result.stdout.str()

    assert result.ret == pytest.ExitCode.TESTS_FAILED, out[-3000:]
    rows = {row["layer"]: row for row in json.loads((pytester.path / "out" / "report.json").read_text())["results"]}
    nan, dead = rows["log_energy"], rows["dead"]
    assert nan["status"] == "error" and nan["leakage"] is None
    # found in the forward pass, before anything is stored (row_problem's wording covers rows that
    # reach an attack some other way: tests/test_layer_checks.py's unit tests)
    assert nan["reason"].startswith("layer 'log_energy' cannot be read: its output holds non-finite values")
    assert dead["status"] == "error" and "layer dead emits the same output for all 80 utterances" in dead["reason"]
    assert rows["embed.1"]["status"] != "error" and rows["embed.1"]["leakage"] is not None
    assert "ERROR at layer log_energy: the layer could not be measured" in out
    assert "verdict: ERROR — " in out and "2 errors" in out
    report_md = (pytester.path / "out" / "report.md").read_text()
    assert report_md.startswith("## Privacy audit: ERROR") and "layer 'log_energy' cannot be read" in report_md
