"""The `privacy_audit` fixture's object: a small surface over the run's audit for teams writing
their own audit tests (same model, corpora, thresholds and caches as --privacy-audit)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from privacy_checks.engine.audit import Audit
    from privacy_checks.engine.custom import CustomAttacker
    from privacy_checks.engine.domain import AuditCase
    from privacy_checks.engine.results import CaseResult


class AuditHandle:
    """``privacy_audit.evaluate(CustomAttacker("mlp", build=...), "pool")`` measures that attacker at
    that layer and returns its :class:`~privacy_checks.engine.results.CaseResult` (status, estimate,
    decision, controls); ``layers`` and ``cases`` list what the run audits, ``result(item_id)``
    gives the result of one of its items (measured on first request)."""

    def __init__(self, audit: Audit):
        self._audit = audit

    @property
    def layers(self) -> tuple[str, ...]:
        """The audited layers, in forward order."""
        return tuple(self._audit.layers)

    @property
    def cases(self) -> tuple[AuditCase, ...]:
        """Every planned case (one per item), including custom attackers added so far."""
        return tuple(self._audit.cases)

    def evaluate(self, attacker: CustomAttacker, layer: str, kind: str | None = None) -> CaseResult:
        """`attacker` (generic unless `kind` says otherwise) at `layer`, one of `layers`."""
        return self._audit.evaluate(attacker, layer, kind)

    def result(self, case_id: str) -> CaseResult:
        """The result of the item named `case_id`, e.g. ``"worst_case[generic-tail_clone-pool]"``."""
        for case in self._audit.cases:
            if case.name == case_id:
                return self._audit.result(case)
        raise KeyError(f"no audit case {case_id!r}; the cases' names are the items' names (see .cases)")
