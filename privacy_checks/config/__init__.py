"""thresholds.yaml -> frozen, validated dataclasses.

The pytest plugin imports this module at start-up, so it stays light: stdlib and yaml only
(``privacy_checks.features`` is imported lazily, and only when ``model.input`` is given).

Every problem becomes a :class:`PrivacyInputError` whose message names the file, the line, the key
and the fix. To know lines, the YAML is *composed* (nodes keep their marks) and turned into Python
values here, recording the line of every key path on the way.
"""

from __future__ import annotations

import dataclasses
import difflib
import fnmatch
import math
import os
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from privacy_checks.engine.threat_model import ACCESS_MODES, ATTACKER_KINDS, BUDGETS, DEFAULT_BUDGET, ENCODER, SCENARIOS
from privacy_checks.errors import PrivacyInputError

DEFAULT_CONFIG_NAME = "thresholds.yaml"
SCHEMA_VERSION = 1
RULES = ("point", "ci_low", "ci_high")

KeyPath = tuple  # of str (mapping keys) and int (list indices)


# ------------------------------------------------------------------------------------------------
# Settings


class FrozenMapping(Mapping):
    """A read-only, hashable, picklable mapping (frozen dataclasses must not hold a mutable dict)."""

    __slots__ = ("_data",)

    def __init__(self, data: Mapping | None = None):
        object.__setattr__(self, "_data", dict(data or {}))

    def __getitem__(self, key):
        return self._data[key]

    def __iter__(self) -> Iterator:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __hash__(self) -> int:
        return hash(tuple(self._data.items()))

    def __eq__(self, other) -> bool:
        return isinstance(other, Mapping) and dict(self.items()) == dict(other.items())

    def __repr__(self) -> str:
        return f"FrozenMapping({self._data!r})"

    def __getstate__(self):
        return self._data

    def __setstate__(self, state):
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


_WILDCARD = re.compile(r"\[[^\]]*\]|[*?]")


def is_glob(pattern: str) -> bool:
    return bool(re.search(r"[*?\[]", pattern))


def literal_length(pattern: str) -> int:
    """Characters of a glob that must match literally: the measure of how specific it is."""
    return len(_WILDCARD.sub("", pattern))


@dataclass(frozen=True)
class LimitOverride:
    """One entry of ``limits.overrides``: a limit for the items matching every field given."""

    max_excess: float
    scenario: str | None = None
    attacker: str | None = None  # attacker kind: generic | application_aware
    layer: str | None = None  # layer name or glob


@dataclass(frozen=True)
class Limits:
    """How much leakage above chance a layer may show before its item fails."""

    max_excess: float = 0.10
    rule: str = "ci_low"  # which estimate is compared with the limit: point | ci_low | ci_high
    layers: tuple[tuple[str, float], ...] = ()  # (glob pattern, max_excess) in the order written
    overrides: tuple[LimitOverride, ...] = ()

    def for_layer(self, layer: str) -> tuple[float, str]:
        """(max_excess, key that set it), e.g. (0.15, 'limits.layers."features.*"')."""
        return self.lookup(None, None, layer)

    def lookup(self, scenario: str | None, attacker: str | None, layer: str) -> tuple[float, str]:
        """(max_excess, key that set it) for one item; the most specific matching entry wins.

        Specificity: more of scenario / attacker kind / layer named; then an exact layer name
        over a glob; then the glob with the most literal characters; ties go to the entry
        written first (so the file reads top-down). ``limits.layers`` entries name a layer only.
        """
        candidates = [
            (LimitOverride(limit, layer=pattern), format_key(("limits", "layers", pattern)))
            for pattern, limit in self.layers
        ] + [(o, f"limits.overrides[{i}]") for i, o in enumerate(self.overrides)]
        best: tuple[tuple, float, str] | None = None
        for order, (entry, key) in enumerate(candidates):
            if entry.scenario is not None and entry.scenario != scenario:
                continue
            if entry.attacker is not None and entry.attacker != attacker:
                continue
            layer_rank = (0, 0)
            if entry.layer is not None:
                if is_glob(entry.layer):
                    if not fnmatch.fnmatchcase(layer, entry.layer):
                        continue
                    layer_rank = (1, literal_length(entry.layer))
                elif entry.layer == layer:
                    layer_rank = (2, 0)
                else:
                    continue
            named = sum(f is not None for f in (entry.scenario, entry.attacker, entry.layer))
            rank = (named, *layer_rank, -order)
            if best is None or rank > best[0]:
                best = (rank, entry.max_excess, key)
        if best is None:
            return self.max_excess, "limits.max_excess"
        return best[1], best[2]


