"""The audit's progress on pytest's terminal.

On a terminal, the status of the running phase (forward pass, an item's attacker training) follows
whatever pytest has written on the current line (the file name and its dots, or the -v item name)
and is erased, character for character, before pytest writes again: the output, -q's included,
ends up exactly as it would be without it. In a log (not a terminal) nothing is rewritten; pytest's
own per-item output shows the run is alive, and one line says what the forward passes took.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import pytest

from privacy_checks import progress


class TerminalProgress:
    REFRESH_S = 0.1

    def __init__(
        self,
        writer: Callable[[], Any],
        live: bool,
        uncaptured: Callable[[], AbstractContextManager] = contextlib.nullcontext,
    ):
        self._writer = writer  # pytest's TerminalWriter, or None (-p no:terminal)
        self.live = live
        self._uncaptured = uncaptured
        self.items_total = 0
        self.items_done = 0
        self._items_since: float | None = None
        self._shown = 0
        self._last = float("-inf")
        self._finished: dict[tuple[str, ...], progress.Status] = {}

    @classmethod
    def for_config(cls, config: pytest.Config) -> TerminalProgress:
        import sys

        def writer():
            if config.pluginmanager.get_plugin("terminalreporter") is None:  # -p no:terminal
                return None
            return config.get_terminal_writer()

        def uncaptured():
            # Inside a test output capture is on: lift it for the write, as live logging does.
            capture = config.pluginmanager.get_plugin("capturemanager")
            return capture.global_and_fixture_disabled() if capture is not None else contextlib.nullcontext()

        capture_off = getattr(config.option, "capture", "fd") == "no"  # -s: the test's prints share the line
        return cls(writer, live=sys.stdout.isatty() and not capture_off, uncaptured=uncaptured)

    # -- what pytest tells us -------------------------------------------------------------------

    def start_items(self, total: int) -> None:
        self.items_total = total
        self.items_done = 0
        self._items_since = time.monotonic()

    def item_done(self) -> None:
        self.items_done += 1

    # -- progress.Display -----------------------------------------------------------------------

    def update(self, status: progress.Status) -> None:
        if status.finished:
            self._finished[status.labels + (status.phase,)] = status
        now = time.monotonic()
        if not self.live or (now - self._last < self.REFRESH_S and not status.finished):
            return
        self._last = now
        writer = self._writer()
        if writer is None:
            return
        self.clear()
        room = writer.fullwidth - writer.width_of_current_line - 2
        text = self.describe(status)
        if room < 20:  # no space left on this line: show nothing rather than wrap
            return
        text = " " + (text if len(text) <= room else text[: room - 1] + "…")
        self._write(writer, text)
        self._shown = len(text)

    def clear(self) -> None:
        if self._shown:
            writer = self._writer()
            if writer is not None:
                self._write(writer, "\b" * self._shown + " " * self._shown + "\b" * self._shown)
            self._shown = 0

    def _write(self, writer, text: str) -> None:
        # write_raw leaves pytest's record of the current line alone: the text is not pytest's and is erased.
        with self._uncaptured():
            writer.write_raw(text, flush=True)

    def describe(self, status: progress.Status) -> str:
        """The audit's position first (it survives truncation), then the running phase."""
        text = progress.describe(status)
        if not self.items_total or self._items_since is None:
            return text
        left = progress.eta(time.monotonic() - self._items_since, self.items_done, self.items_total)
        audit = f"item {self.items_done + 1}/{self.items_total}"
        if left is not None:
            audit += f", audit ETA {progress.duration(left)}"
        return f"[{audit}] {text}"

    def forward_pass_lines(self) -> list[str]:
        """What the forward passes took (before any item runs), or that the cache served them."""
        passes = [s for s in self._finished.values() if s.phase == "forward pass"]
        if not passes:
            return ["privacy-checks: every layer's outputs came from the cache (no forward pass)"]
        return [
            f"privacy-checks: features and forward pass, {' · '.join(s.labels)}: {s.total} {s.unit} "
            f"in {progress.duration(s.elapsed)}"
            for s in passes
        ]
