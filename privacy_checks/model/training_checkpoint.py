"""A training checkpoint: a dict holding the model's weights under a key (``model_state``,
``state_dict``, ``model``, ``ema`` ...) beside optimizer, scheduler and epoch entries. The weights are
the one entry that is a state_dict (names mapped to tensors), or the entry ``model.state_key`` names
(dotted for nesting); the model is then built with ``model.factory`` as for a plain state_dict.

Also here: the prefixes a wrapper leaves on every weight's name (``module.`` from DataParallel,
DistributedDataParallel and swa_utils.AveragedModel, ``_orig_mod.`` from torch.compile), removed
when the model built by the factory does not have them itself."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from privacy_checks.errors import PrivacyInputError
from privacy_checks.model.loading import describe_value
from privacy_checks.validation import did_you_mean

WRAPPER_PREFIXES = ("module.", "_orig_mod.")
AVERAGED_COUNT = "n_averaged"  # swa_utils.AveragedModel's counter beside its `module.` weights
MAX_DEPTH = 3  # nesting searched for weights without model.state_key
SHOWN = 12  # names listed in a message before "... (N in all)"
NOT_UNDERSTOOD = "not a checkpoint this tool understands"


def names_list(names: list[str]) -> str:
    """'a', 'b', 'c' ... (40 in all): at most SHOWN names quoted, the count when there are more."""
    shown = ", ".join(repr(name) for name in names[:SHOWN])
    return shown + (f" ... ({len(names)} in all)" if len(names) > SHOWN else "")


def is_weights(value: Any) -> bool:
    """A state_dict: a non-empty mapping of names (str) to tensors."""
    return (
        isinstance(value, Mapping)
        and bool(value)
        and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in value.items())
    )


def weight_entries(payload: Mapping[Any, Any], prefix: str = "", depth: int = 1) -> dict[str, Mapping[str, Any]]:
    """Dotted key -> state_dict, for every entry of `payload` that is one (nested mappings searched to
    MAX_DEPTH; mappings with other than string keys, like an optimizer's per-parameter state, are not)."""
    found: dict[str, Mapping[str, Any]] = {}
    for key, value in payload.items():
        if not isinstance(key, str):
            continue
        if is_weights(value):
            found[prefix + key] = value
        elif isinstance(value, Mapping) and depth < MAX_DEPTH:
            found.update(weight_entries(value, f"{prefix}{key}.", depth + 1))
    return found


def find_weights(payload: Any, path: Path, state_key: str | None) -> tuple[str, Mapping[str, Any]]:
    """(key, state_dict) of a training checkpoint; PrivacyInputError naming what the file holds and
    the fix when no entry, several entries or not the entry `state_key` names is the weights."""
    if not isinstance(payload, Mapping):
        raise PrivacyInputError(
            f"{path}: {NOT_UNDERSTOOD}: it holds {describe_value(payload)} (expected a privacy-checks checkpoint, "
            "a state_dict, a training checkpoint dict holding one, or a .pt2 torch.export program); see README "
            "'Checkpoint formats'."
        )
    found = weight_entries(payload)
    if state_key:
        return state_key, _named_weights(payload, state_key, path, found)
    if len(found) == 1:
        return next(iter(found.items()))
    keys = [str(key) for key in payload]
    if not found:
        raise PrivacyInputError(
            f"{path}: {NOT_UNDERSTOOD}: a mapping with keys {names_list(keys)}, none of them a state_dict "
            "(parameter names mapped to tensors). Expected a privacy-checks checkpoint, a state_dict, a training "
            "checkpoint holding one beside optimizer and epoch entries (if its weights sit deeper, name them "
            "with model.state_key in thresholds.yaml, dotted for nesting: `model: {state_key: checkpoint.model}`), "
            "or a .pt2 torch.export program; see README 'Checkpoint formats'."
        )
    names = list(found)
    raise PrivacyInputError(
        f"{path} is a training checkpoint with {len(names)} entries holding weights: {names_list(names)}. Say which "
        f"one to audit with model.state_key in thresholds.yaml, e.g. `model: {{state_key: {names[-1]}}}`."
    )


def _named_weights(
    payload: Mapping[Any, Any], state_key: str, path: Path, found: Mapping[str, Any]
) -> Mapping[str, Any]:
    value = _resolve(payload, state_key, "", state_key, path, found)
    if not is_weights(value):
        held = f"a mapping with keys {names_list([str(k) for k in value])}" if isinstance(value, Mapping) else None
        raise PrivacyInputError(
            f"{path}: model.state_key {state_key!r} holds {held or describe_value(value)}, not the model's weights "
            f"(a state_dict: parameter names mapped to tensors){_entries_hint(found)}."
        )
    return value


def _resolve(
    mapping: Mapping[Any, Any], key: str, walked: str, state_key: str, path: Path, found: Mapping[str, Any]
) -> Any:
    """mapping[key], where `key` may be dotted: the longest leading part that is a key comes first."""
    if key in mapping:
        return mapping[key]
    parts = key.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        head = ".".join(parts[:cut])
        if isinstance(mapping.get(head), Mapping):
            rest = ".".join(parts[cut:])
            return _resolve(mapping[head], rest, f"{walked}{head}.", state_key, path, found)
    keys = [str(k) for k in mapping]
    where = f"under {walked[:-1]!r}" if walked else "at its top level"
    hint = did_you_mean(walked + key, [walked + k for k in keys])
    raise PrivacyInputError(
        f"{path}: model.state_key {state_key!r} is not in the checkpoint: no key {key!r} {where}, whose keys are "
        f"{names_list(keys)}{hint}. Set model.state_key in thresholds.yaml to the key of the model's weights "
        f"(dotted for nesting){_entries_hint(found)}."
    )


def _entries_hint(found: Mapping[str, Any]) -> str:
    return f"; the entries holding weights are {names_list(list(found))}" if found else ""


def unwrapped(state: Mapping[str, Any], module: nn.Module) -> Mapping[str, Any]:
    """`state` without a wrapper's prefix on every name (``module.``, ``_orig_mod.``, in any order),
    unless the model's own names carry it too; AveragedModel's ``n_averaged`` goes with ``module.``."""
    own = list(module.state_dict())
    while True:
        for prefix in WRAPPER_PREFIXES:
            names = [k for k in state if not (prefix == "module." and k == AVERAGED_COUNT)]
            if names and all(k.startswith(prefix) for k in names) and not all(k.startswith(prefix) for k in own):
                state = {k.removeprefix(prefix): v for k, v in state.items() if k.startswith(prefix)}
                break
        else:
            return state
