"""Files the tool writes: strict JSON whatever the figures."""

from __future__ import annotations

import json
import math

from privacy_checks.fileio import strict_json


def test_non_finite_numbers_are_written_as_null():
    text = strict_json({"a": math.nan, "b": [1.0, math.inf, -math.inf], "c": (0.5, "x"), "d": {"e": None}})
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text, parse_constant=lambda name: (_ for _ in ()).throw(ValueError(name))) == {
        "a": None,
        "b": [1.0, None, None],
        "c": [0.5, "x"],
        "d": {"e": None},
    }
