"""Per-layer layout overrides: a user's word on what behaviour cannot settle.

An override names one role per axis of the layer's whole output, batch included, comma-separated:
``"batch,channels,time"`` (a Conv1d output), ``"time,batch,features"`` (a ``batch_first=False``
transformer), ``"batch,features"`` (a pooled vector). Words: ``batch`` (exactly one), ``time`` (at
most one), ``channels`` / ``features`` (synonyms: every other axis). Keys are layer names or
``fnmatch`` globs (``feature_extractor.conv_layers.*``); an exact name wins over globs.

An override may not move the batch axis that behaviour found (the engine's batches would be read
across examples); it may add or move the time axis, or settle an exclusion that is about axes
(several axes that grow with duration, an ambiguous batch axis).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from typing import Any

from privacy_checks.errors import PrivacyInputError
from privacy_checks.model.layout import Excluded, Layout, LayoutResult
from privacy_checks.validation import Invalid, KeyPath, did_you_mean, quoted, shown, string_problem

__all__ = ["AXIS_WORDS", "apply_overrides", "check_layout_text", "layout_from_text"]

AXIS_WORDS = {"batch": "batch", "time": "time", "channels": "features", "features": "features"}
_EXAMPLE = "e.g. 'batch,channels,time' for a Conv1d output (B, C, T)"


def _roles(text: str) -> tuple[str, ...]:
    """The axis roles of an override, or ValueError saying what is wrong with it."""
    words = [word.strip().lower() for word in text.split(",")]
    for word in words:
        if word not in AXIS_WORDS:
            hint = did_you_mean(word, AXIS_WORDS) if word else ""
            raise ValueError(f"unknown axis name {word!r}{hint}; use {', '.join(AXIS_WORDS)}")
    roles = tuple(AXIS_WORDS[word] for word in words)
    if roles.count("batch") != 1:
        raise ValueError(f"needs exactly one 'batch' axis, got {roles.count('batch')}")
    if roles.count("time") > 1:
        raise ValueError(f"may name at most one 'time' axis, got {roles.count('time')}")
    return roles


def layout_from_text(text: str, evidence: str = "declared") -> Layout:
    """``"batch,channels,time"`` -> Layout(0, 2, (1,)); ValueError for a malformed override."""
    roles = _roles(text)
    time = roles.index("time") if "time" in roles else None
    features = tuple(axis for axis, role in enumerate(roles) if role == "features")
    return Layout(roles.index("batch"), time, features, evidence=evidence)


def check_layout_text(value: Any, path: KeyPath) -> str:
    """Checker (``privacy_checks.validation``): a well-formed override, normalised to 'batch,features,time'."""
    if not isinstance(value, str) or not value.strip():
        raise string_problem(value, path, f"a comma-separated list of axis names ({_EXAMPLE})")
    try:
        return ",".join(_roles(value))
    except ValueError as problem:
        raise Invalid(path, f"{quoted(path)} = {shown(value)}: {problem} ({_EXAMPLE})") from None


def apply_overrides(
    layouts: Mapping[str, LayoutResult], overrides: Mapping[str, str], key: str = "model.layouts"
) -> dict[str, LayoutResult]:
    """``layouts`` with each override applied (same order). PrivacyInputError, naming the layer, the
    ``key`` the overrides come from and the fix, for an override that matches no layer, is malformed,
    names a different number of axes than the output has, moves the batch axis, or targets a module
    excluded for a reason a layout cannot fix."""
    chosen = _match(layouts, overrides, key)
    result = dict(layouts)
    unreadable = {layer for layer, found in layouts.items() if isinstance(found, Excluded) and found.rank is None}
    readable = {pattern for layer, pattern in chosen.items() if layer not in unreadable}
    # (an exact name of an unreadable layer is refused by `_checked`, with its reason)
    only_unreadable = sorted(set(chosen.values()) - readable - set(layouts))  # globs, matching nothing readable
    if only_unreadable:
        pattern = only_unreadable[0]
        raise PrivacyInputError(
            f"{quoted((*key.split('.'), pattern))} matches only layers that cannot be read whatever their layout "
            f"({', '.join(sorted(layer for layer, p in chosen.items() if p == pattern))}); remove the override"
        )
    for layer, pattern in chosen.items():
        if layer in unreadable and pattern != layer:
            continue  # a glob spans them with readable layers (an attention block's unused out_proj): not for them
        where = quoted((*key.split("."), pattern))
        try:
            declared = layout_from_text(overrides[pattern], evidence=f"declared in {where}")
        except ValueError as problem:
            raise PrivacyInputError(f"{where} for layer '{layer}': {problem} ({_EXAMPLE})") from None
        result[layer] = _checked(layer, layouts[layer], declared, where)
    return result


def _match(layouts: Mapping[str, LayoutResult], overrides: Mapping[str, str], key: str) -> dict[str, str]:
    """layer -> the override key that applies to it (an exact name, else the one glob matching it)."""
    chosen: dict[str, str] = {}
    for pattern in overrides:
        where = quoted((*key.split("."), pattern))
        if pattern in layouts:
            chosen[pattern] = pattern
            continue
        matched = [layer for layer in layouts if fnmatch.fnmatchcase(layer, pattern)]
        if not matched:
            raise PrivacyInputError(
                f"{where} matches no layer{did_you_mean(pattern, layouts)}; run `privacy-checks layers` to list them"
            )
        for layer in matched:
            previous = chosen.get(layer)
            if previous is None:
                chosen[layer] = pattern
            elif previous != layer and overrides[previous] != overrides[pattern]:
                raise PrivacyInputError(
                    f"layer '{layer}' matches two layout overrides in '{key}' that disagree ('{previous}': "
                    f"{overrides[previous]!r}, '{pattern}': {overrides[pattern]!r}); name the layer exactly"
                )
    return chosen


def _checked(layer: str, observed: LayoutResult, declared: Layout, where: str) -> Layout:
    rank = observed.rank
    if isinstance(observed, Excluded) and rank is None:
        raise PrivacyInputError(
            f"{where}: layer '{layer}' cannot be read whatever its layout ({observed.reason}); remove the override"
        )
    if declared.rank != rank:
        raise PrivacyInputError(
            f"{where} names {declared.rank} axes ({declared}) but layer '{layer}' outputs {rank}; "
            f"write one word per axis of the whole output, batch included"
        )
    if isinstance(observed, Layout) and declared.batch_axis != observed.batch_axis:
        raise PrivacyInputError(
            f"{where} puts the batch on axis {declared.batch_axis} of layer '{layer}', but axis "
            f"{observed.batch_axis} is the one that follows the batch size ({observed.evidence}); "
            f"an override would read across examples there. Declare it as {_with_batch(declared, observed)!r}"
        )
    return declared


def _with_batch(declared: Layout, observed: Layout) -> str:
    """The declared roles with the batch moved where behaviour found it (a suggested fix)."""
    roles = list(declared.roles())
    roles[declared.batch_axis], roles[observed.batch_axis] = roles[observed.batch_axis], "batch"
    return ",".join(roles)
