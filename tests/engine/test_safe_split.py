"""The split point to move to: the earliest layer from which every later layer passes."""

from __future__ import annotations

import pytest

from privacy_checks.engine.safe_split import earliest_safe_layer


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        ({"a": "passed", "b": "passed", "c": "passed"}, "a"),
        ({"a": "failed", "b": "passed", "c": "passed"}, "b"),
        ({"a": "passed", "b": "failed", "c": "passed"}, "c"),  # a later leak makes earlier passes unsafe
        ({"a": "passed", "b": "passed", "c": "failed"}, None),
        ({"a": "passed", "b": "inconclusive", "c": "passed"}, "c"),  # unproven is not safe
        ({"a": "passed", "b": "skipped", "c": "passed"}, "c"),
        ({"a": "passed", "b": None, "c": "passed"}, "c"),  # not measured: unknown ends the search
        ({}, None),
    ],
)
def test_earliest_safe_layer(statuses, expected):
    latest_first = reversed(list(statuses.items()))
    assert earliest_safe_layer(latest_first) == expected


def test_layers_are_measured_only_until_the_first_unsafe_one():
    asked = []

    def latest_first():
        for layer, status in (("c", "passed"), ("b", "failed"), ("a", "passed")):
            asked.append(layer)
            yield layer, status

    assert earliest_safe_layer(latest_first()) == "c"
    assert asked == ["c", "b"]
