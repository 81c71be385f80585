"""`model.forward` in thresholds.yaml (issue 14): how to call a model whose forward is not
forward(features) -> logits. Checked like every setting; a model built by model.factory (or a
trusted pickled module) is called through ForwardAdapter; a model returning a dict, audited end to
end with only thresholds.yaml keys and a training checkpoint."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import pytest
import torch

from privacy_checks.config import config_from_mapping, parse_config
from privacy_checks.config.model_section import FORWARD_KEYS
from privacy_checks.errors import PrivacyInputError
from privacy_checks.model.forward_call import ForwardAdapter, ForwardCall
from privacy_checks.model.loader import load_target
from tests.checkpoint_models import INPUT, SAMPLE_RATE, build, training_checkpoint

REPO = Path(__file__).resolve().parent.parent
FACTORY = "tests.checkpoint_models:build"


def _config(forward: str, kwargs: str = "{}") -> str:
    return f"model:\n  factory: '{FACTORY}'\n  kwargs: {kwargs}\n  input: {json.dumps(INPUT)}\n  forward: {forward}\n"


def _target(tmp_path: Path, forward: dict, returns: str = "dict"):
    path = tmp_path / "run.pt"
    torch.save(training_checkpoint(build(returns)), path)
    settings = {"factory": FACTORY, "kwargs": {"returns": returns}, "input": INPUT, "forward": forward}
    return load_target(path, config_from_mapping({"model": settings}).model)


def _pythonpath(monkeypatch) -> None:
    """The factory ('tests.checkpoint_models:build') is imported by the user's pytest, from the repo."""
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")


def _clean(result) -> str:
    output = result.stdout.str() + result.stderr.str()
    assert "Traceback" not in output and "INTERNALERROR" not in output, output[-3000:]
    return output


def test_the_settings_keys_are_forward_calls_fields():
    assert list(FORWARD_KEYS) == [f.name for f in dataclasses.fields(ForwardCall)]


def test_a_forward_mapping_is_read_as_written():
    text = _config(
        "{input: input_values, mask: attention_mask, sampling_rate: sampling_rate, output: 0, normalize: true}"
    )
    forward = parse_config(text).model.forward
    assert forward is not None
    assert ForwardCall(**dict(forward)) == ForwardCall("input_values", None, "attention_mask", "sampling_rate", 0, True)
    assert parse_config(_config("null")).model.forward is None


@pytest.mark.parametrize(
    "forward, expected",
    [
        ("{lenghts: lengths}", ["model.forward", "unknown key 'lenghts'", "did you mean 'lengths'?"]),
        ("{normalize: 1}", ["'model.forward.normalize' must be true or false"]),
        ("{output: true}", ["'model.forward.output' must be the key (a string) or the index (an integer)"]),
        ("{mask: 3}", ["'model.forward.mask' must be the name of a keyword argument"]),
        ("{input: 'input values'}", ["'model.forward.input' must be the name of a keyword argument"]),
        ("[lengths]", ["'model.forward' must be a mapping"]),
    ],
    ids=["unknown-key", "normalize", "output", "mask", "input", "not-a-mapping"],
)
def test_bad_forward_settings_name_the_key(forward, expected):
    with pytest.raises(PrivacyInputError) as caught:
        parse_config(_config(forward))
    message = str(caught.value)
    assert message.startswith("thresholds.yaml:5:"), message
    for words in expected:
        assert words in message, message


@pytest.mark.parametrize("state_key", ["''", "'a..b'", "3"])
def test_a_bad_state_key_is_refused(state_key):
    with pytest.raises(PrivacyInputError, match="model.state_key"):
        parse_config(f"model:\n  state_key: {state_key}\n")


def test_the_wrapped_model_receives_lengths_and_keeps_its_layer_names(tmp_path):
    target = _target(tmp_path, {"lengths": "lengths"})
    adapter = target.module
    assert isinstance(adapter, ForwardAdapter)
    assert [name for name, _ in adapter.named_modules()][1:4] == ["frontend", "frontend.0", "frontend.1"]
    wrapped = adapter.wrapped
    wrapped.seen_lengths.clear()
    batch = torch.randn(3, SAMPLE_RATE)
    lengths = torch.tensor([SAMPLE_RATE, 12000, 8000])
    with torch.no_grad():
        logits = adapter(batch, lengths)
        assert torch.equal(wrapped.seen_lengths[-1], lengths)
        assert torch.equal(logits, wrapped(batch, lengths)["logits"])
        adapter(batch)  # no lengths: every example fills the batch
    assert wrapped.seen_lengths[-1].tolist() == [SAMPLE_RATE] * 3


