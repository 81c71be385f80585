"""Architectures by name, so a project checkpoint can rebuild one from
``{"architecture": name, "arch_kwargs": {...}}`` without pickled code. The architecture modules
register themselves on import; ``privacy_checks.model.zoo`` imports them all."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn

ARCHITECTURES: dict[str, Callable[..., nn.Module]] = {}


def register(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def wrap(factory: Callable[..., Any]) -> Callable[..., Any]:
        ARCHITECTURES[name] = factory
        return factory

    return wrap


def build(name: str, **kwargs: Any) -> nn.Module:
    if name not in ARCHITECTURES:
        raise KeyError(name)
    return ARCHITECTURES[name](**kwargs)


def names() -> list[str]:
    return sorted(ARCHITECTURES)
