"""Manifest CSV corpora (docs/design.md §4): header row; path,speaker,gender required;
emotion,session,spontaneity optional; paths relative to the manifest's folder (a path may lead
outside it: `../audio/x.wav` or an absolute path).

The whole manifest is validated when it is loaded, before the budget's per-speaker cap or any
sampling: every row's labels first (cheap, so a typo on the last line is reported at once), then
every row's audio file (its header, not its samples). Rows that load but may not measure what the
user meant (the same file listed twice, very short clips) raise a ManifestWarning."""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import re
from dataclasses import dataclass, replace
from pathlib import Path

from privacy_checks.data.audio import read_audio_file
from privacy_checks.data.audio_files import AudioFileInfo, check_audio_file, regular_file
from privacy_checks.data.records import Corpus, Utterance
from privacy_checks.errors import PrivacyInputError, warn_or_refuse

REQUIRED = ("path", "speaker", "gender")
OPTIONAL = ("emotion", "session", "spontaneity")
GENDER_SPELLINGS = {"female": "female", "f": "female", "male": "male", "m": "male"}
SPONTANEITY_SPELLINGS = {"improvised": "improvised", "scripted": "scripted", "": None}
# A documented floor: no model the project knows reads a voice from less (one 30 ms STFT window
# is the smallest receptive field of the zoo's log-mel front end; 0.1 s holds about three).
MIN_CLIP_SECONDS = 0.1
SAVE_AS_UTF8 = "save it as UTF-8 (in a spreadsheet: CSV UTF-8)"
_LINE_BREAK = re.compile(rb"\r\n|\r|\n")
_LISTED = 5  # rows named in one warning


class ManifestWarning(UserWarning):
    """A manifest that loads but may not measure what was meant: repeated rows, very short clips."""


@dataclass(frozen=True)
class _Row:
    line: int
    cells: list[str]  # as written (they key the fingerprint)
    fields: dict[str, str]
    utterance: Utterance  # without its path until the audio file is checked


def load_manifest(path: Path, option: str = "--privacy-data") -> Corpus:
    """The manifest at `path`, validated whole; `option` names where it was given in messages."""
    rows = _label_rows(path, option)
    base = path.parent
    files = [check_audio_file(row.fields["path"], base, f"{path}:{row.line}") for row in rows]
    utterances = tuple(replace(row.utterance, path=str(info.path)) for row, info in zip(rows, files))
    _warn_about(path, rows, files)
    digest = hashlib.sha256()
    for row, info in zip(rows, files):
        # Content-addressing by size + mtime keeps start-up cheap; edits to a file change its mtime.
        digest.update(f"{row.cells}|{info.size}|{info.mtime_ns}\n".encode())
    line_of: dict[Utterance, int] = {}
    for row, utterance in zip(rows, utterances):
        line_of.setdefault(utterance, row.line)
    return Corpus(
        name=f"manifest:{path}",
        utterances=utterances,
        fingerprint=digest.hexdigest(),
        read_audio=lambda utt, rate: read_audio_file(
            utt.audio_file(), rate, where=f"{path}:{line_of.get(utt, '?')} ({utt.id})"
        ),
        emotions=tuple(sorted({u.emotion for u in utterances if u.emotion})),
    )


def _label_rows(path: Path, option: str) -> list[_Row]:
    """Every row with its labels checked, and each speaker with one gender."""
    records = _records(path, option)
    if not records or not any(cell.strip() for cell in records[0][1]):
        raise PrivacyInputError(f"{path}: the manifest is empty; it needs a header row `path,speaker,gender`.")
    header = _header(path, records[0][1])
    rows: list[_Row] = []
    gender_of: dict[str, tuple[str, int]] = {}
    for line_no, cells in records[1:]:
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) != len(header):
            raise PrivacyInputError(
                f"{path}:{line_no}: expected {len(header)} fields (one per header column), found {len(cells)}; "
                'give every row the header\'s columns and quote a value that contains a comma ("a, b").'
            )
        fields = {name: cell.strip() for name, cell in zip(header, cells)}
        utterance = _utterance(fields, f"{path}:{line_no}")
        first_gender, first_line = gender_of.setdefault(utterance.speaker, (utterance.gender, line_no))
        if first_gender != utterance.gender:
            raise PrivacyInputError(
                f"{path}:{line_no}: speaker {utterance.speaker!r} is {utterance.gender} here but {first_gender} "
                f"on line {first_line}; a speaker has one gender: fix the gender on one of these lines "
                "(or give the two voices different speaker names)."
            )
        rows.append(_Row(line_no, cells, fields, utterance))
    if not rows:
        raise PrivacyInputError(f"{path}: the manifest has a header but no rows.")
    return rows


def _records(path: Path, option: str) -> list[tuple[int, list[str]]]:
    """(first physical line, cells) of every CSV record; CRLF, CR and LF line ends alike."""
    reader = csv.reader(io.StringIO(_text(path, option), newline=""))
    records: list[tuple[int, list[str]]] = []
    line = 1
    try:
        for cells in reader:
            records.append((line, cells))
            line = reader.line_num + 1
    except csv.Error as exc:
        raise PrivacyInputError(
            f"{path}:{reader.line_num}: not a valid CSV row ({exc}); check the quotes on that line."
        ) from None
    return records


