"""Reference SER architectures in plain torch (torchvision does not import with CPU torch here).

Each architecture is registered by name so a project checkpoint can rebuild it from
``{"architecture": name, "arch_kwargs": {...}}`` without pickled code.

Registered: ``small_vgg`` (vgg.py), ``vgg16``/``vgg19`` (vgg_family.py), ``resnet50`` (resnet.py),
``densenet121`` (densenet.py), ``lstm_ser``/``transformer_ser`` (recurrent.py). Every model has a
``family`` ("cnn" or "sequence"), ``candidate_layers()`` (split points in forward order, each a module
name) and ``tail_from(layer, num_classes=2)`` (the network after ``layer``, freshly initialised;
None for the output layer; ``"input"`` gives the whole architecture).
"""

from __future__ import annotations

# Imported for their side effect: each registers its architectures by name.
from privacy_checks.model.zoo import densenet, recurrent, resnet, vgg, vgg_family
from privacy_checks.model.zoo.base import (
    FLATTEN,
    INPUT,
    Chain,
    Staged,
    first_tensor,
    fresh_copy,
    scaled,
    torchvision_init,
)
from privacy_checks.model.zoo.registry import ARCHITECTURES, build, names, register

__all__ = [
    "ARCHITECTURES",
    "FLATTEN",
    "INPUT",
    "Chain",
    "Staged",
    "build",
    "densenet",
    "first_tensor",
    "fresh_copy",
    "names",
    "recurrent",
    "register",
    "resnet",
    "scaled",
    "torchvision_init",
    "vgg",
    "vgg_family",
]
