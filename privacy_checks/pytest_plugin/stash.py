"""Keys for state kept on pytest's config (no torch here: the session's module is named for the
type checker only)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from privacy_checks.pytest_plugin.session import AuditSession
    from privacy_checks.pytest_plugin.terminal_progress import TerminalProgress

SESSION_KEY: pytest.StashKey[AuditSession] = pytest.StashKey()
PROGRESS_KEY: pytest.StashKey[TerminalProgress] = pytest.StashKey()  # absent on xdist workers (no terminal)
RUN_KEY: pytest.StashKey[str] = pytest.StashKey()  # the controller's run id, handed to its pytest-xdist workers
# Under pytest-split: the items every shard splits (after -k and -m), recorded before pytest-split chooses.
UNSPLIT_KEY: pytest.StashKey[list[pytest.Item]] = pytest.StashKey()
