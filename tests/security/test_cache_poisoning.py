"""Cache files decide nothing unless this user wrote them (issue 13): a planted or truncated layer
output is not read (recomputed, with a warning), so it cannot turn a FAIL into a pass; the fallback
cache folder is this user's own."""

from __future__ import annotations

import os

import numpy as np
import pytest

from privacy_checks import cache_seal
from privacy_checks.engine import open_audit
from privacy_checks.errors import PrivacyInputError
from tests.conftest import DEMO

DATA = "synthetic:speakers=20,utterances=4,duration=0.5"
CONFIG = {
    "audit": {"budget": "quick", "scenarios": ["worst_case"], "layers": ["features.3"], "bootstrap": 100},
    "attacker": {"epochs": 2},
}


def audit_status(cache):
    audit = open_audit(DEMO, DATA, config=CONFIG, cache_dir=cache / "embeddings", base_dir=cache)
    result = audit.result(audit.cases[0])
    return result.status, result.estimate.leakage


@pytest.fixture
def own_key(tmp_path, monkeypatch):
    monkeypatch.setenv("PRIVACY_CHECKS_SEAL_KEY_FILE", str(tmp_path / "keys" / "seal.key"))


@pytest.mark.parametrize("attack", ["random rows, old seal", "random rows, no seal", "truncated"])
def test_a_planted_layer_output_cannot_flip_a_fail(tmp_path, own_key, one_torch_thread, attack):
    status, leakage = audit_status(tmp_path)
    assert status == "failed" and leakage >= 0.9
    (stored,) = (tmp_path / "embeddings").glob("*/features.3.npy")
    data = np.load(stored)
    if attack == "truncated":
        stored.write_bytes(stored.read_bytes()[: stored.stat().st_size // 2])
    else:  # noise of the same shape: read as it is, the layer would pass
        np.save(stored, np.random.default_rng(0).normal(size=data.shape).astype(np.float32))
        if attack == "random rows, no seal":
            stored.with_name(stored.name + ".seal").unlink()
    with pytest.warns(cache_seal.CacheWarning, match="features.3.npy"):
        again = audit_status(tmp_path)
    assert again == (status, leakage)  # recomputed from the model: the same verdict and figure
    np.testing.assert_array_equal(np.load(stored), data)


def test_a_shared_or_foreign_cache_folder_is_refused(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o777)
    with pytest.raises(PrivacyInputError, match="writable by other users"):
        cache_seal.private_folder(shared)
    mine = cache_seal.private_folder(tmp_path / "mine")
    assert mine.stat().st_mode & 0o777 == 0o700
