"""--privacy-trust-checkpoint: pickled whole modules load only when the user vouches for them."""

from __future__ import annotations

import pytest
import torch

from privacy_checks.target import load_target


def test_trusted_pickled_module_is_audited(audit_project, pytester, demo_checkpoint):
    module = load_target(demo_checkpoint).module
    torch.save(module, pytester.path / "pickled.pt")
    pytester.makefile(".yaml", thresholds="model:\n  input: {kind: logmel, sample_rate: 16000, n_mels: 40}\n"
                                          "attacker:\n  epochs: 2\n")
    result = audit_project("-k", "classifier.4", "--privacy-trust-checkpoint", checkpoint=pytester.path / "pickled.pt")
    assert result.ret == pytest.ExitCode.OK, result.stdout.str() + result.stderr.str()
    # a pickled VGGish still declares its candidate layers and tail
    assert "worst_case[generic-linear_probe-classifier.4] PASSED" in result.stdout.str() or result.parseoutcomes()["passed"] == 1


def test_untrusted_pickled_module_is_refused(audit_project, pytester, demo_checkpoint):
    torch.save(load_target(demo_checkpoint).module, pytester.path / "pickled.pt")
    result = audit_project(checkpoint=pytester.path / "pickled.pt")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "pass --privacy-trust-checkpoint" in result.stderr.str()
