"""Progress of the long phases (feature extraction and forward passes, attacker training).

The engine reports with `update(phase, done, total, unit)` inside `step(label)` blocks that say
what is being worked on (an audit case, a fold); a display, installed for a block of work with
`showing(display)`, turns the reports into a terminal line. Without a display a report costs one
context-variable lookup, so the engine, the CLI and users' scripts call it unconditionally.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import IO, Protocol


@dataclass(frozen=True)
class Status:
    labels: tuple[str, ...]  # outermost first: "worst_case[...]", "fold 2/5"
    phase: str  # "forward pass", "training"
    done: int
    total: int
    unit: str  # "utterances", "epochs"
    elapsed: float  # seconds since this phase started (done == 0)

    @property
    def finished(self) -> bool:
        return self.total > 0 and self.done >= self.total


class Display(Protocol):
    def update(self, status: Status) -> None: ...

    def clear(self) -> None: ...


_display: ContextVar[Display | None] = ContextVar("privacy_checks_display", default=None)
_labels: ContextVar[tuple[str, ...]] = ContextVar("privacy_checks_labels", default=())
# When each phase started, per display; None until showing() sets a fresh dict with the display.
_started: ContextVar[dict | None] = ContextVar("privacy_checks_phase_start", default=None)


def update(phase: str, done: int, total: int, unit: str) -> None:
    display = _display.get()
    if display is None:
        return
    starts = _started.get()  # set together with the display, by showing()
    if starts is None:
        starts = {}
        _started.set(starts)
    key = (_labels.get(), phase)
    now = time.monotonic()
    if done == 0 or key not in starts:
        starts[key] = now
    display.update(Status(key[0], phase, done, total, unit, now - starts[key]))


@contextlib.contextmanager
def step(label: str) -> Iterator[None]:
    """Everything reported inside the block is about `label` (nested blocks add to it)."""
    token = _labels.set(_labels.get() + (label,))
    try:
        yield
    finally:
        _labels.reset(token)


@contextlib.contextmanager
def showing(display: Display | None) -> Iterator[None]:
    """Reports inside the block go to `display`, which is cleared on the way out."""
    if display is None:
        yield
        return
    tokens = (_display.set(display), _started.set({}))
    try:
        yield
    finally:
        _display.reset(tokens[0])
        _started.reset(tokens[1])
        display.clear()


def eta(elapsed: float, done: int, total: int) -> float | None:
    """Seconds left at the rate so far; None before the first unit or when the total is unknown."""
    if done <= 0 or total <= 0 or elapsed <= 0:
        return None
    return elapsed / done * max(total - done, 0)


def duration(seconds: float) -> str:
    """m:ss, or h:mm:ss from an hour on."""
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def describe(status: Status) -> str:
    """One line: 'worst_case[...] · fold 2/5 · training 12/30 epochs · ETA 0:04'."""
    text = " · ".join((*status.labels, f"{status.phase} {status.done}/{status.total} {status.unit}"))
    if status.finished:
        return f"{text} in {duration(status.elapsed)}"
    left = eta(status.elapsed, status.done, status.total)
    return text if left is None else f"{text} · ETA {duration(left)}"


class StreamDisplay:
    """For the command line (stderr). On a terminal one line rewritten in place, at most every
    0.1 s; in a log (not a terminal) the current status at most every `every` seconds, so a CI log
    shows the run is alive without filling up."""

    def __init__(self, stream: IO[str], every: float = 30.0):
        self.stream = stream
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self.every = every
        self._shown = 0
        self._last = float("-inf")

    def update(self, status: Status) -> None:
        now = time.monotonic()
        if self.tty:
            if status.finished or now - self._last >= 0.1:
                self._last = now
                self._rewrite(describe(status))
        elif now - self._last >= self.every:
            self._last = now
            self.stream.write(describe(status) + "\n")
            self.stream.flush()

    def clear(self) -> None:
        if self.tty and self._shown:
            self._rewrite("")

    def _rewrite(self, text: str) -> None:
        padding = " " * max(self._shown - len(text), 0)
        self.stream.write("\r" + text + padding + "\r" + text)
        self.stream.flush()
        self._shown = len(text)
