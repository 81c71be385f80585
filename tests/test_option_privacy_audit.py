"""--privacy-audit: collection, node ids, verdicts, failure text and checkpoint errors."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from privacy_checks.model import load_target
from tests.conftest import C4_RUN, COLLECT_RUN, DEMO, FAST_CONFIG, f7_c4_run

LAYERS = [
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


@pytest.mark.xdist_group("collect")
def test_collects_one_item_per_layer_with_readable_ids(shared_audit):
    result = shared_audit(*COLLECT_RUN).result  # --collect-only -q
    assert result.ret == 0
    ids = [line for line in result.outlines if "::" in line]
    assert len(ids) == len(LAYERS)
    assert ids[0] == "demo_ser.pt::worst_case[generic-tail_clone-features.2]"
    assert ids[-1] == "demo_ser.pt::worst_case[generic-linear_probe-classifier.4]"


def test_k_selects_one_layer(audit_project):
    result = audit_project("--collect-only", "-q", "-k", "features.3")
    ids = [line for line in result.outlines if "::" in line]
    assert [i.rsplit("-", 1)[-1] for i in ids] == ["features.3]"]


def test_a_checkpoint_linked_from_outside_the_project_keeps_its_name_in_the_ids(audit_project, pytester):
    # the link is collected as given (its target, outside the rootdir, gave ids without a file name)
    elsewhere = pytester.path.parent / "models"
    elsewhere.mkdir()
    (elsewhere / "real.pt").write_bytes(DEMO.read_bytes())
    (pytester.path / "linked.pt").symlink_to(elsewhere / "real.pt")
    result = audit_project("--collect-only", "-q", "-k", "features.3", checkpoint="linked.pt")
    ids = [line for line in result.outlines if "::" in line]
    assert ids == ["linked.pt::worst_case[generic-tail_clone-features.3]"], result.outlines


@pytest.mark.xdist_group("audit-f7-c4")
def test_leaky_layer_fails_with_domain_message(shared_audit):
    # features.7 leaks as features.3 does; its tail (one conv block) trains in under half the time
    result = shared_audit(*f7_c4_run()).result  # -k "features.7 or classifier.4" (+ report folder, junit XML)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    text = result.stdout.str()
    assert "gender leakage above the limit at layer features.7" in text
    assert "thresholds.yaml: limits.max_excess" in text
    assert "95% CI" in text and "chance = 0.500" in text
    assert "the rule 'interval' fails it because the whole interval of the excess" in text
    # 20 speakers cannot show classifier.4 within 0.1 (interval about +-0.125): not a pass, so no
    # layer is a safe split point either
    assert "INCONCLUSIVE at layer classifier.4" in text and "speakers (now 20) would decide it" in text
    assert "no audited layer passes at this limit" in text
    assert "Traceback" not in text and "def runtest" not in text
    # the summary table lists both layers with their verdicts and the attacker whose reading decided
    assert "privacy audit: gender leakage" in text
    table = [line for line in result.outlines if line.startswith(("features.7 ", "classifier.4 "))]
    assert [line.split()[-2:] for line in table] == [["FAIL", "convex_probe"], ["inconcl.", "convex_probe"]]
    assert "verdict: FAIL — 1 failed, 0 passed, 1 inconclusive, 0 skipped" in text


def test_failure_names_the_safe_split_point_under_the_ci_low_relaxation(audit_project, pytester):
    pytester.makefile(".yaml", thresholds=FAST_CONFIG + "limits:\n  rule: ci_low\n")
    result = audit_project("-k", "features.7 or classifier.4")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    text = result.stdout.str()
    assert "the rule 'ci_low' compares the CI lower bound" in text
    assert "move the split point to classifier.4" in text
    assert "decision rule: ci_low (limits.rule) — a relaxation" in text
    table = [line for line in result.outlines if line.startswith(("features.7 ", "classifier.4 "))]
    assert [line.split()[-2:] for line in table] == [["FAIL", "convex_probe"], ["pass", "convex_probe"]]


def test_inactive_plugin_imports_no_torch(pytester: pytest.Pytester):
    pytester.makepyfile(test_plain="def test_ok():\n    assert True\n")
    probe = (
        "import sys, pytest\n"
        "code = pytest.main(['-q', '-p', 'no:cacheprovider'])\n"
        "assert 'privacy_checks.pytest_plugin.hooks' in sys.modules, 'plugin not loaded'\n"
        "print('TORCH_IMPORTED' if 'torch' in sys.modules else 'NO_TORCH')\n"
        "sys.exit(code)\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], cwd=pytester.path, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "NO_TORCH" in result.stdout


def test_audit_runs_beside_users_tests(audit_project, pytester: pytest.Pytester):
    pytester.makepyfile(test_user="def test_user():\n    assert True\n")
    result = audit_project("--collect-only", "-q", "test_user.py")
    ids = [line for line in result.outlines if "::" in line]
    assert any(i.startswith("test_user.py::test_user") for i in ids)
    assert sum("demo_ser.pt::" in i for i in ids) == len(LAYERS)


def _labels_five(path):
    payload = torch.load(DEMO, weights_only=True)
    torch.save({**payload, "labels": 5}, path)


@pytest.mark.parametrize(
    "name, make_file, expected",
    [
        ("model.pt", lambda p: None, ["does not exist"]),
        ("model.pt", lambda p: p.write_bytes(b"not a checkpoint at all"), ["cannot read checkpoint", "text file"]),
        ("model.pt", lambda p: torch.save({"format": "something-else"}, p), ["not a checkpoint this tool understands"]),
        ("model.pt", lambda p: p.write_bytes(DEMO.read_bytes()[:5000]), ["not a PyTorch checkpoint", "truncated"]),
        ("model.pt", lambda p: p.write_bytes(b""), ["not a PyTorch checkpoint", "the file is empty"]),
        ("model.pt", lambda p: p.mkdir(), ["is a directory", "the file inside it"]),
        ("model.pt", lambda p: p.symlink_to(p), ["symbolic link loop"]),
        ("model.tflite", lambda p: p.write_bytes(b"\x08\x07"), ["Lite format", "not supported", "export .pt2"]),
        ("model.pt", _labels_five, ["checkpoint key 'labels'", "int 5", "list of label names"]),
    ],
    ids=["missing", "corrupt", "unknown-dict", "truncated", "empty", "directory", "symlink-loop", "tflite", "labels-5"],
)  # fmt: skip
def test_bad_checkpoint_is_a_usage_error(audit_project, pytester, name, make_file, expected):
    path = pytester.path / name
    make_file(path)
    result = audit_project(checkpoint=path)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    err = result.stderr.str()
    assert str(path) in err
    for words in expected:
        assert words in err, err
    output = err + result.stdout.str()
    assert "Traceback" not in output and "INTERNALERROR" not in output


def test_pickled_module_is_refused_without_trust(audit_project, pytester, demo_checkpoint):
    path = pytester.path / "pickled.pt"
    torch.save(load_target(demo_checkpoint).module, path)
    result = audit_project(checkpoint=path)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    err = result.stderr.str()
    assert "pickled nn.Module" in err and "--privacy-trust-checkpoint" in err and "state_dict" in err


@pytest.mark.xdist_group("audit-c4")
def test_junit_xml_carries_the_figures(shared_audit):
    import xml.etree.ElementTree as ET

    run = shared_audit(*C4_RUN)  # -k classifier.4 --junitxml junit.xml (+ --privacy-device auto)
    case = ET.parse(run.path / "junit.xml").getroot().find(".//testcase")
    properties = {p.get("name"): float(p.get("value")) for p in case.iter("property")}
    assert {"leakage", "ci_low", "ci_high", "chance", "max_excess", "p_value"} <= set(properties)
    assert properties["ci_low"] <= properties["leakage"] <= properties["ci_high"]


# A model on log-mel frames (B, T, 40) whose forward raises on batches larger than the layer survey's
# (it runs batches of 1 to 5): the survey passes, the forward pass over the corpus (batches of 32) raises.
PICKY_MODEL = """
from torch import nn


