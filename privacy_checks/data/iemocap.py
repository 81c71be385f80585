"""IEMOCAP from its release folder: ``iemocap:DIR[,merge_excitement=true]``.

DIR is the release root (``IEMOCAP_full_release``), holding ``Session1`` .. ``Session5``:
``SessionN/dialog/EmoEvaluation/<dialog>.txt`` (one label file per dialog) and
``SessionN/sentences/wav/<dialog>/<utterance>.wav`` (one WAV per utterance).

Sessions: every ``SessionN`` folder that exists (N = 1..5) is used, and they must be numbered from
1 without a gap: Session1..Session3 is a valid subset, Session1 + Session3 is an error naming
Session2 (a partly copied release is reported, not audited silently). Folds are sessions
(``fold_groups="session"``, as in the paper), so a subset of k sessions gives k folds.

Label lines look like ``[6.2901 - 8.2357]<TAB>Ses01F_impro01_F000<TAB>neu<TAB>[2.5, 2.5, 2.5]``;
every line not starting with ``[`` (the header, blank lines, the per-evaluator ``C-E1:`` lines) is
skipped, and only ``Ses*.txt`` files are read (not the Categorical/, Attribute/ subfolders nor
macOS ``._`` files). The paper's four classes are kept (neu, hap, ang, sad; exc joins happy with
``merge_excitement=true``); IEMOCAP's other codes are dropped; a code IEMOCAP does not use is an
error. Gender and speaker come from the letter before the utterance index (``..._M012`` is the
session's male actor), not the dialog's ``Ses01F`` prefix, which names who wore the mocap markers.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from pathlib import Path

from privacy_checks.data.audio import audio_file_corpus
from privacy_checks.data.records import Corpus, Utterance
from privacy_checks.errors import PrivacyInputError

SESSIONS = 5
EMOTIONS = ("neutral", "happy", "angry", "sad")
CLASSES = {"neu": "neutral", "hap": "happy", "ang": "angry", "sad": "sad"}
KNOWN_CODES = frozenset({"neu", "hap", "ang", "sad", "exc", "fru", "sur", "fea", "dis", "oth", "xxx"})
BOOLEANS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
LABEL_LINE = re.compile(r"\[[^\]]*\]\s+(?P<id>\S+)\s+(?P<code>\S+)")
UTTERANCE_ID = re.compile(r".+_(?P<letter>[FM])\d+")  # the letter before the index: the speaker


def merge_option(options: Mapping[str, str], where: str) -> bool:
    """The ``merge_excitement`` option of an ``iemocap:DIR,...`` spec (the only one)."""
    unknown = [key for key in options if key != "merge_excitement"]
    if unknown:
        raise PrivacyInputError(
            f"{where}: unknown option {unknown[0]!r}; the only option is merge_excitement=true|false."
        )
    value = options.get("merge_excitement", "false")
    if value.lower() not in BOOLEANS:
        raise PrivacyInputError(f"{where}: merge_excitement={value!r} must be true or false.")
    return BOOLEANS[value.lower()]


def load_iemocap(root: Path, merge_excitement: bool = False) -> Corpus:
    classes = {**CLASSES, "exc": "happy"} if merge_excitement else CLASSES
    sessions = _session_folders(root)
    utterances: list[Utterance] = []
    seen: dict[str, str] = {}
    digest = hashlib.sha256()
    for number, session in sessions:
        for label_file in _label_files(session):
            for line_no, line in enumerate(_read_lines(label_file), start=1):
                if not line.startswith("["):
                    continue  # header, blank or per-evaluator line
                where = f"{label_file}:{line_no}"
                match = LABEL_LINE.match(line)
                if match is None:
                    raise PrivacyInputError(
                        f"{where}: cannot parse the label line {line.strip()!r}; expected "
                        "`[START - END]<TAB>UTTERANCE_ID<TAB>CODE<TAB>[V, A, D]`."
                    )
                utt_id, code = match["id"], match["code"]
                if code not in KNOWN_CODES:
                    raise PrivacyInputError(
                        f"{where}: unknown emotion code {code!r} for {utt_id}; IEMOCAP uses "
                        f"{', '.join(sorted(KNOWN_CODES))}. Fix the line or restore the original file."
                    )
                if code not in classes:
                    continue  # outside the paper's four classes
                speaker = UTTERANCE_ID.fullmatch(utt_id)
                if speaker is None:
                    raise PrivacyInputError(
                        f"{where}: utterance id {utt_id!r} does not end in _F<index> or _M<index>, "
                        "the speaker's gender; restore the original label file."
                    )
                if utt_id in seen:
                    raise PrivacyInputError(f"{where}: {utt_id} is labelled twice (first at {seen[utt_id]}).")
                seen[utt_id] = where
                wav = session / "sentences" / "wav" / label_file.stem / f"{utt_id}.wav"
                if not wav.is_file():
                    raise PrivacyInputError(
                        f"{where}: audio for {utt_id} not found (looked for {wav}); "
                        "copy the session's sentences/wav folder completely."
                    )
                letter = speaker["letter"]
                utterances.append(
                    Utterance(
                        id=utt_id,
                        speaker=f"Ses{number:02d}_{letter}",
                        gender="female" if letter == "F" else "male",
                        emotion=classes[code],
                        session=session.name,
                        spontaneity="improvised" if "_impro" in label_file.stem else "scripted",
                        path=str(wav),
                    )
                )
                stat = wav.stat()
                # As in manifest.py: the label row (with the class it maps to, which merge_excitement
                # changes) plus the size + mtime of its audio, cheap at start-up.
                digest.update(f"{line.strip()}|{classes[code]}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
    if not utterances:
        raise PrivacyInputError(f"{root}: no utterance is labelled neu, hap, ang or sad in the label files.")
    return audio_file_corpus(f"iemocap:{root}", utterances, digest.hexdigest(), EMOTIONS, fold_groups="session")


def _session_folders(root: Path) -> list[tuple[int, Path]]:
    if not root.is_dir():
        raise PrivacyInputError(
            f"{root}: IEMOCAP folder not found; give the release root (the folder holding Session1..Session5)."
        )
    present = [n for n in range(1, SESSIONS + 1) if (root / f"Session{n}").is_dir()]
    if not present:
        nested = sorted(p.parent for p in root.glob("*/Session1") if p.is_dir())
        hint = f" (did you mean {nested[0]}?)" if nested else ""
        raise PrivacyInputError(f"{root}: not an IEMOCAP release root: it has no Session1..Session5 folders{hint}.")
    gaps = [n for n in range(1, max(present)) if n not in present]
    if gaps:
        raise PrivacyInputError(
            f"{root / f'Session{gaps[0]}'}: session folder missing while Session{max(present)} exists; "
            "sessions are used from Session1 without gaps: copy it or remove the later sessions."
        )
    return [(n, root / f"Session{n}") for n in present]


def _label_files(session: Path) -> list[Path]:
    folder = session / "dialog" / "EmoEvaluation"
    files = sorted(folder.glob("Ses*.txt")) if folder.is_dir() else []
    if not files:
        raise PrivacyInputError(
            f"{folder}: no label files (Ses*.txt) found; copy the session's dialog folder completely."
        )
    return files


def _read_lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise PrivacyInputError(f"{path}: cannot read the label file as text: {exc}") from None
