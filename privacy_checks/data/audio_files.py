"""Checks on one audio file named by a corpus, before anything is read: the path resolves (no
symlink loop), is a regular file (a FIFO would block the reader, a folder is no audio), is not
empty, and its header is audio soundfile can read. Every problem is a PrivacyInputError that names
where the file was listed and the resolved path, and says when it lies outside the listing's folder."""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from privacy_checks.errors import PrivacyInputError


@dataclass(frozen=True)
class AudioFileInfo:
    """A checked audio file: its resolved path, what keys the corpus fingerprint (size, mtime) and
    its header (frames, sample rate)."""

    path: Path
    size: int
    mtime_ns: int
    frames: int
    sample_rate: int

    @property
    def seconds(self) -> float:
        return self.frames / self.sample_rate if self.sample_rate > 0 else 0.0


def regular_file(path: Path) -> os.stat_result | str:
    """The stat of `path` when it is a regular file, else why it cannot be opened as one without
    blocking. Never opens the file: a FIFO or a device is refused from its stat alone."""
    try:
        status = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return "not found"
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "a symbolic link loop (a link that points back to itself)"
        return f"cannot be opened ({exc.strerror or exc})"
    except ValueError:  # an embedded NUL character
        return "not a valid file name (it contains a NUL character)"
    if stat.S_ISDIR(status.st_mode):
        return "a folder"
    if not stat.S_ISREG(status.st_mode):
        return "not a regular file (a FIFO, socket or device); copy the audio into a file"
    return status


def resolve(raw: str, base: Path) -> Path | str:
    """`raw` taken relative to `base` with symlinks resolved, or why it cannot be."""
    candidate = base / raw
    try:
        return candidate.resolve()
    except RuntimeError:  # Python < 3.13 reports a symlink loop this way
        return "a symbolic link loop (a link that points back to itself)"
    except ValueError:
        return "not a valid file name (it contains a NUL character)"
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "a symbolic link loop (a link that points back to itself)"
        return f"cannot be resolved ({exc.strerror or exc})"


def outside_note(path: Path, base: Path) -> str:
    """A sentence saying that `path` lies outside `base` (allowed, but worth knowing when it fails)."""
    try:
        root = base.resolve()
    except (RuntimeError, OSError, ValueError):
        return ""
    if path == root or root in path.parents:
        return ""
    return f" It lies outside the manifest's folder {root} (allowed: paths are relative to that folder)."


def check_audio_file(raw: str, base: Path, where: str) -> AudioFileInfo:
    """The checked file `raw` (relative to `base`) listed at `where` ("manifest.csv:7")."""
    resolved = resolve(raw, base)
    if isinstance(resolved, str):
        raise PrivacyInputError(
            f"{where}: audio file {raw} ({base / raw}) is {resolved}; fix the path or remove the row."
        )
    note = outside_note(resolved, base)
    status = regular_file(resolved)
    if status == "not found":
        raise PrivacyInputError(
            f"{where}: audio file {raw} not found (looked in {resolved}); paths are relative to the manifest's folder."
            + note
        )
    if isinstance(status, str):
        status += ", not an audio file" if status == "a folder" else ""
        raise PrivacyInputError(
            f"{where}: audio file {raw} ({resolved}) is {status}; fix the path or remove the row.{note}"
        )
    if status.st_size == 0:
        raise PrivacyInputError(f"{where}: audio file {raw} ({resolved}) is empty (0 bytes); remove the row.{note}")
    frames, rate = _header(resolved, raw, where, note)
    if frames <= 0:
        raise PrivacyInputError(f"{where}: audio file {raw} ({resolved}) is empty (0 samples); remove the row.{note}")
    return AudioFileInfo(resolved, status.st_size, status.st_mtime_ns, frames, rate)


def _header(path: Path, raw: str, where: str, note: str) -> tuple[int, int]:
    import soundfile

    try:
        info = soundfile.info(str(path))
    except Exception as exc:  # soundfile raises several types for unreadable files
        reason = str(exc).replace(f"Error opening {str(path)!r}: ", "")
        raise PrivacyInputError(
            f"{where}: cannot read audio file {raw} ({path}): {reason} Convert it to WAV/FLAC or remove the row." + note
        ) from None
    return int(info.frames), int(info.samplerate)