def _text(path: Path, option: str) -> str:
    """The manifest decoded as UTF-8 (a UTF-8 BOM is dropped); a decoding error names the line."""
    status = regular_file(path)
    if status == "not found":
        raise PrivacyInputError(f"{option}: manifest {path} does not exist; give the path to a CSV file.")
    if isinstance(status, str):
        raise PrivacyInputError(f"{option}: manifest {path} is {status}; give the path to a CSV file.")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise PrivacyInputError(
            f"{path}: cannot read the manifest ({exc.strerror or exc}); check its permissions."
        ) from None
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise PrivacyInputError(f"{path}: the manifest is UTF-16 text; {SAVE_AS_UTF8}.")
    raw = raw.removeprefix(codecs.BOM_UTF8)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = raw[: exc.start]
        line = len(_LINE_BREAK.findall(before)) + 1
        column = len(before) - max(before.rfind(b"\n"), before.rfind(b"\r"))
        raise PrivacyInputError(
            f"{path}:{line}: the manifest is not UTF-8 text (byte 0x{raw[exc.start]:02x} in column {column} of "
            f"line {line} is not UTF-8; another encoding such as Latin-1 or Windows-1252?); {SAVE_AS_UTF8}."
        ) from None


def _header(path: Path, cells: list[str]) -> list[str]:
    header = [cell.strip().lower() for cell in cells]
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise PrivacyInputError(
            f"{path}:1: missing column(s) {', '.join(missing)}; the header must contain "
            f"{','.join(REQUIRED)} (optional: {','.join(OPTIONAL)})."
        )
    unknown = [c or "'' (an empty column name: a trailing comma?)" for c in header if c not in REQUIRED + OPTIONAL]
    if unknown:
        raise PrivacyInputError(
            f"{path}:1: unknown column(s) {', '.join(unknown)}; allowed: {','.join(REQUIRED + OPTIONAL)}."
        )
    repeated = sorted({c for c in header if header.count(c) > 1})
    if repeated:
        raise PrivacyInputError(f"{path}:1: column(s) {', '.join(repeated)} appear more than once; keep one of each.")
    return header


def _utterance(fields: dict[str, str], where: str) -> Utterance:
    for column in REQUIRED:
        if not fields[column]:
            raise PrivacyInputError(f"{where}: empty '{column}'; every row needs {', '.join(REQUIRED)}.")
    gender = GENDER_SPELLINGS.get(fields["gender"].lower())
    if gender is None:
        raise PrivacyInputError(f"{where}: gender {fields['gender']!r} is not one of female, male, f, m (any case).")
    spontaneity_raw = fields.get("spontaneity", "").lower()
    if spontaneity_raw not in SPONTANEITY_SPELLINGS:
        raise PrivacyInputError(f"{where}: spontaneity {fields['spontaneity']!r} must be improvised or scripted.")
    return Utterance(
        id=fields["path"],
        speaker=fields["speaker"],
        gender=gender,
        emotion=fields.get("emotion") or None,
        session=fields.get("session") or None,
        spontaneity=SPONTANEITY_SPELLINGS[spontaneity_raw],
    )


def _warn_about(path: Path, rows: list[_Row], files: list[AudioFileInfo]) -> None:
    """ManifestWarnings: the same audio file on several rows; clips shorter than MIN_CLIP_SECONDS."""
    lines_of: dict[Path, list[int]] = {}
    for row, info in zip(rows, files):
        lines_of.setdefault(info.path, []).append(row.line)
    repeated = [(file, lines) for file, lines in lines_of.items() if len(lines) > 1]
    if repeated:
        listed = "; ".join(f"{file} on lines {', '.join(map(str, lines))}" for file, lines in repeated[:_LISTED])
        _warn(
            f"{path}: {len(repeated)} audio file(s) listed more than once: {listed}{_more(repeated)}. "
            "Each repeat is measured as one more utterance; remove the repeated rows."
        )
    short = [(row, info) for row, info in zip(rows, files) if info.seconds < MIN_CLIP_SECONDS]
    if short:
        listed = "; ".join(
            f"line {row.line} ({row.fields['path']}, {info.seconds:.3f} s)" for row, info in short[:_LISTED]
        )
        _warn(
            f"{path}: {len(short)} clip(s) shorter than {MIN_CLIP_SECONDS:g} s: {listed}{_more(short)}. "
            "So short a clip holds little voice and is mostly padding in the model's input; "
            "check that it was cut right, or remove it."
        )


def _warn(message: str) -> None:
    warn_or_refuse(ManifestWarning(message), "fix the manifest", stacklevel=4)


def _more(items: list) -> str:
    return f" and {len(items) - _LISTED} more" if len(items) > _LISTED else ""
