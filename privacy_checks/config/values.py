"""Hashable stand-ins for YAML's mutable values, so that settings can be frozen dataclasses."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any


class FrozenMapping(Mapping[Any, Any]):
    """A read-only, hashable, picklable mapping (frozen dataclasses must not hold a mutable dict)."""

    __slots__ = ("_data",)
    _data: dict[Any, Any]

    def __init__(self, data: Mapping[Any, Any] | None = None):
        object.__setattr__(self, "_data", dict(data or {}))

    def __getitem__(self, key: Any) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator[Any]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __hash__(self) -> int:
        return hash(tuple(self._data.items()))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Mapping) and dict(self.items()) == dict(other.items())

    def __repr__(self) -> str:
        return f"FrozenMapping({self._data!r})"

    def __getstate__(self) -> dict[Any, Any]:
        return self._data

    def __setstate__(self, state: dict[Any, Any]) -> None:
        object.__setattr__(self, "_data", state)


def freeze(value: Any) -> Any:
    """Plain YAML values -> hashable ones (dict -> FrozenMapping, list -> tuple), recursively."""
    if isinstance(value, Mapping):
        return FrozenMapping({k: freeze(v) for k, v in value.items()})
    if isinstance(value, (list, tuple)):
        return tuple(freeze(v) for v in value)
    return value


def thaw(value: Any) -> Any:
    """Inverse of :func:`freeze`: fresh dicts and lists the caller may mutate."""
    if isinstance(value, Mapping):
        return {k: thaw(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [thaw(v) for v in value]
    return value
