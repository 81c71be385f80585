"""Calibration of the instrument (fast versions; full sizes: benchmarks/calibration.py). Each test
fails if the harness loses its specificity (flags leakage that is not there) or its power (misses
leakage that is)."""

from __future__ import annotations

import pytest

from privacy_checks.study import calibration

ALPHA = 0.05


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("calibration")


@pytest.fixture(scope="module")
def audits_once():
    """Each distinct calibration audit once per module: the power check's audit (gender_effect 1,
    seed 0, POWER_FAST) is also the dose-response's last point, and an audit's figures depend only
    on its arguments (every random stream is seeded from them)."""
    run_audit = calibration.run_audit
    runs: dict[tuple, calibration.AuditRun] = {}

    def once(gender_effect, seed, settings=calibration.NULL_FAST, cache=None):
        key = (gender_effect, seed, settings, cache)
        if key not in runs:
            runs[key] = run_audit(gender_effect, seed, settings, cache)
        return runs[key]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(calibration, "run_audit", once)
        yield


def test_null_corpora_are_flagged_no_more_often_than_alpha(cache, one_torch_thread):
    check = calibration.null_check(range(20), alpha=ALPHA, cache=cache)
    assert check.items == 80  # 20 seeds x 4 layers
    # The default rule (CI lower bound above chance + 0.1) should never fire without a signal.
    assert check.flagged == 0, check.lines()
    # The permutation test at its nominal level, and intervals wholly above chance (the false-alarm
    # side) at alpha/2: a share this large at that rate would have probability < 1 %.
    assert check.binomial_p(check.significant) > 0.01, check.lines()
    assert check.binomial_p(check.above_chance, ALPHA / 2) > 0.01, check.lines()
    assert check.significant / check.items <= ALPHA + 0.05, check.lines()
    # Two-sided: cross-validated accuracy under the null also dips below chance (anti-learning),
    # which a bootstrap over fixed predictions does not cover; bounded, not held to alpha.
    assert check.missed_chance / check.items <= 2 * ALPHA, check.lines()


@pytest.mark.xdist_group("calibration-power")
def test_a_passthrough_layer_on_gendered_voices_leaks_and_fails(cache, one_torch_thread, audits_once):
    check = calibration.power_check(cache=cache)
    assert check.rows and check.min_leakage >= 0.9, check.lines()
    assert check.all_failed, check.lines()


@pytest.mark.xdist_group("calibration-power")
def test_leakage_rises_with_the_gender_effect(cache, one_torch_thread, audits_once):
    dose = calibration.dose_response((0.0, 0.25, 0.5, 1.0), cache=cache)
    assert dose.monotone_within_ci(), dose.lines()
    assert dose.spearman() > 0.75, dose.lines()
    none, full = dose.leakage[0], dose.leakage[-1]
    assert full.ci_low > none.ci_high, dose.lines()  # the extremes are clearly apart
    assert none.ci_low <= none.chance <= none.ci_high, dose.lines()


def test_no_layer_leaks_more_than_a_strong_probe_on_the_raw_input(cache, one_torch_thread):
    check = calibration.processing_check(cache=cache)
    assert set(check.layers) == set(calibration.LAYERS)
    assert check.violations() == [], check.lines()
    assert check.probe.leakage >= 0.75, check.lines()  # the bound is only informative if the probe is strong
