"""ResNet50 (bottleneck blocks 3-4-6-3, torchvision's v1.5: stride on the 3x3 conv) for log-mel input.

Layer names are torchvision's: the stem ``conv1``, ``bn1``, ``relu``, ``maxpool``; the stages
``layer1``..``layer4`` of blocks ``layerS.B`` (each ``conv1/bn1/conv2/bn2/conv3/bn3/relu`` and, in a
stage's first block, ``downsample.0/1``); ``avgpool`` (global average pool), the flatten, and the FC
part ``fc``: one Linear when ``fc=()`` (torchvision's), else an nn.Sequential ``fc.0``, ``fc.1``, ...
of Linear + ReLU per hidden size and the output Linear last (the paper's ``fc=(1024, 4096)``:
``fc.0`` Linear 2048->1024, ``fc.1`` ReLU, ``fc.2`` Linear 1024->4096, ``fc.3`` ReLU, ``fc.4`` output).

Candidate layers: the stem's ``relu`` and ``maxpool``, every block's output (``layer1.0`` ...
``layer4.2``: after the residual sum and its ReLU, not the ReLUs inside a block), ``avgpool``, each
hidden FC's ReLU and the output Linear.
"""

from __future__ import annotations

import torch
from torch import nn

from privacy_checks.model.zoo.base import FLATTEN, Staged, scaled, torchvision_init
from privacy_checks.model.zoo.registry import register

STAGES = (3, 4, 6, 3)  # bottleneck blocks per stage
STAGE_WIDTHS = (64, 128, 256, 512)  # a block's output is 4x its width


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1):
        super().__init__()
        out = planes * self.expansion
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, out, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out)
        self.relu = nn.ReLU()
        self.downsample = None
        if stride != 1 or inplanes != out:
            self.downsample = nn.Sequential(nn.Conv2d(inplanes, out, 1, stride=stride, bias=False), nn.BatchNorm2d(out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        return self.relu(y + (x if self.downsample is None else self.downsample(x)))


class ResNet(Staged):
    family = "cnn"

    def __init__(self, blocks=STAGES, num_classes: int = 4, in_channels: int = 1, width: float = 1.0, fc=(1024, 4096)):
        super().__init__()
        channels = scaled(64, width)
        self.conv1 = nn.Conv2d(in_channels, channels, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.relu = nn.ReLU()
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        block_names = []
        for stage, (count, planes) in enumerate(zip(blocks, STAGE_WIDTHS), start=1):
            planes = scaled(planes, width)
            layer = []
            for b in range(count):
                layer.append(Bottleneck(channels, planes, 2 if stage > 1 and b == 0 else 1))
                channels = planes * Bottleneck.expansion
                block_names.append(f"layer{stage}.{b}")
            setattr(self, f"layer{stage}", nn.Sequential(*layer))
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        if fc:
            head: list[nn.Module] = []
            for units in fc:
                head += [nn.Linear(channels, scaled(units, width)), nn.ReLU()]
                channels = scaled(units, width)
            fc_layers = nn.Sequential(*head, nn.Linear(channels, num_classes))
            fc_steps = tuple(f"fc.{i}" for i in range(len(fc_layers)))
            self.fc: nn.Module = fc_layers
        else:
            self.fc = nn.Linear(channels, num_classes)
            fc_steps = ("fc",)
        self.steps = ("conv1", "bn1", "relu", "maxpool", *block_names, "avgpool", FLATTEN, *fc_steps)
        self.initialise(self)

    def initialise(self, module: nn.Module) -> None:
        torchvision_init(module)

    def candidate_layers(self) -> list[str]:
        blocks = [s for s in self.steps if s.startswith("layer")]
        if isinstance(self.fc, nn.Sequential):
            fc = [f"fc.{i}" for i, m in enumerate(self.fc) if isinstance(m, nn.ReLU)] + [f"fc.{len(self.fc) - 1}"]
        else:
            fc = ["fc"]
        return ["relu", "maxpool", *blocks, "avgpool", *fc]


@register("resnet50")
def resnet50(fc=(1024, 4096), **kwargs) -> ResNet:
    """Bottleneck ResNet, 3-4-6-3 blocks; FC part as the paper's (hidden 1024 and 4096) by default."""
    return ResNet(STAGES, fc=tuple(fc), **kwargs)
