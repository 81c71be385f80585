"""--privacy-trust-checkpoint: pickled whole modules and TorchScript archives load only when the user
vouches for them."""

from __future__ import annotations

import pytest
import torch

from privacy_checks.model import load_target
from tests.conftest import FAST_CONFIG


def test_trusted_pickled_module_is_audited(audit_project, pytester, demo_checkpoint):
    module = load_target(demo_checkpoint).module
    torch.save(module, pytester.path / "pickled.pt")
    pytester.makefile(
        ".yaml", thresholds=FAST_CONFIG + "model:\n  input: {kind: logmel, sample_rate: 16000, n_mels: 40}\n"
    )
    result = audit_project("-k", "features.7", "--privacy-trust-checkpoint", checkpoint=pytester.path / "pickled.pt")
    # a pickled VGGish still declares its candidate layers and its tail, and leaks like the original
    assert result.ret == pytest.ExitCode.TESTS_FAILED, result.stdout.str() + result.stderr.str()
    result.assert_outcomes(failed=1)
    assert "worst_case[generic-tail_clone-features.7]" in result.stdout.str()


def test_untrusted_pickled_module_is_refused(audit_project, pytester, demo_checkpoint):
    torch.save(load_target(demo_checkpoint).module, pytester.path / "pickled.pt")
    result = audit_project(checkpoint=pytester.path / "pickled.pt")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "pass --privacy-trust-checkpoint" in result.stderr.str()


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch.jit is deprecated, still in use
def test_untrusted_torchscript_is_refused(audit_project, pytester, demo_checkpoint):
    """A TorchScript archive is a program: a usage error naming the flag (tests/security plants one
    that writes a file)."""
    torch.jit.save(torch.jit.script(load_target(demo_checkpoint).module), str(pytester.path / "scripted.ts"))
    result = audit_project(checkpoint=pytester.path / "scripted.ts")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    err = result.stderr.str()
    assert "is a TorchScript archive" in err and "--privacy-trust-checkpoint" in err and "Traceback" not in err
