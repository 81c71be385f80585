"""Reference SER architectures in plain torch (torchvision does not import with CPU torch here).

Each architecture is registered by name so a project checkpoint can rebuild it from
``{"architecture": name, "arch_kwargs": {...}}`` without pickled code.
"""

from __future__ import annotations

from typing import Any, Callable

ARCHITECTURES: dict[str, Callable[..., Any]] = {}


def register(name: str):
    def wrap(factory):
        ARCHITECTURES[name] = factory
        return factory

    return wrap


def build(name: str, **kwargs):
    from . import vgg  # noqa: F401  (registers its architectures)

    if name not in ARCHITECTURES:
        raise KeyError(name)
    return ARCHITECTURES[name](**kwargs)


def names() -> list[str]:
    from . import vgg  # noqa: F401

    return sorted(ARCHITECTURES)


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
    return clone
