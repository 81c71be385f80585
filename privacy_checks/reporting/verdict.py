"""The verdict of an audit: how many items passed, failed, ... and the overall pass/FAIL. One tally
serves the terminal summary, report.md and report.html (and so `privacy-checks report`)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from privacy_checks.engine.results import ResultRow, Status

# An item's verdict in a table cell.
SHORT_LABEL = {Status.PASSED: "pass", Status.FAILED: "FAIL", Status.SKIPPED: "skip", Status.INCONCLUSIVE: "inconcl."}


def _plain(text: str) -> str:
    return text


@dataclass(frozen=True)
class Tally:
    failed: int
    passed: int
    inconclusive: int
    skipped: int

    @classmethod
    def of(cls, rows: Iterable[ResultRow]) -> Tally:
        counts = Counter(row.status for row in rows)
        return cls(
            failed=counts[Status.FAILED],
            passed=counts[Status.PASSED],
            inconclusive=counts[Status.INCONCLUSIVE],
            skipped=counts[Status.SKIPPED],
        )

    @property
    def overall(self) -> str:
        """The audit fails when any item fails; skipped and inconclusive items do not fail it."""
        return "FAIL" if self.failed else "pass"

    def phrase(self, emphasis: Callable[[str], str] = _plain) -> str:
        """ "2 failed, 3 passed, 0 inconclusive, 1 skipped", with `emphasis` applied to the failures."""
        return (
            f"{emphasis(f'{self.failed} failed')}, {self.passed} passed, "
            f"{self.inconclusive} inconclusive, {self.skipped} skipped"
        )
