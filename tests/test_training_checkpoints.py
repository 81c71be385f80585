"""Training checkpoints (issue 14): a dict holding the weights under a key beside optimizer, scheduler
and epoch entries, the weights found automatically or named with model.state_key; wrapper prefixes
(DataParallel, torch.compile) removed; weights that do not fit named key by key."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from privacy_checks.config import config_from_mapping
from privacy_checks.errors import PrivacyInputError
from privacy_checks.model.loader import load_target
from privacy_checks.model.training_checkpoint import is_weights, unwrapped, weight_entries
from tests.checkpoint_models import INPUT, build, training_checkpoint
from tests.conftest import DEMO

REPO = Path(__file__).resolve().parent.parent
FACTORY = "tests.checkpoint_models:build"


def _settings(**model):
    settings = {"factory": FACTORY, "input": INPUT, "forward": {"lengths": "lengths"}, **model}
    return config_from_mapping({"model": settings}).model


def _save(tmp_path: Path, payload, name: str = "run.pt") -> Path:
    path = tmp_path / name
    torch.save(payload, path)
    return path


def _load(path: Path, **model):
    return load_target(path, _settings(**model))


def _message(path: Path, **model) -> str:
    with pytest.raises(PrivacyInputError) as caught:
        _load(path, **model)
    return str(caught.value)


def _same_weights(target, model) -> bool:
    loaded = target.module.state_dict()
    return all(torch.equal(loaded[k], v) for k, v in model.state_dict().items())


def test_the_one_state_dict_beside_optimizer_and_epoch_is_found(tmp_path):
    model = build(seed=1)
    path = _save(tmp_path, training_checkpoint(model, scheduler={"last_epoch": 3, "_step_count": 4}))
    target = _load(path)
    assert target.format == "training checkpoint (model_state)"
    assert _same_weights(target, model)
    assert {"frontend.0", "embed", "classifier"} <= set(target.candidate_layers())


def test_the_optimizers_per_parameter_state_is_not_taken_for_weights():
    model = build()
    payload = training_checkpoint(model)
    assert payload["optimizer"]["state"]  # Adam has per-parameter tensors after its step ...
    assert list(weight_entries(payload)) == ["model_state"]  # ... under integer keys: not weights


def test_nested_weights_are_found_and_state_key_may_be_dotted(tmp_path):
    model = build(seed=2)
    payload = {"checkpoint": {"model": model.state_dict(), "step": 10}, "optimizer": {}}
    assert _same_weights(_load(_save(tmp_path, payload)), model)
    assert _same_weights(_load(_save(tmp_path, payload), state_key="checkpoint.model"), model)


def test_several_state_dicts_need_state_key(tmp_path):
    model, ema = build(seed=1), build(seed=2)
    path = _save(tmp_path, {"model": model.state_dict(), "ema": ema.state_dict(), "epoch": 3})
    message = _message(path)
    assert str(path) in message and "'model', 'ema'" in message
    assert "model.state_key" in message and "`model: {state_key: ema}`" in message
    assert _same_weights(_load(path, state_key="ema"), ema)
    assert _same_weights(_load(path, state_key="model"), model)


def test_a_state_key_that_is_missing_names_the_keys_and_the_closest(tmp_path):
    path = _save(tmp_path, training_checkpoint(build()))
    message = _message(path, state_key="model_sate")
    assert str(path) in message and "model.state_key 'model_sate'" in message
    assert "'model_state', 'optimizer', 'epoch'" in message and "did you mean 'model_state'?" in message
    nested = _save(tmp_path, {"checkpoint": {"model": build().state_dict()}}, "nested.pt")
    message = _message(nested, state_key="checkpoint.modle")
    assert "under 'checkpoint'" in message and "did you mean 'checkpoint.model'?" in message


def test_a_state_key_naming_something_else_says_what_it_holds(tmp_path):
    path = _save(tmp_path, training_checkpoint(build()))
    message = _message(path, state_key="optimizer")
    assert "model.state_key 'optimizer' holds a mapping with keys 'state', 'param_groups'" in message
    assert "the entries holding weights are 'model_state'" in message
    assert "holds int 3" in _message(path, state_key="epoch")


def test_no_state_dict_inside_is_not_understood_and_names_the_keys(tmp_path):
    path = _save(tmp_path, {"epoch": 3, "optimizer": {"state": {}, "param_groups": []}})
    message = _message(path)
    assert str(path) in message and "not a checkpoint this tool understands" in message
    assert "'epoch', 'optimizer'" in message and "model.state_key" in message
    assert "holds list" in _message(_save(tmp_path, [1, 2], "list.pt"))


def test_a_training_checkpoint_without_factory_asks_for_one(tmp_path):
    path = _save(tmp_path, training_checkpoint(build()))
    with pytest.raises(PrivacyInputError, match=r"training checkpoint \(weights under 'model_state'\).*model.factory"):
        load_target(path, config_from_mapping({"model": {"input": INPUT}}).model)


@pytest.mark.parametrize("prefixes", [["module."], ["_orig_mod."], ["module.", "_orig_mod."]])
def test_wrapper_prefixes_are_removed(tmp_path, prefixes):
    model = build(seed=3)
    state = model.state_dict()
    for prefix in prefixes:
        state = {prefix + k: v for k, v in state.items()}
    target = _load(_save(tmp_path, {"model_state": state, "epoch": 1}))
    assert _same_weights(target, model)


def test_a_dataparallel_state_dict_loads_and_averaged_models_count_is_dropped(tmp_path):
    model = build(seed=4)
    parallel = torch.nn.DataParallel(model)
    assert _same_weights(_load(_save(tmp_path, parallel.state_dict(), "plain.pt")), model)
    averaged = torch.optim.swa_utils.AveragedModel(model)
    assert "n_averaged" in averaged.state_dict()
    payload = {"model": model.state_dict(), "swa": averaged.state_dict()}
    assert _same_weights(_load(_save(tmp_path, payload), state_key="swa"), model)


def test_a_prefix_the_model_has_itself_is_kept():
    class Holder(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.module = torch.nn.Linear(2, 2)

    state = Holder().state_dict()
    assert list(unwrapped(state, Holder())) == ["module.weight", "module.bias"]


def test_mismatched_weights_name_missing_unexpected_and_reshaped_keys(tmp_path):
    state = build(width=16).state_dict()
    state["head.weight"] = state.pop("classifier.weight")
    path = _save(tmp_path, {"model_state": state, "epoch": 1})
    message = _message(path, kwargs={"width": 8})
    assert str(path) in message and "do not fit the model's architecture" in message
    assert "1 missing (in the model, not in the file): classifier.weight" in message
    assert "1 unexpected (in the file, not in the model): head.weight" in message
    assert "embed.weight file (16, 16) vs model (8, 8)" in message
    assert "model.kwargs" in message and "model.state_key" in message and "strict" in message


def test_a_long_mismatch_is_counted_not_cut(tmp_path):
    model = torch.nn.Sequential(*[torch.nn.Linear(2, 2) for _ in range(30)])
    state = {f"layer{i}.weight": torch.zeros(2, 2) for i in range(30)}
    from privacy_checks.model.loading import load_weights

    with pytest.raises(PrivacyInputError) as caught:
        load_weights(model, state, tmp_path / "big.pt")
    message = str(caught.value)
    assert "60 missing" in message and "0.weight, 0.bias" in message and "... and 50 more" in message
    assert "30 unexpected" in message and "layer0.weight" in message and "... and 20 more" in message


def test_the_projects_own_checkpoint_is_still_recognised_first():
    payload = torch.load(DEMO, map_location="cpu", weights_only=True)
    assert "state_dict" in payload and is_weights(payload["state_dict"])  # a candidate, were it not ours
    target = load_target(DEMO, _settings(state_key="nothing"))
    assert target.format == "privacy-checks"


def test_two_state_dicts_are_a_usage_error_in_pytest(pytester, monkeypatch):
    """The plugin's view: exit 4, both keys and the fix named, no traceback (fails before the audit)."""
    torch.save({"model": build().state_dict(), "ema": build().state_dict(), "epoch": 3}, pytester.path / "run.pt")
    (pytester.path / "thresholds.yaml").write_text(f"model:\n  factory: '{FACTORY}'\n  input: {INPUT}\n")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--privacy-audit", "run.pt", "--collect-only")
    output = result.stdout.str() + result.stderr.str()
    assert result.ret == pytest.ExitCode.USAGE_ERROR, output
    assert "run.pt" in output and "'model', 'ema'" in output and "state_key: ema" in output
    assert "Traceback" not in output and "INTERNALERROR" not in output


class _Names:
    """Stands in for the model: unwrapped reads only its state_dict's names."""

    def __init__(self, names):
        self.names = names

    def state_dict(self):
        return dict.fromkeys(self.names)


_NAME = st.lists(st.from_regex(r"[a-z][a-z0-9_]{0,6}", fullmatch=True), min_size=1, max_size=3).map(".".join)


@settings(max_examples=200, deadline=None)
@given(
    names=st.lists(_NAME, min_size=1, max_size=8, unique=True),
    prefixes=st.lists(st.sampled_from(["module.", "_orig_mod."]), max_size=3),
)
def test_any_stack_of_wrapper_prefixes_comes_off(names, prefixes):
    """Names may be 'module.x' themselves; the prefixes a wrapper added come off, and only those."""
    state = {name: torch.zeros(1) for name in names}
    wrapped = state
    for prefix in prefixes:
        wrapped = {prefix + k: v for k, v in wrapped.items()}
    if all(n.startswith(("module.", "_orig_mod.")) for n in names):
        return  # the model's own names carry a prefix: covered by test_a_prefix_the_model_has_itself_is_kept
    assert list(unwrapped(wrapped, _Names(names))) == names  # prefixes=[]: nothing to remove, unchanged
