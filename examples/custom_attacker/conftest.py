"""A team's own attacker, run at every audited layer beside the Table 1 scenarios."""

import math

import torch

from privacy_checks import CustomAttacker


class TimeAverageMLP(torch.nn.Module):
    """Average a conv map (C, F, T) over time, then a small MLP on the C*F values."""

    def __init__(self, shape, outputs):
        super().__init__()
        width = math.prod(shape[:-1]) if len(shape) > 1 else shape[0]
        self.mlp = torch.nn.Sequential(torch.nn.Linear(width, 32), torch.nn.ReLU(), torch.nn.Linear(32, outputs[0]))

    def forward(self, x):
        return self.mlp(x.mean(-1).flatten(1) if x.dim() > 2 else x)


def pytest_privacy_attackers(config):
    return [CustomAttacker("time_average_mlp", build=TimeAverageMLP)]
