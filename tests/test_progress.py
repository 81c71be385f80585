"""Progress of long phases: ETA arithmetic, the terminal line that leaves pytest's output exactly as
it was, and audit runs whose -q output carries no progress text."""

from __future__ import annotations

import io
import re

import pytest
from _pytest._io import TerminalWriter
from hypothesis import given
from hypothesis import strategies as st

from privacy_checks import progress
from privacy_checks.pytest_plugin.terminal_progress import TerminalProgress
from tests.conftest import SAVED_CONFIG, SAVED_RUN


def screen(raw: str) -> list[str]:
    """What a terminal shows after `raw`: \\r returns to column 0, \\b moves back one column."""
    lines, line, col = [], [], 0
    for char in raw:
        if char == "\n":
            lines.append("".join(line).rstrip())
            line, col = [], 0
        elif char == "\r":
            col = 0
        elif char == "\b":
            col = max(col - 1, 0)
        else:
            if col < len(line):
                line[col] = char
            else:
                line.extend(" " * (col - len(line)) + char)
            col += 1
    return lines + ["".join(line).rstrip()]


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def status(done: int, total: int = 10, elapsed: float = 4.0, labels=("worst_case[generic-mlp-pool]", "fold 2/5")):
    return progress.Status(tuple(labels), "training", done, total, "epochs", elapsed)


def test_describe_names_the_work_the_counts_and_the_time_left():
    assert progress.describe(status(4)) == "worst_case[generic-mlp-pool] · fold 2/5 · training 4/10 epochs · ETA 0:06"
    assert progress.describe(status(0)) == "worst_case[generic-mlp-pool] · fold 2/5 · training 0/10 epochs"
    assert progress.describe(status(10)) == "worst_case[generic-mlp-pool] · fold 2/5 · training 10/10 epochs in 0:04"
    assert progress.duration(3725) == "1:02:05" and progress.duration(59.6) == "1:00"


@given(st.floats(0.01, 1e5), st.integers(1, 10_000), st.integers(1, 10_000))
def test_eta_is_the_remaining_share_at_the_rate_so_far(elapsed, done, total):
    left = progress.eta(elapsed, done, total)
    assert left is not None and left >= 0
    if done >= total:
        assert left == 0
    else:
        assert left == pytest.approx(elapsed * (total - done) / done)


def test_reports_without_a_display_are_free_and_steps_nest():
    progress.update("training", 1, 2, "epochs")  # nothing installed: no error, nothing kept
    seen = []

    class Keep:
        def update(self, s):
            seen.append(s)

        def clear(self):
            seen.append("cleared")

    with progress.showing(Keep()):
        with progress.step("case"), progress.step("fold 1/2"):
            progress.update("training", 0, 2, "epochs")
        progress.update("forward pass", 2, 2, "utterances")
    assert seen[0].labels == ("case", "fold 1/2") and seen[1].labels == ()
    assert seen[-1] == "cleared"


def test_terminal_line_follows_pytests_dots_and_is_erased_exactly():
    tty = FakeTTY()
    writer = TerminalWriter(tty)
    writer.fullwidth = 140
    writer.write("demo_ser.pt ..F")
    display = TerminalProgress(lambda: writer, live=True)
    display.REFRESH_S = 0.0
    display.start_items(4)
    display.update(status(3))
    shown = screen(tty.getvalue())[-1]
    assert (
        shown == "demo_ser.pt ..F [item 1/4] worst_case[generic-mlp-pool] · fold 2/5 · training 3/10 epochs · ETA 0:09"
    )
    display.item_done()
    display.update(status(5))
    assert re.search(r"\.\.F \[item 2/4, audit ETA \d:\d\d\] worst_case", screen(tty.getvalue())[-1])
    display.clear()
    writer.write(".")  # pytest goes on writing as if nothing had been there
    assert screen(tty.getvalue())[-1] == "demo_ser.pt ..F."
    assert writer.width_of_current_line == len("demo_ser.pt ..F.")


def test_terminal_line_never_wraps_past_the_width():
    tty = FakeTTY()
    writer = TerminalWriter(tty)
    writer.fullwidth = 60
    writer.write("demo_ser.pt " + "." * 20)
    display = TerminalProgress(lambda: writer, live=True)
    display.update(status(3))
    assert len(screen(tty.getvalue())[-1]) <= 60
    display.clear()
    writer.write("." * 30)  # nearly full: nothing shown rather than a wrapped line
    before = tty.getvalue()
    display.update(status(10))
    assert tty.getvalue() == before


def test_in_a_log_nothing_is_rewritten_but_forward_passes_are_summarised():
    log = io.StringIO()
    writer = TerminalWriter(log)
    display = TerminalProgress(lambda: writer, live=False)
    with progress.showing(display), progress.step("target corpus"):
        for done in (0, 4, 8):
            progress.update("forward pass", done, 8, "utterances")
    assert log.getvalue() == ""
    (line,) = display.forward_pass_lines()
    assert re.fullmatch(r"privacy-checks: features and forward pass, target corpus: 8 utterances in \d:\d\d", line)
    assert TerminalProgress(lambda: writer, live=False).forward_pass_lines() == [
        "privacy-checks: every layer's outputs came from the cache (no forward pass)"
    ]


@pytest.mark.xdist_group("baseline-saved")
def test_quiet_audit_output_has_no_progress_text(audit_project, pytester, shared_audit):
    # The normal run is group "baseline-saved"'s: three items under limits of 1.0, so all pass and -q
    # prints pytest's plain "..." line; the quiet run is the same command with -q, in a project of its own.
    normal = shared_audit(*SAVED_RUN, config=SAVED_CONFIG).result
    assert any(line.startswith("privacy-checks: ") for line in normal.outlines)
    pytester.makefile(".yaml", thresholds=SAVED_CONFIG)
    quiet = audit_project("-q", *SAVED_RUN)
    assert quiet.ret == normal.ret == 0
    assert not any("privacy-checks: " in line or "ETA" in line or "\b" in line for line in quiet.outlines)
    assert re.fullmatch(r"\.{3}\s+\[100%\]", quiet.outlines[0])  # pytest's own -q line, untouched