class Picky(nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(40, 4)

    def forward(self, x):
        if x.shape[0] > 8:
            raise ValueError(f"batch of {x.shape[0]} is too large for this model\\nsecond line")
        return self.proj(x).mean(dim=1)


def build():
    return Picky()


def broken(size=3):
    raise TypeError(f"size {size} is not a valid size")
"""
SEQUENCE_INPUT = "  input: {kind: logmel, sample_rate: 16000, n_mels: 40, layout: sequence, duration_s: 1.0}\n"


def _weights(pytester) -> str:
    torch.save({f"proj.{k}": v for k, v in torch.nn.Linear(40, 4).state_dict().items()}, pytester.path / "weights.pt")
    return str(pytester.path / "weights.pt")


def _no_traceback(result) -> str:
    output = result.stderr.str() + result.stdout.str()
    assert "Traceback" not in output and "INTERNALERROR" not in output
    return result.stderr.str()


def test_pt2_with_a_static_batch_size_is_a_usage_error(audit_project, pytester):
    pytester.makefile(".yaml", thresholds=FAST_CONFIG + "model:\n" + SEQUENCE_INPUT)
    program = torch.export.export(torch.nn.Linear(40, 4), (torch.zeros(2, 51, 40),))  # torch's default: static
    path = pytester.path / "static.pt2"
    torch.export.save(program, str(path))
    result = audit_project(checkpoint=path)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    err = _no_traceback(result)
    assert str(path) in err and "fixes the batch size at 2" in err
    assert "dynamic_shapes=({0: torch.export.Dim(" in err


def test_a_forward_that_raises_during_the_audit_is_a_usage_error(audit_project, pytester):
    pytester.makepyfile(picky_model=PICKY_MODEL)
    pytester.makefile(".yaml", thresholds=FAST_CONFIG + "model:\n  factory: 'picky_model:build'\n" + SEQUENCE_INPUT)
    weights = _weights(pytester)
    result = audit_project("-k", "proj", checkpoint=weights)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    err = _no_traceback(result)
    assert weights in err and "forward pass raised ValueError: batch of 32 is too large for this model" in err
    assert "second line" not in err and "model.input" in err


def test_a_state_dict_without_any_thresholds_yaml_says_where_it_was_looked_for(audit_project, pytester):
    (pytester.path / "thresholds.yaml").unlink()
    result = audit_project(checkpoint=_weights(pytester))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    err = _no_traceback(result)
    assert "model.factory in thresholds.yaml" in err
    assert f"no thresholds.yaml was read: none in the folder pytest runs in nor in the rootdir {pytester.path}" in err


def test_a_factory_that_raises_is_a_usage_error(audit_project, pytester):
    pytester.makepyfile(picky_model=PICKY_MODEL)
    factory = "model:\n  factory: 'picky_model:broken'\n  kwargs: {size: 7}\n"
    pytester.makefile(".yaml", thresholds=FAST_CONFIG + factory + SEQUENCE_INPUT)
    result = audit_project(checkpoint=_weights(pytester))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    err = _no_traceback(result)
    assert "model.factory 'picky_model:broken'" in err and "TypeError: size 7 is not a valid size" in err
    assert "model.kwargs" in err


def test_the_factory_hint_is_what_puts_the_module_on_the_path(audit_project, pytester):
    """The module is in src/, not on sys.path (pytester's subprocess puts the project root there
    itself): the hint's `pythonpath` ini option is what makes it importable."""
    (pytester.path / "src").mkdir()
    (pytester.path / "src" / "user_models.py").write_text(PICKY_MODEL)
    pytester.makefile(".yaml", thresholds=FAST_CONFIG + "model:\n  factory: 'user_models:build'\n" + SEQUENCE_INPUT)
    weights = _weights(pytester)
    result = audit_project("--collect-only", "-q", checkpoint=weights)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    err = _no_traceback(result)
    assert "No module named 'user_models'" in err and "pythonpath = ." in err and "PYTHONPATH=." in err
    pytester.makeini("[pytest]\npythonpath = src\n")
    result = audit_project("--collect-only", "-q", checkpoint=weights)
    assert result.ret == pytest.ExitCode.OK, result.stderr.str()
    assert any("weights.pt::" in line for line in result.outlines)
