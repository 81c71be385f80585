"""Keys for state kept on pytest's config (no torch here)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    pass

SESSION_KEY = pytest.StashKey["AuditSession"]()
PROGRESS_KEY = pytest.StashKey["TerminalProgress"]()  # absent on pytest-xdist workers (no terminal)
