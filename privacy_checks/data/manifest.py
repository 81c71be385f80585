"""Manifest CSV corpora (docs/design.md §4): header row; path,speaker,gender required;
emotion,session,spontaneity optional; paths relative to the manifest's folder."""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

from privacy_checks.data.audio import read_audio_file
from privacy_checks.data.records import Corpus, Utterance
from privacy_checks.errors import PrivacyInputError

REQUIRED = ("path", "speaker", "gender")
OPTIONAL = ("emotion", "session", "spontaneity")
GENDER_SPELLINGS = {"female": "female", "f": "female", "male": "male", "m": "male"}
SPONTANEITY_SPELLINGS = {"improvised": "improvised", "scripted": "scripted", "": None}


def load_manifest(path: Path) -> Corpus:
    if not path.is_file():
        raise PrivacyInputError(f"--privacy-data: manifest {path} does not exist; give the path to a CSV file.")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise PrivacyInputError(f"{path}: cannot read the manifest as UTF-8 text: {exc}") from None
    rows = list(csv.reader(text.splitlines()))
    if not rows or not any(cell.strip() for cell in rows[0]):
        raise PrivacyInputError(f"{path}: the manifest is empty; it needs a header row `path,speaker,gender`.")
    header = [cell.strip().lower() for cell in rows[0]]
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise PrivacyInputError(
            f"{path}:1: missing column(s) {', '.join(missing)}; the header must contain "
            f"{','.join(REQUIRED)} (optional: {','.join(OPTIONAL)})."
        )
    unknown = [c for c in header if c not in REQUIRED + OPTIONAL]
    if unknown:
        raise PrivacyInputError(
            f"{path}:1: unknown column(s) {', '.join(unknown)}; allowed: {','.join(REQUIRED + OPTIONAL)}."
        )
    base = path.parent
    utterances = []
    digest = hashlib.sha256()
    for line_no, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            raise PrivacyInputError(
                f"{path}:{line_no}: expected {len(header)} fields (one per header column), found {len(row)}; "
                'give every row the header\'s columns and quote a value that contains a comma ("a, b").'
            )
        fields = {name: cell.strip() for name, cell in zip(header, row)}
        utterances.append(_utterance(fields, base, path, line_no))
        audio = utterances[-1].audio_file()
        stat = audio.stat()
        # Content-addressing by size + mtime keeps start-up cheap; edits to a file change its mtime.
        digest.update(f"{row}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
    if not utterances:
        raise PrivacyInputError(f"{path}: the manifest has a header but no rows.")
    emotions = tuple(sorted({u.emotion for u in utterances if u.emotion}))
    return Corpus(
        name=f"manifest:{path}",
        utterances=tuple(utterances),
        fingerprint=digest.hexdigest(),
        read_audio=lambda utt, rate: read_audio_file(utt.audio_file(), rate, where=f"{path} ({utt.id})"),
        emotions=emotions,
    )


def _utterance(fields: dict[str, str], base: Path, manifest: Path, line_no: int) -> Utterance:
    where = f"{manifest}:{line_no}"
    for column in REQUIRED:
        if not fields[column]:
            raise PrivacyInputError(f"{where}: empty '{column}'; every row needs {', '.join(REQUIRED)}.")
    gender = GENDER_SPELLINGS.get(fields["gender"].lower())
    if gender is None:
        raise PrivacyInputError(f"{where}: gender {fields['gender']!r} is not one of female, male, f, m (any case).")
    spontaneity_raw = fields.get("spontaneity", "").lower()
    if spontaneity_raw not in SPONTANEITY_SPELLINGS:
        raise PrivacyInputError(f"{where}: spontaneity {fields['spontaneity']!r} must be improvised or scripted.")
    audio = (base / fields["path"]).resolve()
    if not audio.is_file():
        raise PrivacyInputError(
            f"{where}: audio file {fields['path']} not found (looked in {audio}); "
            "paths are relative to the manifest's folder."
        )
    return Utterance(
        id=fields["path"],
        speaker=fields["speaker"],
        gender=gender,
        emotion=fields.get("emotion") or None,
        session=fields.get("session") or None,
        spontaneity=SPONTANEITY_SPELLINGS[spontaneity_raw],
        path=str(audio),
    )