@dataclass(frozen=True)
class AuditSettings:
    """What to audit and how: corpus, folds, layers, and the statistics' sample sizes."""

    data: str = "synthetic"  # corpus spec, same syntax as --privacy-data (parsed by corpora/)
    folds: int = 5
    seed: int = 0
    layers: tuple[str, ...] = ()  # globs selecting candidate layers; () = all
    batch_size: int = 32
    bootstrap: int = 1000
    permutations: int = 1000
    confidence: float = 0.95
    aux_data: str | None = None  # auxiliary corpus spec, as --privacy-aux-data; None = none
    scenarios: tuple[str, ...] = ()  # Table 1 scenarios to run; () = all five
    attackers: tuple[str, ...] = ()  # attacker kinds; () = the budget's
    budget: str = DEFAULT_BUDGET  # quick | standard | thorough
    access: tuple[str, ...] = (ENCODER,)  # encoder (gates CI) and/or intercept (the paper's protocol)
    # torch intra-op threads for the forward passes and attackers. CPU kernels split their sums by
    # thread count, so results repeat bit for bit only at the same count: the default 1 gives the
    # same figures (and verdicts) on every machine, serially and under pytest-xdist, whose -n N
    # then uses the cores. None: all cores in one process (each xdist worker its share), which
    # makes the figures depend on the machine's core count and on -n.
    threads: int | None = 1

    def selects(self, layer: str) -> bool:
        """Whether ``layers`` selects this layer (every layer when it is empty)."""
        return not self.layers or any(fnmatch.fnmatchcase(layer, p) for p in self.layers)


@dataclass(frozen=True)
class AttackerSettings:
    """Training of the attacker heads."""

    epochs: int | None = None  # None: the budget's
    learning_rate: float = 1e-3
    batch_size: int = 32
    weight_decay: float = 0.0


@dataclass(frozen=True)
class ModelSettings:
    """How to rebuild a model from a plain state_dict checkpoint (other formats carry this)."""

    factory: str | None = None  # 'module:callable'; imported by the checkpoint loader, not here
    kwargs: tuple[tuple[str, Any], ...] = ()  # frozen (see freeze); use kwargs_dict()
    input: Mapping | None = None  # FeatureSpec fields as written (FrozenMapping); None = not given
    labels: tuple[str, ...] = ()
    # Public pretrained weights of T's architecture (a privacy-checks checkpoint) that an intercept
    # attacker starts from, as T did; relative to the config file. None: a fresh initialisation.
    base_checkpoint: str | None = None

    def kwargs_dict(self) -> dict[str, Any]:
        """Keyword arguments for the factory, as fresh plain dicts and lists."""
        return {key: thaw(value) for key, value in self.kwargs}

    def feature_spec(self):
        """The input as a ``FeatureSpec`` (defaults for keys not written), or None when not given."""
        if self.input is None:
            return None
        from privacy_checks.features import FeatureSpec

        return FeatureSpec.from_mapping(dict(self.input), where="'model.input'")


@dataclass(frozen=True)
class ControlSettings:
    """The controls that tell a safe layer from an audit that could not have found anything."""

    # The attacker on T's input features must beat chance by this much, else its items are
    # inconclusive (the audit had no power: the data carry no gender cue it can learn).
    positive_min_excess: float = 0.10
    fail_on_inconclusive: bool = False  # inconclusive items fail the run (else they are skipped)


@dataclass(frozen=True)
class BaselineSettings:
    """Comparison with a stored baseline (--privacy-baseline)."""

    # The rise of L over the baseline that fails an item; null: the combined uncertainty of the two
    # measurements (the half-widths of their intervals in quadrature).
    margin: float | None = None


