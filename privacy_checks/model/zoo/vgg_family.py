"""VGG16 and VGG19 (torchvision's configurations D and E, no batch norm) for log-mel input.

Layer names are torchvision's, so pretrained-weight keys and the paper's layer numbers map to stable
names. ``features.N`` alternates conv3x3 and ReLU with a 2x2 max-pool closing each stage; then
``avgpool`` (adaptive average pool to ``pool``: any spectrogram size works), the flatten, and
``classifier.0..6`` = Linear, ReLU, Dropout, Linear, ReLU, Dropout, Linear (output).

The paper counts conv layers (with their ReLU), pools and FC layers from 1 ("layer #3 = first
pooling layer"); paper layer #n is ``candidate_layers()[n - 1]`` up to the last pool, then FC6 =
``classifier.1``, FC7 = ``classifier.4``, FC8 = ``classifier.6`` (``avgpool``, torchvision's addition,
is a candidate between them but has no paper number):

- vgg16: #1 features.1, #2 features.3, #3 features.4 (pool), #4 features.6, #5 features.8,
  #6 features.9 (pool), #7-#9 features.11/13/15, #10 features.16 (pool), #11-#13 features.18/20/22,
  #14 features.23 (pool), #15-#17 features.25/27/29, #18 features.30 (pool); #19-#21 FC6-FC8.
- vgg19: #1 features.1, #2 features.3, #3 features.4 (pool), #4 features.6, #5 features.8,
  #6 features.9 (pool), #7-#10 features.11/13/15/17, #11 features.18 (pool), #12-#15
  features.20/22/24/26, #16 features.27 (pool), #17-#20 features.29/31/33/35, #21 features.36 (pool);
  #22-#24 FC6-FC8.

Candidate layers: every conv's ReLU and every max-pool, ``avgpool``, the hidden FC units after their
ReLU (``classifier.1``, ``classifier.4``) and the output ``classifier.6``.
"""

from __future__ import annotations

from torch import nn

from privacy_checks.model.zoo.base import FLATTEN, Staged, scaled, torchvision_init
from privacy_checks.model.zoo.registry import register

POOL = "M"
CONFIGS = {
    "vgg16": (64, 64, POOL, 128, 128, POOL, 256, 256, 256, POOL, 512, 512, 512, POOL, 512, 512, 512, POOL),
    "vgg19": (
        64,
        64,
        POOL,
        128,
        128,
        POOL,
        256,
        256,
        256,
        256,
        POOL,
        512,
        512,
        512,
        512,
        POOL,
        512,
        512,
        512,
        512,
        POOL,
    ),
}


class VGG(Staged):
    family = "cnn"

    def __init__(
        self,
        config,
        num_classes: int = 4,
        in_channels: int = 1,
        width: float = 1.0,
        pool=(7, 7),
        hidden: int = 4096,
        dropout: float = 0.5,
    ):
        super().__init__()
        layers: list[nn.Module] = []
        channels = in_channels
        for entry in config:
            if entry == POOL:
                layers.append(nn.MaxPool2d(2, 2))
            else:
                out = scaled(entry, width)
                layers += [nn.Conv2d(channels, out, 3, padding=1), nn.ReLU()]
                channels = out
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(tuple(pool))
        units = scaled(hidden, width)
        self.classifier = nn.Sequential(
            nn.Linear(channels * pool[0] * pool[1], units),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(units, units),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(units, num_classes),
        )
        self.steps = (
            *(f"features.{i}" for i in range(len(self.features))),
            "avgpool",
            FLATTEN,
            *(f"classifier.{i}" for i in range(len(self.classifier))),
        )
        self.initialise(self)

    def initialise(self, module: nn.Module) -> None:
        torchvision_init(module, linear_std=0.01)

    def candidate_layers(self) -> list[str]:
        names = [f"features.{i}" for i, m in enumerate(self.features) if isinstance(m, (nn.ReLU, nn.MaxPool2d))]
        return [*names, "avgpool", "classifier.1", "classifier.4", "classifier.6"]


@register("vgg16")
def vgg16(**kwargs) -> VGG:
    """13 conv + 3 FC layers (configuration D)."""
    return VGG(CONFIGS["vgg16"], **kwargs)


@register("vgg19")
def vgg19(**kwargs) -> VGG:
    """16 conv + 3 FC layers (configuration E: 4 convs in the last three stages)."""
    return VGG(CONFIGS["vgg19"], **kwargs)
