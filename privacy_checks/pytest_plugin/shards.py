"""An audit split over CI jobs by pytest-split (`--splits N --group K`): all layers of one attack in
one shard.

pytest-split chooses each shard's items one by one (contiguous chunks by duration, or the least
loaded shard first), so a cut may fall inside an attack, whose controls and intercept attackers
every shard holding one of its layers would then train again. Results do not depend on the split
(every item is seeded from the audit seed and its own id), only the cost does. So, after pytest-split
has chosen, each shard keeps the whole attacks whose *first* item pytest-split gave it: every shard
decides the same way on its own, no item is lost or run twice, and the balance stays pytest-split's
up to one attack per cut. The list every shard split (the items after -k and -m, before
pytest-split) is recorded by hooks.py's trylast hook, which pytest calls before pytest-split's (a
plugin registered at configure time, later than ours: pluggy calls later-registered trylast
implementations last).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import pytest

from privacy_checks.pytest_plugin.stash import UNSPLIT_KEY


def splitting(config: pytest.Config) -> bool:
    """Whether pytest-split chooses this run's items (`--splits N --group K`)."""
    return bool(getattr(config.option, "splits", None)) and bool(getattr(config.option, "group", None))


def attack_of(item: pytest.Item) -> str | None:
    case = getattr(item, "case", None)
    return case.attack.key if case is not None else None


def whole_attacks(unsplit: Sequence[pytest.Item], chosen: Sequence[pytest.Item]) -> list[pytest.Item]:
    """This shard's items: those pytest-split chose that are no audit item, and every item of each
    attack whose first item (in `unsplit`, the list every shard split) it chose, in `unsplit`'s order."""
    chosen_ids = {id(item) for item in chosen}
    leader: dict[str, bool] = {}  # attack -> whether this shard holds its first item
    for item in unsplit:
        attack = attack_of(item)
        if attack is not None and attack not in leader:
            leader[attack] = id(item) in chosen_ids
    kept = []
    for item in unsplit:
        attack = attack_of(item)
        if (attack is None and id(item) in chosen_ids) or (attack is not None and leader[attack]):
            kept.append(item)
    return kept


class ShardPlugin:
    """Registered under pytest-split: regroups the shard's items by attack after pytest-split chose."""

    def __init__(self, config: pytest.Config):
        self.config = config

    @pytest.hookimpl(wrapper=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]):
        result = yield
        unsplit = self.config.stash.get(UNSPLIT_KEY, None)
        if unsplit is None or not {id(i) for i in items} <= {id(i) for i in unsplit}:
            warnings.warn(
                pytest.PytestWarning(
                    "privacy-checks: the items pytest-split chose from are unknown (another plugin reorders "
                    "the hooks), so layers of one attack may run in several shards: results are the same, "
                    "only their controls are trained in each"
                ),
                stacklevel=1,
            )
            return result
        kept = whole_attacks(unsplit, items)
        kept_ids, chosen_ids = {id(item) for item in kept}, {id(item) for item in items}
        moved = [item for item in items if id(item) not in kept_ids]
        taken = {id(item) for item in kept if id(item) not in chosen_ids}  # pytest-split had deselected them
        items[:] = kept
        if moved:
            self.config.hook.pytest_deselected(items=moved)
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        if taken and reporter is not None:  # so that "N deselected" counts what this shard does not run
            deselected = reporter.stats.get("deselected", [])
            deselected[:] = [item for item in deselected if id(item) not in taken]
        return result
