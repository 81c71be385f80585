"""Tiny models with layers that cannot be attacked, for `model.factory: "tests.broken_models:NAME"`
with a plain state_dict checkpoint (issue 12: a layer emitting NaN read L = 0.500, "pass").

`nan_layer`: on log-mel frames (B, T, n_mels), `embed` is a healthy (B, T, 16) layer; `log_energy`
takes the log of a linear map that goes negative, so it emits NaN (as a log of silence or of a
badly scaled feature does); `dead` multiplies by zero, so it emits the same output for every
utterance. Neither feeds the classifier: T itself still gives finite logits.
"""

from __future__ import annotations

import torch
from torch import nn

N_MELS = 40
EMOTIONS = 4
INPUT = {"kind": "logmel", "sample_rate": 16000, "n_mels": N_MELS, "layout": "sequence"}


class Log(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.log(x)


class Dead(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * 0.0


class NaNLayerModel(nn.Module):
    def __init__(self, hidden: int = 16) -> None:
        super().__init__()
        self.embed = nn.Sequential(nn.Linear(N_MELS, hidden), nn.ReLU())
        self.project = nn.Linear(hidden, hidden)
        self.log_energy = Log()
        self.dead = Dead()
        self.classifier = nn.Linear(hidden, EMOTIONS)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:  # (B, T, n_mels)
        hidden = self.embed(frames)
        self.log_energy(self.project(hidden) - 1.0)  # NaN wherever the map is below 1
        self.dead(hidden)
        return self.classifier(hidden.mean(dim=1))


def nan_layer() -> nn.Module:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return NaNLayerModel()
