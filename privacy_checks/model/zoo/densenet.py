"""DenseNet121 (growth 32, blocks 6-12-24-16, bottleneck size 4, compression 0.5) for log-mel input.

Layer names are torchvision's: ``features.conv0`` (7x7/2), ``features.norm0``, ``features.relu0``,
``features.pool0`` (3x3/2 max), ``features.denseblock1`` (dense layers ``denselayer1`` ... each
``norm1/relu1/conv1/norm2/relu2/conv2``), ``features.transition1`` (``norm/relu/conv/pool``), ...,
``features.denseblock4``, ``features.norm5``, then ``classifier`` (the output Linear). torchvision
applies the final ReLU and global average pool as functions; here they are the parameter-free
modules ``relu`` and ``avgpool`` so the pooled features are an interceptable layer (state_dict keys
are unchanged).

Candidate layers: the stem's ``features.relu0`` and ``features.pool0``, every dense block's and
transition's output, ``avgpool`` and the output ``classifier``.
"""

from __future__ import annotations

import torch
from torch import nn

from privacy_checks.model.zoo.base import FLATTEN, Staged, scaled, torchvision_init
from privacy_checks.model.zoo.registry import register

BLOCKS = (6, 12, 24, 16)
GROWTH = 32
BN_SIZE = 4


class DenseLayer(nn.Module):
    """BN-ReLU-1x1 conv (bn_size x growth channels), BN-ReLU-3x3 conv: `growth` new channels."""

    def __init__(self, channels: int, growth: int, bn_size: int = BN_SIZE):
        super().__init__()
        self.norm1 = nn.BatchNorm2d(channels)
        self.relu1 = nn.ReLU()
        self.conv1 = nn.Conv2d(channels, bn_size * growth, 1, bias=False)
        self.norm2 = nn.BatchNorm2d(bn_size * growth)
        self.relu2 = nn.ReLU()
        self.conv2 = nn.Conv2d(bn_size * growth, growth, 3, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(self.relu2(self.norm2(self.conv1(self.relu1(self.norm1(x))))))


class DenseBlock(nn.ModuleDict):
    """Each layer reads the concatenation of the block's input and every earlier layer's output."""

    def __init__(self, layers: int, channels: int, growth: int):
        super().__init__({f"denselayer{i + 1}": DenseLayer(channels + i * growth, growth) for i in range(layers)})

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = [x]
        for layer in self.values():
            features.append(layer(torch.cat(features, 1)))
        return torch.cat(features, 1)


class Transition(nn.Sequential):
    def __init__(self, channels: int, out: int):
        super().__init__()
        self.add_module("norm", nn.BatchNorm2d(channels))
        self.add_module("relu", nn.ReLU())
        self.add_module("conv", nn.Conv2d(channels, out, 1, bias=False))
        self.add_module("pool", nn.AvgPool2d(2, 2))


class DenseNet(Staged):
    family = "cnn"

    def __init__(self, blocks=BLOCKS, num_classes: int = 4, in_channels: int = 1, width: float = 1.0):
        super().__init__()
        growth = scaled(GROWTH, width)
        channels = 2 * growth  # torchvision's num_init_features = 64 = 2 x growth
        self.features = nn.Sequential()
        self.features.add_module("conv0", nn.Conv2d(in_channels, channels, 7, stride=2, padding=3, bias=False))
        self.features.add_module("norm0", nn.BatchNorm2d(channels))
        self.features.add_module("relu0", nn.ReLU())
        self.features.add_module("pool0", nn.MaxPool2d(3, stride=2, padding=1))
        for i, layers in enumerate(blocks, start=1):
            self.features.add_module(f"denseblock{i}", DenseBlock(layers, channels, growth))
            channels += layers * growth
            if i < len(blocks):
                self.features.add_module(f"transition{i}", Transition(channels, channels // 2))
                channels //= 2
        self.features.add_module("norm5", nn.BatchNorm2d(channels))
        self.relu = nn.ReLU()
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.classifier = nn.Linear(channels, num_classes)
        self.steps = (
            *(f"features.{name}" for name, _ in self.features.named_children()),
            "relu",
            "avgpool",
            FLATTEN,
            "classifier",
        )
        self.initialise(self)

    def initialise(self, module: nn.Module) -> None:
        torchvision_init(module)

    def candidate_layers(self) -> list[str]:
        stages = [
            f"features.{n}" for n, _ in self.features.named_children() if n.startswith(("denseblock", "transition"))
        ]
        return ["features.relu0", "features.pool0", *stages, "avgpool", "classifier"]


@register("densenet121")
def densenet121(**kwargs) -> DenseNet:
    """DenseNet-BC 121: 4 dense blocks of 6, 12, 24, 16 layers with halving transitions."""
    return DenseNet(BLOCKS, **kwargs)
