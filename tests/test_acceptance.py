"""Issue 2's acceptance on the committed demo model, at test size (full size: benchmarks/)."""

from __future__ import annotations

from pathlib import Path

import pytest

from privacy_checks.audit import Audit
from privacy_checks.config import parse_config
from privacy_checks.corpora import load_corpus
from privacy_checks.target import load_target
from tests.conftest import DEMO, FAST_CONFIG


def run_audit(tmp_path: Path, data: str) -> dict:
    audit = Audit(load_target(DEMO), load_corpus(data, tmp_path), parse_config(FAST_CONFIG), tmp_path / "cache")
    return {case.layer: audit.result(case) for case in audit.cases}


def test_first_conv_block_leaks_when_gender_shapes_the_voice(tmp_path):
    results = run_audit(tmp_path, "synthetic:speakers=20,utterances=4,duration=1.0,gender_effect=1")
    first_block = results["features.3"]  # the first pooling layer: the paper's layer #3
    assert first_block.estimate.leakage >= first_block.estimate.chance + 0.25
    assert first_block.status == "failed"
    assert first_block.estimate.p_value < 0.01


def test_null_corpus_every_layer_at_chance_and_nothing_fails(tmp_path):
    results = run_audit(tmp_path, "synthetic:speakers=20,utterances=4,duration=1.0,gender_effect=0")
    for layer, result in results.items():
        e = result.estimate
        assert e.ci_low <= e.chance <= e.ci_high, (layer, e)
        assert result.status in ("passed", "inconclusive"), layer
    # the attacker cannot find gender in audio that carries none: the controls say so
    control = results["features.3"].control
    assert not control.has_power and control.positive.ci_low <= control.positive.chance
