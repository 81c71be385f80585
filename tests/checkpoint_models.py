"""A tiny waveform model of the kind training scripts save, for `model.factory:
"tests.checkpoint_models:build"` with a training checkpoint (issue 14).

Its forward is `forward(waveform, lengths)` and pools its frames over each example's valid length;
what it returns depends on `returns`: "dict" {"logits", "embedding"}, "tuple" (embedding, logits),
or "hidden" {"last_hidden_state", "pooled"} (a ModelOutput-like mapping with no logits).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

EMOTIONS = 4
SAMPLE_RATE = 16000
INPUT = {"kind": "waveform", "sample_rate": SAMPLE_RATE, "duration_s": 1.0}
HOP = 160  # the frontend's stride: one frame per 10 ms


class LengthsModel(nn.Module):
    def __init__(self, returns: str = "dict", width: int = 16) -> None:
        super().__init__()
        self.returns = returns
        self.frontend = nn.Sequential(nn.Conv1d(1, width, 400, stride=HOP), nn.ReLU())
        self.encoder = nn.Sequential(nn.Conv1d(width, width, 3, padding=1), nn.ReLU())
        self.embed = nn.Linear(width, width)
        self.classifier = nn.Linear(width, EMOTIONS)
        self.seen_lengths: list[torch.Tensor] = []  # what forward was given (the unit tests read it)

    def forward(self, waveform: torch.Tensor, lengths: torch.Tensor) -> Any:
        self.seen_lengths.append(lengths.clone())
        frames = self.encoder(self.frontend(waveform.unsqueeze(1)))  # (B, C, T)
        valid = ((lengths - 400) // HOP + 1).clamp(min=1, max=frames.shape[-1])
        mask = (torch.arange(frames.shape[-1])[None, :] < valid[:, None]).to(frames.dtype)
        pooled = (frames * mask[:, None, :]).sum(-1) / mask.sum(-1, keepdim=True)
        embedding = self.embed(pooled)
        logits = self.classifier(torch.relu(embedding))
        if self.returns == "tuple":
            return embedding, logits
        if self.returns == "hidden":
            return {"last_hidden_state": frames.transpose(1, 2), "pooled": embedding}
        return {"logits": logits, "embedding": embedding}


def build(returns: str = "dict", width: int = 16, seed: int = 0) -> LengthsModel:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return LengthsModel(returns, width)


def training_checkpoint(model: nn.Module, **extra: Any) -> dict[str, Any]:
    """{"model_state": weights, "optimizer": Adam's state after one step, "epoch": 3, **extra}."""
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    wave = torch.randn(2, SAMPLE_RATE)
    output = model(wave, torch.tensor([SAMPLE_RATE, SAMPLE_RATE]))
    logits = output.get("logits", output.get("pooled")) if isinstance(output, dict) else output[-1]
    logits.sum().backward()
    optimizer.step()
    model.seen_lengths.clear()
    return {"model_state": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": 3, **extra}
