"""An audit test of one's own: the layer we transmit must not leak to our own attacker."""

from conftest import TimeAverageMLP
from privacy_checks import CustomAttacker

TRANSMITTED_LAYER = "classifier.4"  # what our app sends to the server


def test_transmitted_layer_does_not_leak_gender(privacy_audit):
    result = privacy_audit.evaluate(CustomAttacker("time_average_mlp", build=TimeAverageMLP), TRANSMITTED_LAYER)
    assert result.status != "failed", f"L={result.estimate.leakage:.3f} at {TRANSMITTED_LAYER}"