def test_output_index_picks_the_logits_of_a_tuple(tmp_path):
    adapter = _target(tmp_path, {"lengths": "lengths", "output": 1}, returns="tuple").module
    batch = torch.randn(2, SAMPLE_RATE)
    with torch.no_grad():
        logits = adapter(batch)
        assert logits.shape == (2, 4)
        assert torch.equal(logits, adapter.wrapped(batch, torch.tensor([SAMPLE_RATE] * 2))[1])


def test_a_dict_without_logits_and_no_output_key_is_a_usage_error(pytester, monkeypatch):
    torch.save(training_checkpoint(build("hidden")), pytester.path / "run.pt")
    (pytester.path / "thresholds.yaml").write_text(_config("{lengths: lengths}", kwargs="{returns: hidden}"))
    _pythonpath(monkeypatch)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--privacy-audit", "run.pt", "--collect-only")
    output = _clean(result)
    assert result.ret == pytest.ExitCode.USAGE_ERROR, output[-3000:]
    assert "'last_hidden_state', 'pooled'" in output and "model.forward.output" in output
    assert "run.pt" in output


def test_normalize_is_for_waveforms(tmp_path):
    path = tmp_path / "run.pt"
    torch.save(build().state_dict(), path)
    settings = {"factory": FACTORY, "input": {"kind": "logmel"}, "forward": {"normalize": True}}
    with pytest.raises(PrivacyInputError, match="model.forward.normalize standardises waveforms"):
        load_target(path, config_from_mapping({"model": settings}).model)


@pytest.mark.slow
def test_a_training_checkpoint_of_a_model_taking_lengths_audits_with_only_thresholds_yaml(pytester, monkeypatch):
    """The acceptance case: forward(waveform, lengths) returning a dict, saved as {"model_state",
    "optimizer", "epoch"}, audited with factory, input and forward in thresholds.yaml, no wrapper code."""
    torch.save(training_checkpoint(build()), pytester.path / "run.pt")
    audit = "audit:\n  layers: [encoder, embed]\n  bootstrap: 200\n  permutations: 200\n"
    attacker = "attacker:\n  epochs: 10\n  batch_size: 8\n"
    (pytester.path / "thresholds.yaml").write_text(audit + attacker + _config("{lengths: lengths}"))
    _pythonpath(monkeypatch)
    argv = ["-p", "no:cacheprovider", "-p", "no:xdist", "--privacy-audit", "run.pt", "--privacy-budget", "quick"]
    argv += ["--privacy-scenarios", "worst_case", "--privacy-data", "synthetic:speakers=16,utterances=4,duration=1.0"]
    result = pytester.runpytest_subprocess(*argv, "--privacy-report", "out")
    output = _clean(result)
    assert result.ret in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED), output[-3000:]
    rows = json.loads((pytester.path / "out" / "report.json").read_text())["results"]
    assert {row["layer"] for row in rows} == {"encoder", "embed"}
    assert all(row["status"] != "error" for row in rows), rows
    assert "run.pt::" in output


def test_a_forward_needing_lengths_without_model_forward_points_to_it(tmp_path):
    path = tmp_path / "run.pt"
    torch.save(training_checkpoint(build()), path)
    target = load_target(path, config_from_mapping({"model": {"factory": FACTORY, "input": INPUT}}).model)
    with pytest.raises(PrivacyInputError) as caught:
        target.candidate_layers()
    message = str(caught.value)
    assert str(path) in message and "missing 1 required positional argument: 'lengths'" in message
    assert "say how to call it with model.forward in thresholds.yaml" in message


def test_the_intercept_attackers_copy_is_called_the_same_way(tmp_path):
    """Target.fresh_model: T's architecture with per-task outputs, still called with lengths and its
    logits (now one tensor per task) read from the dict."""
    fresh = _target(tmp_path, {"lengths": "lengths"}).fresh_model((2, 4))
    assert isinstance(fresh, ForwardAdapter)
    with torch.no_grad():
        gender, emotion = fresh(torch.randn(3, SAMPLE_RATE))
    assert gender.shape == (3, 2) and emotion.shape == (3, 4)
    assert fresh.wrapped.seen_lengths[-1].tolist() == [SAMPLE_RATE] * 3


def test_a_trusted_pickled_module_is_called_as_model_forward_says(tmp_path):
    path = tmp_path / "pickled.pt"
    torch.save(build("tuple"), path)
    settings = {"input": INPUT, "forward": {"lengths": "lengths", "output": -1}}
    target = load_target(path, config_from_mapping({"model": settings}).model, trust_checkpoint=True)
    assert isinstance(target.module, ForwardAdapter) and target.architecture == "LengthsModel"
    with torch.no_grad():
        assert target.module(torch.randn(2, SAMPLE_RATE)).shape == (2, 4)
