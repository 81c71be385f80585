"""--privacy-baseline FILE: fail items whose leakage rose against the last accepted model.

The lifecycle of the issue: no baseline -> save -> unchanged model passes -> a leakier model fails
its regressed items naming the old and new L -> save again -> passes. Limits are set to 1.0 so only
the baseline can fail an item. The save is the shared run of group "baseline-saved" (tests/conftest.py:
SAVED_RUN), which test_option_privacy_save_baseline.py, test_option_privacy_report.py and
test_progress.py read too."""

from __future__ import annotations

import json

import pytest

from tests.conftest import SAVED_CONFIG, SAVED_LAYERS, SAVED_RUN

# a leaking layer (features.7: L ~0.9 at chance 0.5) and quieter ones, under limits of 1.0
LAYERS, CONFIG = SAVED_LAYERS, SAVED_CONFIG


def accept_a_quieter_model(baseline):
    """Rewrite a saved baseline into the one an earlier, quieter accepted model left: every item at
    chance (L 0.5, CI 0.4-0.6). A demo variant whose layers vary with the audio yet carry no gender
    is hard to build, and a constant layer is an error now, not a pass (engine/layer_checks.py)."""
    stored = json.loads(baseline.read_text())
    for item in stored["items"].values():
        item.update(leakage=0.5, ci_low=0.4, ci_high=0.6)
    baseline.write_text(json.dumps(stored))


@pytest.fixture
def project(audit_project, pytester):
    (pytester.path / "thresholds.yaml").write_text(CONFIG)
    return audit_project


@pytest.fixture
def saved(shared_audit):
    """The run that saves a baseline of LAYERS (first.json), once for the session: each test starts
    from a copy."""
    return shared_audit(*SAVED_RUN, config=CONFIG)


def copy_saved(saved, baseline):
    baseline.write_bytes((saved.path / "first.json").read_bytes())


def leakage(pytester, name="out"):
    rows = json.loads((pytester.path / name / "report.json").read_text())["results"]
    return {r["layer"]: r for r in rows}


@pytest.mark.xdist_group("baseline-saved")
def test_baseline_lifecycle(project, pytester, saved):
    baseline = pytester.path / "privacy-baseline.json"
    missing = project(*LAYERS, "--privacy-baseline", str(baseline))
    assert missing.ret == pytest.ExitCode.USAGE_ERROR
    assert (
        f"--privacy-baseline {baseline}: no such file; create one with --privacy-save-baseline" in missing.stderr.str()
    )

    assert saved.result.ret == pytest.ExitCode.OK  # saved by the same command in the shared project
    copy_saved(saved, baseline)
    stored = json.loads(baseline.read_text())
    assert sorted(stored["items"]) == [
        "worst_case[generic-tail_clone-classifier.1]",
        "worst_case[generic-tail_clone-features.7]",
        "worst_case[generic-tail_clone-pool]",
    ]
    assert all(0 <= item["ci_low"] <= item["leakage"] <= item["ci_high"] <= 1 for item in stored["items"].values())

    accept_a_quieter_model(baseline)
    leakier = project(*LAYERS, "--privacy-baseline", str(baseline), "--privacy-report", "out")
    assert leakier.ret == pytest.ExitCode.TESTS_FAILED
    rows = leakage(pytester)
    before, after = rows["features.7"]["baseline"]["leakage_before"], rows["features.7"]["leakage"]
    assert before == 0.5 and after - before > 0.3 and rows["features.7"]["status"] == "failed"
    out = leakier.stdout.str()
    assert "gender leakage rose against the baseline at layer features.7" in out
    assert f"L = {after:.3f} now" in out and f"{before:.3f} in the baseline" in out
    assert "--privacy-save-baseline" in out and "still within its absolute limit" in out

    assert project(*LAYERS, "--privacy-save-baseline", str(baseline)).ret == pytest.ExitCode.OK
    # Saved again, the baseline is the unchanged model's, byte for byte the first save: one run
    # against it checks both "the unchanged model passes" and "after saving again it passes".
    assert baseline.read_bytes() == (saved.path / "first.json").read_bytes()
    unchanged = project(*LAYERS, "--privacy-baseline", str(baseline), "--privacy-report", "out")
    assert unchanged.ret == pytest.ExitCode.OK
    rows = leakage(pytester)
    assert len(rows) == 3 and all(r["baseline"]["rise"] == 0 and not r["baseline"]["regressed"] for r in rows.values())


@pytest.mark.xdist_group("baseline-saved")
def test_configured_margin_replaces_the_combined_uncertainty(project, pytester, saved):
    baseline = pytester.path / "b.json"
    copy_saved(saved, baseline)
    accept_a_quieter_model(baseline)
    config = pytester.path / "thresholds.yaml"
    config.write_text(config.read_text() + "\nbaseline:\n  margin: 0.9\n")
    result = project(*LAYERS, "--privacy-baseline", str(baseline), "--privacy-report", "out")
    # rises of ~0.4 (features.7, classifier.1) and ~0.2 (pool) are within the 0.9 margin
    assert result.ret == pytest.ExitCode.OK
    assert {r["baseline"]["basis"] for r in leakage(pytester).values()} == {"margin"}


@pytest.mark.parametrize(
    "damage, message",
    [
        ("{not json", "not a readable baseline"),
        ('{"format": "something-else"}', "not a privacy-checks baseline"),
        ('{"format": "privacy-checks.baseline", "schema_version": 1, "items": {}}', "damaged baseline"),
        # a NaN compares false with everything: it would switch the regression check off silently
        (
            '{"format": "privacy-checks.baseline", "schema_version": 1, "model": {"architecture": "small_vgg"}, '
            '"comparable": {}, "items": {"x": {"leakage": NaN, "ci_low": 0.1, "ci_high": 0.2}}}',
            "damaged baseline: item x has leakage nan",
        ),
    ],
)
def test_corrupt_baseline_is_a_usage_error(project, pytester, damage, message):
    baseline = pytester.path / "b.json"
    baseline.write_text(damage)
    result = project("--privacy-baseline", str(baseline))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert message in result.stderr.str() and str(baseline) in result.stderr.str()
    assert "Traceback" not in result.stderr.str()
    assert baseline.read_text() == damage  # never rewritten


@pytest.mark.xdist_group("baseline-saved")
def test_baseline_for_another_model_corpus_or_settings_is_a_usage_error(project, pytester, saved):
    baseline = pytester.path / "b.json"
    assert saved.result.ret == pytest.ExitCode.OK
    copy_saved(saved, baseline)
    other_corpus = project(
        *LAYERS, "--privacy-baseline", str(baseline), data="synthetic:speakers=20,utterances=4,duration=1.0,seed=7"
    )
    assert other_corpus.ret == pytest.ExitCode.USAGE_ERROR
    assert "made with another audit corpus" in other_corpus.stderr.str()
    other_seed = project(*LAYERS, "--privacy-baseline", str(baseline), "--privacy-seed", "3")
    assert "made with another audit/attacker settings" in other_seed.stderr.str()
    stored = json.loads(baseline.read_text())
    stored["model"]["architecture"] = "resnet50"
    baseline.write_text(json.dumps(stored))
    other_model = project(*LAYERS, "--privacy-baseline", str(baseline))
    assert other_model.ret == pytest.ExitCode.USAGE_ERROR
    assert "made for a 'resnet50' model, this is 'small_vgg'" in other_model.stderr.str()
