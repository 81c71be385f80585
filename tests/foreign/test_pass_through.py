"""A layer that hands T's input on leaks whatever the input does: it must fail, not read as chance.

Per-channel means and deviations over time see only a waveform's loudness (the layer read 0.53 with
an interval around chance, which more data would have turned into a pass); the probe's band
spectrum (model/spectra.py) sees its pitch."""

from __future__ import annotations

import pytest
import torch

from privacy_checks.engine import open_audit
from tests.foreign.models import pass_through

DATA = "synthetic:speakers=24,utterances=6,duration=1.0"
CONFIG = {
    "audit": {"budget": "quick", "scenarios": ["worst_case"], "layers": ["front"]},
    "model": {"factory": "tests.foreign.models:pass_through", "input": {"kind": "waveform", "duration_s": 1.0}},
}


@pytest.mark.slow
def test_a_layer_handing_the_waveform_on_fails(tmp_path):
    model = pass_through()
    seen: dict[str, torch.Tensor] = {}
    model.front.register_forward_hook(lambda _m, _i, out: seen.update(out=out))
    waves = torch.randn(2, 16000)
    model(waves)
    assert torch.equal(seen["out"][:, 0], waves)  # independent of the audit: the layer IS the input

    torch.save(model.state_dict(), tmp_path / "pass_through.pt")
    audit = open_audit(tmp_path / "pass_through.pt", DATA, config=CONFIG, base_dir=tmp_path, cache_dir=tmp_path / "c")
    (case,) = [case for case in audit.cases if case.layer == "front"]
    result = audit.result(case)
    assert result.estimate is not None
    assert result.status == "failed" and result.estimate.leakage >= 0.85, (result.status, result.estimate)
