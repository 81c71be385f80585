"""The attacker heads' names and which of them Table 1 assigns by target family (torch-free)."""

from __future__ import annotations

TAIL_CLONE = "tail_clone"
LINEAR_PROBE = "linear_probe"
VGG_HEAD = "vgg19_style"
RESNET_HEAD = "resnet_style"
DENSENET_HEAD = "densenet_style"
LSTM_HEAD = "lstm"
CONV_HEAD = "conv_style"
HEAD_KINDS = (TAIL_CLONE, LINEAR_PROBE, VGG_HEAD, RESNET_HEAD, DENSENET_HEAD, LSTM_HEAD, CONV_HEAD)

# Table 1's "different architecture, same family" and "different family" attackers, by target family.
SAME_FAMILY_HEADS = {"cnn": (VGG_HEAD, RESNET_HEAD, DENSENET_HEAD), "sequence": (VGG_HEAD, RESNET_HEAD, DENSENET_HEAD)}
DIFFERENT_FAMILY_HEAD = {"cnn": LSTM_HEAD, "sequence": CONV_HEAD}
