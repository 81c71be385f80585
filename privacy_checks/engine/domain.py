"""The audit's nouns, torch-free: an attack (one curve of Fig. 3) and an audit case (that attack at
one layer, one pytest item)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from privacy_checks.threat_model import Access, AttackerKind


class Attack(NamedTuple):
    """One attacker, all layers: a scenario's attacker kind and planned head, reaching h_T one way.

    Every layer of an attack shares its controls, its intercept models and its safe split point.
    A named tuple, so it is immutable and hashable (a memo key) and code that still unpacks the
    former plain tuple keeps working."""

    scenario: str  # a Table 1 scenario, or a custom attacker's name
    attacker: AttackerKind
    access: Access
    head: str  # the head the scenario plans (tail_clone, a family member, linear_probe, a custom name)

    @property
    def key(self) -> str:
        """``scenario/attacker/access/head``: the attack's name in seeds, caches, xdist groups and
        the report's safe split points."""
        return "/".join((self.scenario, self.attacker.value, self.access.value, self.head))


@dataclass(frozen=True)
class AuditCase:
    """An attack at one layer."""

    attack: Attack
    layer: str
    # The head that reads this layer: the attack's planned head, or a linear probe standing in where
    # T has no tail after the layer to clone.
    used_head: str

    @property
    def planned_head(self) -> str:
        return self.attack.head

    # Plain strings (not the enums), as item ids and report rows carry them: result rows cross
    # pytest-xdist's wire, which serialises only built-in types.
    @property
    def scenario(self) -> str:
        return self.attack.scenario

    @property
    def attacker(self) -> str:
        return self.attack.attacker.value

    @property
    def access(self) -> str:
        return self.attack.access.value

    @property
    def architecture(self) -> str:
        """The used head under the name item ids and report rows give it."""
        return self.used_head

    @property
    def name(self) -> str:
        """Item name: scenario, then (for intercept access) the access mode, attacker kind, head
        architecture and layer (all in -k's reach)."""
        access = "" if self.attack.access == Access.ENCODER else f"{self.access}-"
        return f"{self.scenario}[{access}{self.attacker}-{self.used_head}-{self.layer}]"
