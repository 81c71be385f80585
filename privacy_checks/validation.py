"""The validation vocabulary shared by the settings, the feature spec and the command-line options.

A *checker* takes (value, key path) and returns the normalised value or raises :class:`Invalid`,
whose message names the key (``'audit.folds' must be an integer >= 2, got 1``); the loader turns the
path into ``file:line``. The predicates and phrases below the checkers (``is_integer``,
``did_you_mean``, ``shown``...) are for callers that word their own messages.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any, TypeVar

KeyPath = tuple[Any, ...]  # str (mapping keys) and int (list indices)
Checker = Callable[[Any, KeyPath], Any]
T = TypeVar("T")


class Invalid(Exception):
    """A value failed its check; ``path`` locates it (the loader turns it into file:line)."""

    def __init__(self, path: KeyPath, message: str):
        super().__init__(message)
        self.path = path
        self.message = message


# ------------------------------------------------------------------------------------------------
# Predicates and phrases


def is_number(value: Any) -> bool:
    """An int or float; bool is an int subclass, but `max_excess: true` is a mistake, not 1."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def is_finite_number(value: Any) -> bool:
    return is_number(value) and math.isfinite(value)


def is_integer(value: Any) -> bool:
    """An int, not a bool and not a float (5.0 folds is a typo, not a request)."""
    return isinstance(value, int) and not isinstance(value, bool)


_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def format_key(path: KeyPath) -> str:
    """('limits', 'layers', 'features.*') -> limits.layers."features.*"; ('model', 'labels', 2) -> model.labels[2]."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
            continue
        name = str(part)
        name = name if _IDENTIFIER.match(name) else '"' + name.replace('"', '\\"') + '"'
        text += ("." if text else "") + name
    return text


def quoted(path: KeyPath) -> str:
    return f"'{format_key(path)}'"


def shown(value: Any) -> str:
    """A value as the user wrote it in YAML terms (True -> true), for 'got ...' in messages."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, (list, tuple)):
        return "a list"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def did_you_mean(word: Any, options: Iterable[str]) -> str:
    """' (did you mean 'n_mels'?)' for the closest option, or '' when none is close."""
    close = difflib.get_close_matches(str(word), list(options), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def unknown_key_message(key: Any, parent: KeyPath, valid: Collection[str]) -> str:
    where = f"in {quoted(parent)}" if parent else "at the top level"
    return f"unknown key {shown(key)} {where}; valid keys: {', '.join(valid)}{did_you_mean(key, valid)}"


def reject_unknown_keys(values: Mapping[Any, Any], path: KeyPath, valid: Collection[str]) -> None:
    for key in values:
        if key not in valid:
            raise Invalid((*path, key), unknown_key_message(key, path, valid))


# ------------------------------------------------------------------------------------------------
# Checkers


def describe_range(low: float | None, high: float | None, low_open: bool = False, high_open: bool = False) -> str:
    """'between 0 and 1', '> 0', 'greater than 0.5 and less than 1', ..."""
    lower = f"{'>' if low_open else '>='} {low:g}" if low is not None else ""
    upper = f"{'<' if high_open else '<='} {high:g}" if high is not None else ""
    if lower and upper:
        if not (low_open or high_open):
            return f"between {low:g} and {high:g}"
        if low_open and high_open:
            return f"greater than {low:g} and less than {high:g}"
        return f"{lower} and {upper}"
    return lower or upper


def real(
    low: float | None = None, high: float | None = None, *, low_open: bool = False, high_open: bool = False
) -> Checker:
    """A finite number (ints welcome) in the range; returns float."""
    expected = f"a number {describe_range(low, high, low_open, high_open)}"

    def check(value: Any, path: KeyPath) -> float:
        ok = is_finite_number(value)
        if ok and low is not None:
            ok = value > low if low_open else value >= low
        if ok and high is not None:
            ok = value < high if high_open else value <= high
        if not ok:
            raise Invalid(path, f"{quoted(path)} must be {expected}, got {shown(value)}")
        return float(value)

    return check


def integer(low: int, high: int | None = None) -> Checker:
    """An int in [low, high]; floats are refused. ``high`` keeps a typo (``threads: 1e20``,
    ``permutations: 10000000000000``) a usage error instead of an overflow or MemoryError mid-run."""
    expected = f">= {low}" if high is None else f"from {low} to {high:,}"

    def check(value: Any, path: KeyPath) -> int:
        if not (is_integer(value) and value >= low and (high is None or value <= high)):
            raise Invalid(path, f"{quoted(path)} must be an integer {expected}, got {shown(value)}")
        return int(value)

    return check


def choice(options: tuple[str, ...]) -> Checker:
    """One of ``options``; a near miss gets a did-you-mean hint."""

    def check(value: Any, path: KeyPath) -> str:
        if value not in options or not isinstance(value, str):
            hint = did_you_mean(value, options) if isinstance(value, str) else ""
            raise Invalid(path, f"{quoted(path)} must be one of {', '.join(options)}, got {shown(value)}{hint}")
        return value

    return check


def string_problem(value: Any, path: KeyPath, what: str) -> Invalid:
    hint = ""
    if isinstance(value, (bool, int, float)):
        # `yes`, `no`, `on`, `1e3` ... are not strings in YAML; quoting fixes it.
        hint = "; put it in quotes to make it a string"
    return Invalid(path, f"{quoted(path)} must be {what}, got {shown(value)}{hint}")


def text(value: Any, path: KeyPath) -> str:
    """A non-empty string."""
    if not isinstance(value, str) or not value.strip():
        raise string_problem(value, path, "a non-empty string")
    return value


def boolean(value: Any, path: KeyPath) -> bool:
    if not isinstance(value, bool):
        raise Invalid(path, f"{quoted(path)} must be true or false, got {shown(value)}")
    return value


def optional(check: Checker) -> Checker:
    """``check``, or None for null."""
    return lambda value, path: None if value is None else check(value, path)


optional_text = optional(text)


def sequence(value: Any, path: KeyPath, what: str) -> list[Any]:
    """A list (null = empty); ``what`` names its items in the message."""
    if value is None:
        return []
    if not isinstance(value, (list, tuple)):
        raise Invalid(path, f"{quoted(path)} must be a list of {what}, got {shown(value)}; write [a, b]")
    return list(value)


def mapping(value: Any, path: KeyPath, what: str) -> Mapping[str, Any]:
    """A mapping with string keys (null = empty); ``what`` names its entries in the message."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise Invalid(path, f"{quoted(path)} must be a mapping of {what}, got {shown(value)}")
    for key in value:
        if not isinstance(key, str):
            raise Invalid((*path, key), f"key {shown(key)} in {quoted(path)} must be a string; put it in quotes")
    return value


def texts(what: str) -> Checker:
    """A list of non-empty strings."""

    def check(value: Any, path: KeyPath) -> tuple[str, ...]:
        items = sequence(value, path, what)
        return tuple(text(item, (*path, i)) for i, item in enumerate(items))

    return check


def names(valid: tuple[str, ...], what: str, allow_empty: bool = True) -> Checker:
    """A list of names from `valid`, duplicates dropped (an empty list = the default, where allowed)."""
    choose = choice(valid)

    def check(value: Any, path: KeyPath) -> tuple[str, ...]:
        items = sequence(value, path, what)
        if not items and not allow_empty:
            raise Invalid(path, f"{quoted(path)} needs at least one of {', '.join(valid)}")
        return tuple(dict.fromkeys(choose(item, (*path, i)) for i, item in enumerate(items)))

    return check