@dataclass(frozen=True)
class PrivacyConfig:
    limits: Limits = field(default_factory=Limits)
    audit: AuditSettings = field(default_factory=AuditSettings)
    attacker: AttackerSettings = field(default_factory=AttackerSettings)
    controls: ControlSettings = field(default_factory=ControlSettings)
    model: ModelSettings = field(default_factory=ModelSettings)
    baseline: BaselineSettings = field(default_factory=BaselineSettings)
    source: Path | None = None  # the file read; None = defaults, no file

    def with_overrides(self, origin: str = "override", **sections: Any) -> PrivacyConfig:
        """A copy with some settings replaced, validated like the file's values.

        ``cfg.with_overrides("--privacy-seed", audit={"seed": 3})``. Each section is a mapping of
        field -> value (None values are skipped, so unset command-line options can be passed
        straight through) or a whole section object. Bad values raise PrivacyInputError prefixed
        with ``origin``; unknown section or field names are programming errors (TypeError).
        """
        replaced = {}
        for name, values in sections.items():
            if name not in _SECTIONS:
                raise TypeError(f"with_overrides: unknown section {name!r}; valid: {', '.join(_SECTIONS)}")
            section_type, checkers = _SECTIONS[name]
            if isinstance(values, section_type):
                replaced[name] = values
                continue
            changes = {}
            for key, value in dict(values).items():
                if key not in checkers:
                    raise TypeError(f"with_overrides: unknown field {name}.{key}; valid: {', '.join(checkers)}")
                if value is not None:
                    changes[key] = _check_override(origin, checkers[key], value, (name, key))
            replaced[name] = dataclasses.replace(getattr(self, name), **changes)
        return dataclasses.replace(self, **replaced)


def _check_override(origin: str, checker: Checker, value: Any, path: KeyPath) -> Any:
    try:
        return checker(value, path)
    except _Invalid as exc:
        raise PrivacyInputError(f"{origin}: {exc.message}") from None


# ------------------------------------------------------------------------------------------------
# Value checkers: (python value, key path) -> normalised value, or raise _Invalid


class _Invalid(Exception):
    """A value failed its check; ``path`` locates it (the loader turns it into file:line)."""

    def __init__(self, path: KeyPath, message: str):
        super().__init__(message)
        self.path = path
        self.message = message


Checker = Callable[[Any, KeyPath], Any]

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


def _quoted(path: KeyPath) -> str:
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


def _is_number(value: Any) -> bool:
    # bool is an int subclass; `max_excess: true` is a mistake, not 1.
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _describe_range(low, high, low_open, high_open) -> str:
    lower = f"{'>' if low_open else '>='} {low:g}" if low is not None else ""
    upper = f"{'<' if high_open else '<='} {high:g}" if high is not None else ""
    if lower and upper:
        if not (low_open or high_open):
            return f"between {low:g} and {high:g}"
        if low_open and high_open:
            return f"greater than {low:g} and less than {high:g}"
        return f"{lower} and {upper}"
    return lower or upper


def _real(low=None, high=None, *, low_open=False, high_open=False) -> Checker:
    """A finite number (ints welcome) in the range; returns float."""
    expected = f"a number {_describe_range(low, high, low_open, high_open)}"

    def check(value, path):
        ok = _is_number(value) and math.isfinite(value)
        if ok and low is not None:
            ok = value > low if low_open else value >= low
        if ok and high is not None:
            ok = value < high if high_open else value <= high
        if not ok:
            raise _Invalid(path, f"{_quoted(path)} must be {expected}, got {shown(value)}")
        return float(value)

    return check


def _integer(low: int) -> Checker:
    """An int >= low; floats are refused (5.0 folds is a typo, not a request)."""

    def check(value, path):
        if not (isinstance(value, int) and not isinstance(value, bool) and value >= low):
            raise _Invalid(path, f"{_quoted(path)} must be an integer >= {low}, got {shown(value)}")
        return value

    return check


