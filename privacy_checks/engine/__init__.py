"""The audit engine (pytest-free). Build an audit with :func:`open_audit`.

Importing this package stays torch-free (the pytest layer imports ``engine.threat_model`` before
it knows whether an audit is on): ``open_audit`` and ``Audit`` are imported on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from privacy_checks.engine.audit import Audit
    from privacy_checks.engine.entry import open_audit

__all__ = ["Audit", "open_audit"]


def __getattr__(name: str) -> Any:
    if name == "open_audit":
        from privacy_checks.engine.entry import open_audit

        return open_audit
    if name == "Audit":
        from privacy_checks.engine.audit import Audit

        return Audit
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
