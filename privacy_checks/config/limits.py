"""The `limits` section: how much leakage above chance an item may show, and which entry applies."""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from typing import Any

from privacy_checks import validation as checks
from privacy_checks.config.schema import setting
from privacy_checks.threat_model import ATTACKER_KINDS, SCENARIOS
from privacy_checks.validation import Invalid, KeyPath, format_key, quoted

# The decision rules (stats.decide compares the named estimate with the limit); declared once, here,
# because the config must stay light (no numpy) and validates them.
RULE_POINT = "point"  # the point estimate
RULE_CI_LOW = "ci_low"  # the interval's lower bound: fail only when leakage is clearly above the limit
RULE_CI_HIGH = "ci_high"  # the interval's upper bound: pass only when leakage is clearly below the limit
# The whole interval: fail when it lies above the limit, pass when within it, inconclusive when it straddles.
RULE_INTERVAL = "interval"
RULES = (RULE_POINT, RULE_CI_LOW, RULE_CI_HIGH, RULE_INTERVAL)

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


def check_layer_limits(value: Any, path: KeyPath) -> tuple[tuple[str, float], ...]:
    """`{pattern: max_excess}` -> ((pattern, max_excess), ...) in the order written."""
    if isinstance(value, (list, tuple)) and all(isinstance(p, (list, tuple)) and len(p) == 2 for p in value):
        value = dict(value)  # the dataclass's own form, handy for with_overrides
    entries = checks.mapping(value, path, "layer pattern -> max_excess")
    limit = checks.real(0, 1)
    return tuple((checks.text(p, (*path, p)), limit(v, (*path, p))) for p, v in entries.items())


_OVERRIDE_KEYS = ("scenario", "attacker", "layer", "max_excess")


def check_overrides(value: Any, path: KeyPath) -> tuple[LimitOverride, ...]:
    items = checks.sequence(value, path, "limit overrides ({scenario, attacker, layer, max_excess})")
    scenario, attacker = (
        checks.optional(checks.choice(tuple(SCENARIOS))),
        checks.optional(checks.choice(ATTACKER_KINDS)),
    )
    layer, limit = checks.optional(checks.text), checks.real(0, 1)
    result = []
    for i, item in enumerate(items):
        where = (*path, i)
        entry = checks.mapping(item, where, "override fields")
        checks.reject_unknown_keys(entry, where, _OVERRIDE_KEYS)
        if "max_excess" not in entry:
            raise Invalid(where, f"{quoted(where)} needs max_excess (and any of scenario, attacker, layer)")
        result.append(
            LimitOverride(
                max_excess=limit(entry["max_excess"], (*where, "max_excess")),
                scenario=scenario(entry.get("scenario"), (*where, "scenario")),
                attacker=attacker(entry.get("attacker"), (*where, "attacker")),
                layer=layer(entry.get("layer"), (*where, "layer")),
            )
        )
    return tuple(result)


@dataclass(frozen=True)
class Limits:
    """How much leakage above chance a layer may show before its item fails."""

    max_excess: float = setting(
        0.10, checks.real(0, 1), "largest allowed excess (0..1) for an item without a more specific entry below"
    )
    rule: str = setting(
        RULE_INTERVAL,
        checks.choice(RULES),
        "how the estimate is compared with the limit: interval | ci_low | ci_high | point",
        notes=(
            "interval (default): fail when the whole interval of the excess lies above the limit, pass",
            "only when it lies within it, otherwise inconclusive (more speakers would decide; by default",
            "an inconclusive item fails the run, see controls.fail_on_inconclusive). ci_low: a",
            "relaxation that fails only when the interval's lower end exceeds the limit and passes",
            "everything else, even a point estimate above the limit. ci_high: fail unless the upper end",
            "is within the limit. point: the estimate itself.",
        ),
    )
    # (glob pattern, max_excess) in the order written
    layers: tuple[tuple[str, float], ...] = setting(
        (),
        check_layer_limits,
        "per-layer limits: glob pattern (fnmatch, case-sensitive) -> max_excess",
        notes=(
            "An exact layer name beats any glob; among globs the one with the most literal characters",
            "wins. For example:",
            "  layers:",
            '    "features.*": 0.15',
            '    "classifier.4": 0.05',
        ),
        written={},
    )
    overrides: tuple[LimitOverride, ...] = setting(
        (),
        check_overrides,
        "limits for some scenarios, attacker kinds or layers",
        notes=(
            "The entry naming the most of scenario, attacker kind and layer wins. For example:",
            "  overrides:",
            "    - {scenario: scenario_4, max_excess: 0.2}",
            '    - {scenario: worst_case, attacker: application_aware, layer: "classifier.*", max_excess: 0.05}',
        ),
    )

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
        best: tuple[tuple[int, ...], float, str] | None = None
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
