"""The verdict of an audit: how many items passed, failed, ... and the overall verdict. One tally
serves the terminal summary, report.md and report.html (and so `privacy-checks report`)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from privacy_checks.engine.results import ResultRow, Status

# An item's verdict in a table cell.
SHORT_LABEL = {
    Status.PASSED: "pass",
    Status.FAILED: "FAIL",
    Status.SKIPPED: "skip",
    Status.INCONCLUSIVE: "inconcl.",
    Status.ERROR: "ERROR",
}


def _plain(text: str) -> str:
    return text


@dataclass(frozen=True)
class Tally:
    failed: int
    passed: int
    inconclusive: int
    skipped: int
    errors: int = 0
    missing: int = 0  # a merged report's items that no shard's report holds (reporting/merge.py)

    @classmethod
    def of(cls, rows: Iterable[ResultRow], missing: int = 0) -> Tally:
        counts = Counter(row.status for row in rows)
        return cls(
            failed=counts[Status.FAILED],
            passed=counts[Status.PASSED],
            inconclusive=counts[Status.INCONCLUSIVE],
            skipped=counts[Status.SKIPPED],
            errors=counts[Status.ERROR],
            missing=missing,
        )

    @property
    def overall(self) -> str:
        """ERROR when a layer could not be measured, else INCOMPLETE when items of a merged audit
        are in no shard's report (not measured at all), else FAIL when any item failed, else
        INCONCLUSIVE when any item could not be decided, else pass: only "pass" is green."""
        if self.errors:
            return "ERROR"
        if self.missing:
            return "INCOMPLETE"
        if self.failed:
            return "FAIL"
        if self.inconclusive:
            return "INCONCLUSIVE"
        return "pass"

    @property
    def green(self) -> bool:
        return self.overall == "pass"

    def phrase(self, emphasis: Callable[[str], str] = _plain) -> str:
        """ "2 failed, 3 passed, 0 inconclusive, 1 skipped" (", 1 error" when there are errors), with
        `emphasis` applied to the failures and errors."""
        text = (
            f"{emphasis(f'{self.failed} failed')}, {self.passed} passed, "
            f"{self.inconclusive} inconclusive, {self.skipped} skipped"
        )
        if self.errors:
            text += ", " + emphasis(f"{self.errors} error" + ("s" if self.errors > 1 else ""))
        if self.missing:
            text += ", " + emphasis(f"{self.missing} missing")
        return text
