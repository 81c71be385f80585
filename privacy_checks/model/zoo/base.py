"""Building blocks of the reference architectures: the split-point vocabulary (INPUT, FLATTEN), a
network as a chain of named steps whose tail can be rebuilt (``Staged``), fresh copies and
torchvision's initialisation."""

from __future__ import annotations

import torch
from torch import nn

INPUT = "input"  # the split point before the first layer: the tail is the whole architecture
FLATTEN = "<flatten>"  # a parameter-free step between named modules (torchvision's torch.flatten(x, 1))


def fresh_copy(module):
    """The architecture of `module` with new weights (and without instance hooks, which deepcopy
    would carry over: an attacker gets T's design, not whatever is attached to T)."""
    import copy

    clone = copy.deepcopy(module)
    for m in clone.modules():
        m._forward_hooks.clear()
        m._forward_pre_hooks.clear()
        if hasattr(m, "reset_parameters"):
            m.reset_parameters()
        elif isinstance(m, nn.MultiheadAttention):  # its reset is private; its in-projection would keep T's weights
            m._reset_parameters()
    initialise = getattr(clone, "initialise", None)
    if callable(initialise):  # the architecture's own initialisation (torchvision's), not PyTorch's default
        initialise(clone)
    return clone


def scaled(units: int, width: float) -> int:
    """A channel or unit count scaled by `width` (at least 1)."""
    return max(1, round(units * width))


def first_tensor(output):
    """nn.LSTM returns (out, (h, c)); the next layer, like the project's interception, reads `out`."""
    return output[0] if isinstance(output, tuple) else output


class Chain(nn.Sequential):
    """nn.Sequential that passes the first tensor of a tuple output on (not the last module's: a
    per-task MultiTask output returns one tensor per task)."""

    def forward(self, x):
        last = len(self) - 1
        for i, module in enumerate(self):
            x = module(x)
            if i < last:
                x = first_tensor(x)
        return x


class Staged(nn.Module):
    """A network that is a chain of named steps, so the part after any step can be rebuilt.

    Subclasses set ``self.steps``: module names (resolved at every forward, so a module swapped in
    later, e.g. by ``multitask_from_tail``, is used) in forward order, or FLATTEN.
    """

    family = "cnn"
    steps: tuple[str, ...] = ()

    def _step(self, name: str) -> nn.Module:
        return nn.Flatten() if name == FLATTEN else self.get_submodule(name)

    def forward(self, x: torch.Tensor):
        last = len(self.steps) - 1
        for i, name in enumerate(self.steps):
            x = self._step(name)(x)
            if i < last:
                x = first_tensor(x)
        return x

    def candidate_layers(self) -> list[str]:
        raise NotImplementedError

    def initialise(self, module: nn.Module) -> None:
        """Initialise `module` (this network or one of its tails) as the architecture prescribes;
        default: PyTorch's per-layer defaults, already in place."""

    def after(self, layer: str, num_classes: int | None = None) -> Chain | None:
        """The network after `layer` with T's own weights (copies); `num_classes` replaces the output
        layer by a fresh one of that size. None after the last step."""
        import copy

        if layer == INPUT:
            start = 0
        elif layer in self.steps and layer != FLATTEN:
            start = self.steps.index(layer) + 1
        else:
            raise KeyError(f"{layer!r} is not a split point of {type(self).__name__}; steps: {', '.join(self.steps)}")
        rest = self.steps[start:]
        if not rest:
            return None
        tail = Chain()
        for name in rest:
            tail.add_module("flatten" if name == FLATTEN else name.replace(".", "_"), copy.deepcopy(self._step(name)))
        if num_classes is not None:
            _replace_output(tail, num_classes)
        return tail

    def tail_from(self, layer: str, num_classes: int = 2) -> nn.Module | None:
        """T's architecture after `layer`, re-initialised, with a `num_classes` output; None when
        `layer` is the output layer (nothing left to clone)."""
        tail = self.after(layer, num_classes)
        if tail is None:
            return None
        tail = fresh_copy(tail)
        self.initialise(tail)
        return tail


def _replace_output(tail: nn.Module, num_classes: int) -> None:
    """Swap the last nn.Linear (in module order: the classifier's output) for a fresh one."""
    name, linear = [(n, m) for n, m in tail.named_modules() if isinstance(m, nn.Linear)][-1]
    parent, _, child = name.rpartition(".")
    setattr(tail.get_submodule(parent), child, nn.Linear(linear.in_features, num_classes))


def torchvision_init(module: nn.Module, linear_std: float | None = None) -> None:
    """torchvision's initialisation: He-normal convolutions (fan-out), unit-scale norms, zero biases,
    N(0, linear_std) linear weights where given (VGG). Without batch norm, VGG's 13-19 layers need
    it: PyTorch's default conv init shrinks activations ~6x per layer."""
    for m in module.modules():
        if isinstance(m, (nn.Conv1d, nn.Conv2d)):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            if linear_std is not None:
                nn.init.normal_(m.weight, 0, linear_std)
            nn.init.zeros_(m.bias)
