"""The split point to move to: the earliest layer from which every later layer passes."""

from __future__ import annotations

from collections.abc import Iterable

from privacy_checks.engine.results import PASSED


def earliest_safe_layer(latest_first: Iterable[tuple[str, str | None]]) -> str | None:
    """(layer, status) pairs of one attack from its last layer back to its first; a status of
    None (not measured) ends the search, as a failure does. Consumed lazily, so a generator that
    measures on demand measures only the layers it has to."""
    earliest = None
    for layer, status in latest_first:
        if status != PASSED:
            break
        earliest = layer
    return earliest
