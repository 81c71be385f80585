"""--privacy-config FILE and the default thresholds.yaml: limits, overrides and usage errors."""

from __future__ import annotations

import json

import pytest

from tests.conftest import FAST_CONFIG, run_pytest_subprocess


def test_per_layer_override_decides_the_verdict(audit_project, pytester):
    pytester.makefile(".yaml", thresholds=FAST_CONFIG + 'limits:\n  layers:\n    "features.7": 0.6\n')
    result = audit_project("-k", "features.7", "--privacy-report", "out")
    assert result.ret == pytest.ExitCode.OK
    row = json.loads((pytester.path / "out" / "report.json").read_text())["results"][0]
    assert row["max_excess"] == 0.6 and row["limit_key"] == 'limits.layers."features.7"'


def test_explicit_config_file_is_used(audit_project, pytester):
    pytester.makefile(".yaml", strict=FAST_CONFIG + "limits:\n  rule: point\n  max_excess: 0.0\n")
    result = audit_project("-k", "features.7", "--privacy-config", "strict.yaml")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert "the rule 'point' compares the point estimate" in result.stdout.str()


def test_thresholds_yaml_where_pytest_runs_is_read_for_a_model_outside_the_folder(audit_project, pytester):
    # pytest takes its rootdir from path-like arguments: with the model in a sibling folder the
    # rootdir is their common parent, and ./thresholds.yaml was ignored without a word.
    project = pytester.mkdir("project")
    models = pytester.mkdir("models")
    (models / "demo_ser.pt").write_bytes((pytester.path / "demo_ser.pt").read_bytes())
    (project / "thresholds.yaml").write_text("limits:\n  max_exces: 0.05\n")
    result = run_pytest_subprocess(
        project, "-p", "no:cacheprovider", "--privacy-audit", "../models/demo_ser.pt", "--co", "-q"
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "thresholds.yaml:2: unknown key 'max_exces'" in result.stderr.str()


def test_missing_explicit_config_is_a_usage_error(audit_project):
    result = audit_project("--privacy-config", "nowhere.yaml")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "nowhere.yaml" in result.stderr.str()


@pytest.mark.parametrize(
    "text, expected",
    [
        ("limits:\n  max_excess: [unclosed\n", "malformed YAML"),
        ("limits:\n  max_exces: 0.1\n", "thresholds.yaml:2: unknown key 'max_exces'"),
        ("audit:\n  folds: 1\n", "thresholds.yaml:2:"),
        ("limits:\n  rule: median\n", "thresholds.yaml:2:"),
    ],
    ids=["malformed", "unknown-key", "out-of-range", "bad-rule"],
)
def test_bad_thresholds_yaml_is_a_usage_error(audit_project, pytester, text, expected):
    pytester.makefile(".yaml", thresholds=text)
    result = audit_project()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    err = result.stderr.str()
    assert expected in err, err
    assert "Traceback" not in err + result.stdout.str()
    assert (pytester.path / "thresholds.yaml").read_text().strip() == text.strip()  # never rewritten


def test_audit_layers_glob_that_matches_nothing(audit_project, pytester):
    pytester.makefile(".yaml", thresholds=FAST_CONFIG.replace("audit:\n", "audit:\n  layers: ['encoder.*']\n"))
    result = audit_project()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "'encoder.*' matches no candidate layer" in result.stderr.str()
    assert "features.2" in result.stderr.str()


def test_limit_pattern_that_matches_nothing(audit_project, pytester):
    pytester.makefile(".yaml", thresholds=FAST_CONFIG + 'limits:\n  layers:\n    "feature.7": 0.05\n')
    result = audit_project()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    err = result.stderr.str()
    assert "thresholds.yaml: limits.layers.'feature.7': 'feature.7' matches no candidate layer" in err, err
    assert "did you mean 'features.7'" in err and "Traceback" not in err
