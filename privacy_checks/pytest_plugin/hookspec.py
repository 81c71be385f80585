"""Hooks users implement in their conftest.py to extend the audit."""

from __future__ import annotations

import pytest


def pytest_privacy_attackers(config: pytest.Config):
    """Return extra attackers (a list of :class:`privacy_checks.CustomAttacker`) to run at every
    audited layer beside the Table 1 scenarios. Each becomes its own scenario, named after it, with
    items ``NAME[KIND-NAME-LAYER]``; its limits come from thresholds.yaml like any other
    (``limits.overrides: [{scenario: NAME, max_excess: ...}]``).

    A head that raises fails only its own items, with its own traceback.

    Example (conftest.py)::

        import torch
        from privacy_checks import CustomAttacker

        def mean_pool_mlp(shape, outputs):
            return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.LazyLinear(64), torch.nn.ReLU(),
                                       torch.nn.Linear(64, outputs[0]))

        def pytest_privacy_attackers(config):
            return [CustomAttacker("mlp", build=mean_pool_mlp)]
    """