def _did_you_mean(word: Any, options) -> str:
    close = difflib.get_close_matches(str(word), list(options), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _choice(options: tuple[str, ...]) -> Checker:
    def check(value, path):
        if value not in options or not isinstance(value, str):
            hint = _did_you_mean(value, options) if isinstance(value, str) else ""
            raise _Invalid(path, f"{_quoted(path)} must be one of {', '.join(options)}, got {shown(value)}{hint}")
        return value

    return check


def _string_problem(value: Any, path: KeyPath, what: str) -> _Invalid:
    hint = ""
    if isinstance(value, (bool, int, float)):
        # `yes`, `no`, `on`, `1e3` ... are not strings in YAML; quoting fixes it.
        hint = "; put it in quotes to make it a string"
    return _Invalid(path, f"{_quoted(path)} must be {what}, got {shown(value)}{hint}")


def _text(value: Any, path: KeyPath) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _string_problem(value, path, "a non-empty string")
    return value


def _optional_text(value: Any, path: KeyPath) -> str | None:
    return None if value is None else _text(value, path)


def _sequence(value: Any, path: KeyPath, what: str) -> list:
    if value is None:
        return []
    if not isinstance(value, (list, tuple)):
        raise _Invalid(path, f"{_quoted(path)} must be a list of {what}, got {shown(value)}; write [a, b]")
    return list(value)


def _mapping(value: Any, path: KeyPath, what: str) -> Mapping:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise _Invalid(path, f"{_quoted(path)} must be a mapping of {what}, got {shown(value)}")
    for key in value:
        if not isinstance(key, str):
            raise _Invalid((*path, key), f"key {shown(key)} in {_quoted(path)} must be a string; put it in quotes")
    return value


def _patterns(value: Any, path: KeyPath) -> tuple[str, ...]:
    items = _sequence(value, path, "layer name patterns")
    return tuple(_text(item, (*path, i)) for i, item in enumerate(items))


def _layer_limits(value: Any, path: KeyPath) -> tuple[tuple[str, float], ...]:
    if isinstance(value, (list, tuple)) and all(isinstance(p, (list, tuple)) and len(p) == 2 for p in value):
        value = dict(value)  # the dataclass's own form, handy for with_overrides
    mapping = _mapping(value, path, "layer pattern -> max_excess")
    limit = _real(0, 1)
    return tuple((_text(p, (*path, p)), limit(v, (*path, p))) for p, v in mapping.items())


def _names(valid: tuple[str, ...], what: str, allow_empty: bool = True) -> Checker:
    """A list of names from `valid` (an empty list = the default, where allowed)."""
    choose = _choice(valid)

    def check(value, path):
        items = _sequence(value, path, what)
        if not items and not allow_empty:
            raise _Invalid(path, f"{_quoted(path)} needs at least one of {', '.join(valid)}")
        return tuple(dict.fromkeys(choose(item, (*path, i)) for i, item in enumerate(items)))

    return check


def _boolean(value: Any, path: KeyPath) -> bool:
    if not isinstance(value, bool):
        raise _Invalid(path, f"{_quoted(path)} must be true or false, got {shown(value)}")
    return value


def _optional_real(low=None, high=None) -> Checker:
    real = _real(low, high)
    return lambda value, path: None if value is None else real(value, path)


def _optional_integer(low: int) -> Checker:
    integer = _integer(low)
    return lambda value, path: None if value is None else integer(value, path)


_OVERRIDE_KEYS = ("scenario", "attacker", "layer", "max_excess")


def _overrides(value: Any, path: KeyPath) -> tuple[LimitOverride, ...]:
    items = _sequence(value, path, "limit overrides ({scenario, attacker, layer, max_excess})")
    scenario, attacker, limit = _choice(tuple(SCENARIOS)), _choice(ATTACKER_KINDS), _real(0, 1)
    result = []
    for i, item in enumerate(items):
        where = (*path, i)
        entry = _mapping(item, where, "override fields")
        _reject_unknown_keys(entry, where, _OVERRIDE_KEYS)
        if "max_excess" not in entry:
            raise _Invalid(where, f"{_quoted(where)} needs max_excess (and any of scenario, attacker, layer)")
        result.append(
            LimitOverride(
                max_excess=limit(entry["max_excess"], (*where, "max_excess")),
                scenario=None if entry.get("scenario") is None else scenario(entry["scenario"], (*where, "scenario")),
                attacker=None if entry.get("attacker") is None else attacker(entry["attacker"], (*where, "attacker")),
                layer=None if entry.get("layer") is None else _text(entry["layer"], (*where, "layer")),
            )
        )
    return tuple(result)


_FACTORY = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*\Z")


def _factory_ref(value: Any, path: KeyPath) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _FACTORY.match(value.strip()):
        hint = ""
        if isinstance(value, str) and ":" not in value:
            hint = "; separate the module from the callable with ':'"
        raise _Invalid(
            path,
            f"{_quoted(path)} must be 'module:callable' (e.g. 'mypkg.models:build'), got {shown(value)}{hint}",
        )
    return value.strip()


def _kwargs(value: Any, path: KeyPath) -> tuple[tuple[str, Any], ...]:
    mapping = _mapping(value, path, "keyword arguments for the factory")
    return tuple((key, freeze(v)) for key, v in mapping.items())


def _labels(value: Any, path: KeyPath) -> tuple[str, ...]:
    items = _sequence(value, path, "class names")
    result = tuple(_text(item, (*path, i)) for i, item in enumerate(items))
    seen: dict[str, int] = {}
    for i, label in enumerate(result):
        if label in seen:
            raise _Invalid(
                (*path, i),
                f"{_quoted(path)} lists {label!r} twice (items {seen[label]} and {i}); class names must be distinct",
            )
        seen[label] = i
    return result


_FIELD_TYPES = {"str": str, "int": int, "float": float}


def _feature_input(value: Any, path: KeyPath) -> Mapping | None:
    """Keys and value types against FeatureSpec's fields, then FeatureSpec's own checks."""
    if value is None:
        return None
    mapping = _mapping(value, path, "feature settings")
    from privacy_checks.features import FeatureSpec  # lazy: features imports numpy

    spec_fields = {f.name: _annotation_text(f.type) for f in dataclasses.fields(FeatureSpec)}
    checked = {}
    for key, item in mapping.items():
        if key not in spec_fields:
            raise _Invalid((*path, key), _unknown_key_message(key, path, spec_fields))
        checked[key] = _feature_value(item, (*path, key), spec_fields[key])
    try:
        FeatureSpec.from_mapping(checked, where=_quoted(path))
    except PrivacyInputError as exc:
        raise _Invalid(path, str(exc)) from None
    return FrozenMapping(checked)


def _annotation_text(annotation: Any) -> str:
    # 'float | None' under postponed annotations; a class (int) otherwise
    return annotation.__name__ if isinstance(annotation, type) else str(annotation)


def _feature_value(value: Any, path: KeyPath, annotation: str) -> Any:
    """Type-check one FeatureSpec value from its annotation ('int', 'float', 'float | None', 'str')."""
    names = [part.strip() for part in annotation.split("|")]
    if value is None and "None" in names:
        return None
    if "float" in names and _is_number(value):
        return float(value)
    if "int" in names and isinstance(value, int) and not isinstance(value, bool):
        return value
    if "str" in names and isinstance(value, str):
        return value
    wanted = {"int": "an integer", "float": "a number", "str": "a string"}
    expected = " or ".join(wanted[n] for n in names if n in wanted) or annotation
    if "None" in names:
        expected += " or null"
    raise _Invalid(path, f"{_quoted(path)} must be {expected}, got {shown(value)}")


def _unknown_key_message(key: Any, parent: KeyPath, valid) -> str:
    where = f"in {_quoted(parent)}" if parent else "at the top level"
    return f"unknown key {shown(key)} {where}; valid keys: {', '.join(valid)}{_did_you_mean(key, valid)}"


# Sections in the order they are documented; each: (dataclass, {key: checker}) with keys in the
# order the error messages list them.
_SECTIONS: dict[str, tuple[type, dict[str, Checker]]] = {
    "limits": (
        Limits,
        {"max_excess": _real(0, 1), "rule": _choice(RULES), "layers": _layer_limits, "overrides": _overrides},
    ),
    "audit": (
        AuditSettings,
        {
            "data": _text,
            "folds": _integer(2),
            "seed": _integer(0),
            "layers": _patterns,
            "batch_size": _integer(1),
            "bootstrap": _integer(100),
            "permutations": _integer(100),
            "confidence": _real(0.5, 1, low_open=True, high_open=True),
            "aux_data": _optional_text,
            "scenarios": _names(tuple(SCENARIOS), "scenario names"),
            "attackers": _names(ATTACKER_KINDS, "attacker kinds"),
            "budget": _choice(tuple(BUDGETS)),
            "access": _names(ACCESS_MODES, "access modes", allow_empty=False),
            "threads": _optional_integer(1),
        },
    ),
    "attacker": (
        AttackerSettings,
        {
            "epochs": _optional_integer(1),
            "learning_rate": _real(0, low_open=True),
            "batch_size": _integer(1),
            "weight_decay": _real(0),
        },
    ),
    "controls": (
        ControlSettings,
        {"positive_min_excess": _real(0, 1), "fail_on_inconclusive": _boolean},
    ),
    "model": (
        ModelSettings,
        {
            "factory": _factory_ref,
            "kwargs": _kwargs,
            "input": _feature_input,
            "labels": _labels,
            "base_checkpoint": _optional_text,
        },
    ),
    "baseline": (BaselineSettings, {"margin": _optional_real(0, 1)}),
}
_TOP_LEVEL_KEYS = ("version", *_SECTIONS)


# ------------------------------------------------------------------------------------------------
# YAML nodes -> Python values, with the line of every key path


class _Document:
    """Python values of one YAML document plus ``lines[path]``: where each key or list item is."""

    def __init__(self, display: str):
        self.display = display
        self.lines: dict[KeyPath, int] = {}
        # types scalars exactly as yaml.safe_load would (ints, floats, bools, nulls, dates)
        self._constructor = yaml.constructor.SafeConstructor()
        self._open: set[int] = set()  # collections being converted: catches `&a [*a]` loops

    def error(self, line: int, message: str) -> PrivacyInputError:
        return PrivacyInputError(f"{self.display}:{line}: {message}")

    def line_of(self, path: KeyPath) -> int:
        """The line of the nearest located key path (a value's own, else its parent's)."""
        while path not in self.lines and path:
            path = path[:-1]
        return self.lines.get(path, 1)

    def to_python(self, node: yaml.Node, path: KeyPath = ()) -> Any:
        if isinstance(node, yaml.ScalarNode):
            return self._scalar(node)
        if id(node) in self._open:
            raise self.error(node.start_mark.line + 1, "a YAML alias refers to itself; remove the loop")
        self._open.add(id(node))
        try:
            if isinstance(node, yaml.MappingNode):
                return self._mapping(node, path)
            return self._sequence(node, path)
        finally:
            self._open.discard(id(node))

    def _sequence(self, node: yaml.SequenceNode, path: KeyPath) -> list:
        self._require_tag(node, "seq")
        result = []
        for index, item in enumerate(node.value):
            self.lines[(*path, index)] = item.start_mark.line + 1
            result.append(self.to_python(item, (*path, index)))
        return result

    def _mapping(self, node: yaml.MappingNode, path: KeyPath) -> dict:
        self._require_tag(node, "map")
        result: dict = {}
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag.endswith(":merge"):
                raise self.error(
                    line,
                    f"unsupported key in {_quoted(path) if path else 'the top level'}: "
                    "keys must be plain names (no '<<' merges, lists or mappings as keys)",
                )
            key = self._scalar(key_node)
            key_path = (*path, key)
            if key in result:
                raise self.error(
                    line,
                    f"duplicate key {format_key(key_path)!r}: also set at line {self.lines[key_path]}; keep only one",
                )
            self.lines[key_path] = line
            result[key] = self.to_python(value_node, key_path)
        return result

    def _scalar(self, node: yaml.ScalarNode) -> Any:
        try:
            return self._constructor.construct_object(node, deep=True)
        except yaml.MarkedYAMLError as exc:
            # unknown tags such as !!python/object: safe loading refuses them
            raise self.error(node.start_mark.line + 1, f"cannot read value: {exc.problem}") from None

    def _require_tag(self, node: yaml.Node, kind: str) -> None:
        if node.tag != f"tag:yaml.org,2002:{kind}":
            raise self.error(node.start_mark.line + 1, f"unsupported YAML tag {node.tag!r}; remove it")


def _compose(text: str, display: str) -> yaml.Node | None:
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = "; ".join(p for p in (exc.context, exc.problem) if p)
        fix = "indent with spaces, not tabs" if "'\\t'" in problem else "fix the syntax"
        raise PrivacyInputError(f"{display}:{line}: malformed YAML: {problem}{where}; {fix}") from None
    except yaml.YAMLError as exc:  # e.g. control characters (ReaderError)
        raise PrivacyInputError(f"{display}:1: malformed YAML: {exc}") from None


# ------------------------------------------------------------------------------------------------
# Loading


def parse_config(text: str, display: str = DEFAULT_CONFIG_NAME, source: Path | None = None) -> PrivacyConfig:
    """The configuration in ``text``; messages name ``display`` as the file."""
    root = _compose(text, display)
    document = _Document(display)
    data = None if root is None else document.to_python(root)
    if data is None:  # empty file, only comments, or a lone `~`
        return PrivacyConfig(source=source)
    if not isinstance(data, dict):
        raise document.error(
            root.start_mark.line + 1,
            f"the top level must be a mapping of sections ({', '.join(_SECTIONS)}), got {shown(data)}",
        )
    try:
        return _build(data, document, source)
    except _Invalid as exc:
        raise document.error(document.line_of(exc.path), exc.message) from None


def config_from_mapping(data: Mapping[str, Any], origin: str = "settings") -> PrivacyConfig:
    """A validated configuration from a mapping shaped like thresholds.yaml (sections of keys), for
    callers that build settings in code (reproduce, calibration, users' scripts); errors name
    ``origin`` and the key."""
    document = _Document(origin)
    try:
        return _build(thaw(data), document, None)
    except _Invalid as exc:
        raise PrivacyInputError(f"{origin}: {format_key(exc.path)}: {exc.message}") from None


def _build(data: dict, document: _Document, source: Path | None) -> PrivacyConfig:
    _reject_unknown_keys(data, (), _TOP_LEVEL_KEYS)
    if "version" in data and (data["version"] != SCHEMA_VERSION or isinstance(data["version"], bool)):
        raise _Invalid(
            ("version",),
            f"'version' must be {SCHEMA_VERSION} (the schema this privacy-checks reads), "
            f"got {shown(data['version'])}; remove the key or set it to {SCHEMA_VERSION}",
        )
    sections = {}
    for name, (section_type, checkers) in _SECTIONS.items():
        values = _mapping(data.get(name), (name,), "settings")
        _reject_unknown_keys(values, (name,), tuple(checkers))
        sections[name] = section_type(**{key: checkers[key](v, (name, key)) for key, v in values.items()})
    return PrivacyConfig(**sections, source=source)


def _reject_unknown_keys(values: Mapping, path: KeyPath, valid: tuple[str, ...]) -> None:
    for key in values:
        if key not in valid:
            raise _Invalid((*path, key), _unknown_key_message(key, path, valid))


def load_config(path: str | os.PathLike | None, required: bool = True) -> PrivacyConfig:
    """Read a thresholds file. None -> defaults; a missing file is an error unless not ``required``
    (the default location, which may simply not exist)."""
    if path is None:
        return PrivacyConfig()
    display = str(path)
    file = Path(path)
    if not file.exists():
        if not required:
            return PrivacyConfig()
        raise PrivacyInputError(
            f"--privacy-config: no such file: {display} (create it with the keys you need, "
            "or leave the option out to use the defaults)"
        )
    try:
        content = file.read_text(encoding="utf-8")
    except IsADirectoryError:
        raise PrivacyInputError(f"--privacy-config: {display} is a directory, not a YAML file") from None
    except UnicodeDecodeError as exc:
        raise PrivacyInputError(
            f"{display}: not UTF-8 text ({exc.reason} at byte {exc.start}); save the file as UTF-8"
        ) from None
    except OSError as exc:
        raise PrivacyInputError(f"--privacy-config: cannot read {display}: {exc.strerror}") from None
    return parse_config(content, display, source=file)


# ------------------------------------------------------------------------------------------------
# The documented default file


def _yaml_value(value: Any) -> str:
    if isinstance(value, float):
        text = repr(value)
        # YAML 1.1 reads 1e-05 as a string: floats need a dot in the mantissa
        if "e" in text and "." not in text.split("e")[0]:
            mantissa, exponent = text.split("e")
            text = f"{mantissa}.0e{exponent}"
        return text
    if value is None:
        return "null"
    if isinstance(value, tuple):
        return "[" + ", ".join(_yaml_value(v) for v in value) + "]" if value else "[]"
    return yaml.safe_dump(value, default_flow_style=True).removesuffix("\n...\n").strip()


def _entry(key: str, value: Any, comment: str = "") -> str:
    line = f"  {key}: {_yaml_value(value)}"
    return f"{line:<22}  # {comment}" if comment else line


def default_config_text() -> str:
    """A commented thresholds.yaml with every key at its default (for docs and `privacy-checks init`)."""
    lim, aud, att, ctl, mod = Limits(), AuditSettings(), AttackerSettings(), ControlSettings(), ModelSettings()
    base = BaselineSettings()
    e = _entry
    return f"""\
# privacy-checks: limits for gender leakage, and how the audit measures it.
# Leakage L = accuracy of an attacker inferring gender from a layer's output on unseen speakers;
# excess = L - chance. Every key is optional; the values below are the defaults.
version: {SCHEMA_VERSION}

limits:
  # Largest allowed excess (0..1) for any layer without a more specific entry below.
{e("max_excess", lim.max_excess)}
  # Which estimate is compared with the limit: point, ci_low (fail only when even the lower end
  # of the confidence interval exceeds it) or ci_high (fail unless the upper end is within it).
{e("rule", lim.rule)}
  # Per-layer limits: glob pattern (fnmatch, case-sensitive) -> max_excess. An exact layer name
  # beats any glob; among globs the one with the most literal characters wins. For example:
  #   layers:
  #     "features.*": 0.15
  #     "classifier.4": 0.05
{e("layers", dict(lim.layers))}
  # Limits for some scenarios, attacker kinds or layers; the entry naming the most of them wins.
  #   overrides:
  #     - {{scenario: scenario_4, max_excess: 0.2}}
  #     - {{scenario: worst_case, attacker: application_aware, layer: "classifier.*", max_excess: 0.05}}
{e("overrides", lim.overrides)}

audit:
  # Corpus to audit on, as --privacy-data: synthetic, synthetic:key=value,... or a manifest CSV
  # (relative to this file).
{e("data", aud.data)}
  # Auxiliary corpus for the scenarios that need one, as --privacy-aux-data (null: skip them).
{e("aux_data", aud.aux_data)}
  # Table 1 scenarios to run (worst_case, scenario_1 ... scenario_4); [] = all, as --privacy-scenarios.
{e("scenarios", aud.scenarios)}
{e("attackers", aud.attackers, "generic, application_aware; [] = the budget's")}
{e("budget", aud.budget, "quick | standard | thorough, as --privacy-budget")}
  # How the attacker reaches h_T, as --privacy-access: encoder (it runs T's on-device part: the upper
  # bound that gates CI) and/or intercept (the paper's protocol: its own full model, h_T fed in).
{e("access", aud.access)}
  # torch threads for forward passes and attackers. Results repeat bit for bit only at the same
  # count: 1 gives the same figures on every machine and under pytest-xdist (use -n auto for the
  # cores); null: all cores in one process (each xdist worker its share), machine-dependent figures.
{e("threads", aud.threads)}
{e("folds", aud.folds, "speaker-independent folds, >= 2")}
{e("seed", aud.seed, "makes folds, training, bootstrap and permutations repeatable")}
{e("layers", aud.layers, "globs selecting the layers to audit; [] = every candidate layer")}
{e("batch_size", aud.batch_size, "forward-pass batch size")}
{e("bootstrap", aud.bootstrap, "bootstrap resamples over speakers for the interval, >= 100")}
{e("permutations", aud.permutations, "speaker->gender permutations for the p-value, >= 100")}
{e("confidence", aud.confidence, "confidence level of the interval, between 0.5 and 1")}

attacker:
{e("epochs", att.epochs, "null: the budget's (quick 6, standard 10, thorough 20)")}
{e("learning_rate", att.learning_rate)}
{e("batch_size", att.batch_size)}
{e("weight_decay", att.weight_decay)}

controls:
  # The same attacker on T's input features must beat chance by this much; otherwise the audit
  # had no power and its items are inconclusive rather than passed.
{e("positive_min_excess", ctl.positive_min_excess)}
{e("fail_on_inconclusive", ctl.fail_on_inconclusive, "inconclusive items fail the run")}

# Only needed for checkpoints that hold a plain state_dict (and base_checkpoint for intercept access).
model:
{e("factory", mod.factory, "'module:callable' returning the nn.Module, e.g. mypkg.models:build")}
{e("kwargs", mod.kwargs_dict(), "keyword arguments for the factory")}
{e("input", mod.input, "feature settings, e.g. {kind: logmel, sample_rate: 16000, n_mels: 40}")}
{e("labels", mod.labels, "the model's output classes in order, e.g. [neutral, happy, angry, sad]")}
  # Intercept access only: public pretrained weights of T's architecture (a privacy-checks
  # checkpoint, relative to this file) that the attacker's same-architecture model starts from.
{e("base_checkpoint", mod.base_checkpoint)}

# Comparison with the last accepted model's report (--privacy-baseline FILE).
baseline:
  # The rise of L over the baseline that fails an item even under its limit; null: the combined
  # uncertainty of the two measurements (their 95 % half-widths in quadrature).
{e("margin", base.margin)}
"""


__all__ = [
    "DEFAULT_CONFIG_NAME",
    "RULES",
    "SCHEMA_VERSION",
    "AttackerSettings",
    "AuditSettings",
    "BaselineSettings",
    "ControlSettings",
    "FrozenMapping",
    "LimitOverride",
    "Limits",
    "ModelSettings",
    "PrivacyConfig",
    "default_config_text",
    "format_key",
    "load_config",
    "parse_config",
]
