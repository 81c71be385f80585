"""Issue 2's acceptance on the committed demo model, at test size (full size: benchmarks/)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from privacy_checks.config import parse_config
from privacy_checks.data import load_corpus
from privacy_checks.engine import open_audit
from privacy_checks.model import load_target
from tests.conftest import DEMO, FAST_CONFIG, NULL_DATA, NULL_RUN


def run_audit(tmp_path: Path, data: str, config: str = FAST_CONFIG) -> dict:
    audit = open_audit(DEMO, data, config=parse_config(config), cache_dir=tmp_path / "cache", base_dir=tmp_path)
    return {case.layer: audit.result(case) for case in audit.cases}


def test_first_conv_block_leaks_when_gender_shapes_the_voice(tmp_path):
    # Only features.3 is audited: each case's seed is its own, so its figures are those of a run over
    # every layer, without training the attackers of the nine others.
    first_block_only = FAST_CONFIG.replace("audit:\n", "audit:\n  layers: ['features.3']\n")
    results = run_audit(tmp_path, "synthetic:speakers=20,utterances=4,duration=1.0,gender_effect=1", first_block_only)
    assert list(results) == ["features.3"]
    first_block = results["features.3"]  # the first pooling layer: the paper's layer #3
    assert first_block.estimate.leakage >= first_block.estimate.chance + 0.25
    assert first_block.status == "failed"
    assert first_block.estimate.p_value < 0.01
    # issue 12, on the demo's report: no item whose point excess (or any reading's) is above its limit passes
    for layer, result in results.items():
        excesses = [result.estimate.excess] + [r.estimate.excess for r in result.readings]
        if max(excesses) > result.decision.max_excess:
            assert result.status != "passed", (layer, excesses)


@pytest.mark.xdist_group("audit-null")
def test_null_corpus_every_layer_at_chance_and_nothing_fails(shared_audit):
    # The audit of every layer with FAST_CONFIG on the null corpus (gender_effect=0), run once for
    # this test and tests/test_option_privacy_data.py's verdict on it: report.json holds each item's
    # estimate (the engine's CaseResult.estimate) and its attack's controls (CaseResult.control).
    run = shared_audit(*NULL_RUN, data=NULL_DATA)  # --privacy-report out
    assert NULL_DATA == "synthetic:speakers=20,utterances=4,duration=1.0,gender_effect=0"
    results = {row["layer"]: row for row in json.loads((run.path / "out" / "report.json").read_text())["results"]}
    assert len(results) == 10  # every layer of the demo
    for layer, e in results.items():
        assert e["ci_low"] <= e["chance"] <= e["ci_high"], (layer, e)
        assert e["status"] in ("passed", "inconclusive"), layer
    # the attacker cannot find gender in audio that carries none: the controls say so
    control = results["features.3"]["control"]
    positive = control["input_gender_accuracy"]
    assert not control["has_power"] and positive["ci_low"] <= positive["chance"]


def attack_results(tmp_path, config_text, target=None):
    aux = load_corpus("synthetic:speakers=20,utterances=4,duration=1.0,seed=9,emotions=8", tmp_path)
    corpus = load_corpus("synthetic:speakers=20,utterances=4,duration=1.0", tmp_path)
    audit = open_audit(target or DEMO, corpus, config=parse_config(config_text), aux=aux, cache_dir=tmp_path / "cache")
    return {(c.scenario, c.layer): audit.result(c) for c in audit.cases}


def test_training_on_the_target_corpus_leaks_at_least_as_much_as_on_the_auxiliary(tmp_path):
    results = attack_results(
        tmp_path,
        FAST_CONFIG.replace(
            "  scenarios: [worst_case]\n",
            "  scenarios: [worst_case, scenario_1, scenario_2, scenario_3]\n  layers: ['features.7']\n",
        ),
    )
    for own, aux in (("worst_case", "scenario_1"), ("scenario_2", "scenario_3")):
        own_e, aux_e = results[(own, "features.7")].estimate, results[(aux, "features.7")].estimate
        assert own_e.ci_high >= aux_e.leakage, (own, own_e, aux, aux_e)  # "at least as much, within the CIs"


def test_layer_that_ignores_its_input_is_an_error_not_a_pass(tmp_path):
    """A constant output carries nothing to attack: an attacker trained on it would sit at chance and
    "pass" without having measured anything (issue 12), so the layer's items are errors naming it."""
    import torch

    target = load_target(DEMO)
    # features.7 now outputs zeros whatever the audio
    target.module.features[7].register_forward_hook(lambda module, inputs, output: torch.zeros_like(output))
    target.fingerprint = "constant-features.7"  # its own cache entry
    results = attack_results(tmp_path, FAST_CONFIG.replace("audit:\n", "audit:\n  layers: ['features.7']\n"), target)
    result = results[("worst_case", "features.7")]
    assert result.status == "error" and result.estimate is None
    assert result.reason.startswith("layer features.7 emits the same output for all 80 utterances")
