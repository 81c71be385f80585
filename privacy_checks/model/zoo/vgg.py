"""VGG-style SER CNNs on 1-channel log-mel spectrograms.

Layer names follow torchvision's VGG (``features.N``, ``classifier.N``) so the paper's "layer #3 =
first pooling layer" maps to a stable name. ``tail_from(layer)`` builds the network from a layer on
with fresh weights: the worst-case attacker's architecture (docs/design.md §2, "same architecture").
"""

from __future__ import annotations

import torch
from torch import nn

from privacy_checks.model.zoo.base import fresh_copy as _fresh
from privacy_checks.model.zoo.base import scaled
from privacy_checks.model.zoo.registry import register

# Channels per block; each block is conv-BN-ReLU (x convs) then max-pool, as VGG.
SMALL_VGG_BLOCKS = ((16,), (32,), (64,))


class VGGish(nn.Module):
    family = "cnn"  # the attacker families of docs/design.md §2 are chosen relative to this

    def __init__(self, blocks=SMALL_VGG_BLOCKS, num_classes: int = 4, hidden: int = 128, dropout: float = 0.3):
        super().__init__()
        layers: list[nn.Module] = []
        in_ch = 1
        for block in blocks:
            for out_ch in block:
                layers += [nn.Conv2d(in_ch, out_ch, 3, padding=1), nn.BatchNorm2d(out_ch), nn.ReLU()]
                in_ch = out_ch
            layers.append(nn.MaxPool2d(2))
        self.features = nn.Sequential(*layers)
        # Global average pooling keeps the head independent of clip length and small enough for a
        # committed checkpoint.
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(in_ch, hidden),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.pool(self.features(x)))

    def candidate_layers(self) -> list[str]:
        """Split points worth auditing: block outputs (ReLU, pool) and the classifier's hidden units."""
        names = [f"features.{i}" for i, m in enumerate(self.features) if isinstance(m, (nn.ReLU, nn.MaxPool2d))]
        names.append("pool")
        names += [f"classifier.{i}" for i, m in enumerate(self.classifier) if isinstance(m, (nn.ReLU, nn.Linear))]
        return names

    def tail_from(self, layer: str, num_classes: int = 2) -> nn.Module | None:
        """T's architecture after `layer`, re-initialised, with a `num_classes` output; None when the
        layer is the output layer (nothing left to clone)."""
        section, _, index = layer.partition(".")
        head = _fresh(self.classifier)
        head[-1] = nn.Linear(head[-1].in_features, num_classes)
        if section == "input":  # the whole architecture: the positive control's attacker
            return nn.Sequential(_fresh(self.features), _fresh(self.pool), head)
        if section == "features":
            rest = _fresh(self.features[int(index) + 1 :])
            return nn.Sequential(rest, _fresh(self.pool), head)
        if section == "pool":
            return head
        if section == "classifier":
            i = int(index)
            if i == len(self.classifier) - 1:
                return None
            return head[i + 1 :]
        raise KeyError(layer)


@register("small_vgg")
def small_vgg(num_classes: int = 4, width: float = 1.0, hidden: int = 128, **kwargs) -> VGGish:
    """Three conv blocks (16-32-64 channels): the demo SER model, CPU-sized. `width` scales the
    channels and hidden units (as for every zoo model; width 1 is the committed demo's model)."""
    blocks = tuple(tuple(scaled(c, width) for c in block) for block in SMALL_VGG_BLOCKS)
    return VGGish(blocks, num_classes=num_classes, hidden=scaled(hidden, width), **kwargs)
