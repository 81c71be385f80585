"""RAVDESS from its release folder: ``ravdess:DIR``.

DIR holds ``Actor_01`` .. ``Actor_24`` (any subset), each with ``MM-VV-EE-II-SS-RR-AA.wav`` files:
modality MM (01 audio-video, 02 video-only, 03 audio-only), vocal channel VV (01 speech, 02 song),
emotion EE (01..08, EMOTIONS in order), intensity II, statement SS, repetition RR (01..02 each)
and actor AA (01..24; odd male, even female), who must be the folder's actor.

Kept: audio-only speech (MM=03, VV=01). Song files are skipped, so the speech and song releases
may be unpacked into the same Actor folders. Modalities 01/02 are video (.mp4) in the release; a
.wav with those codes (e.g. a soundtrack someone extracted) is skipped too, not to count a take
twice. Files that are not .wav and hidden files (macOS ``._`` copies) are ignored; any other .wav
whose name is not in the pattern or has a code out of range is an error naming it. Audio is 48 kHz;
read_audio_file resamples it. Folds are speaker folds (``fold_groups=None``).
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from privacy_checks.data.audio import audio_file_corpus
from privacy_checks.data.records import Corpus, Utterance
from privacy_checks.errors import PrivacyInputError

EMOTIONS = ("neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised")
# (field, largest code) in file-name order; every code starts at 01.
FIELDS = (
    ("modality", 3),
    ("vocal channel", 2),
    ("emotion", 8),
    ("intensity", 2),
    ("statement", 2),
    ("repetition", 2),
    ("actor", 24),
)
AUDIO_ONLY, SPEECH = 3, 1
FILE_NAME = re.compile(r"\d\d(-\d\d){6}")
ACTOR_FOLDER = re.compile(r"Actor_(\d\d)")


def load_ravdess(root: Path) -> Corpus:
    utterances: list[Utterance] = []
    digest = hashlib.sha256()
    for actor, folder in _actor_folders(root):
        for path in sorted(folder.iterdir()):
            if path.name.startswith(".") or path.suffix.lower() != ".wav" or not path.is_file():
                continue
            codes = _codes(path, actor)
            if codes["modality"] != AUDIO_ONLY or codes["vocal channel"] != SPEECH:
                continue
            utterances.append(
                Utterance(
                    id=path.stem,
                    speaker=folder.name,
                    gender="male" if actor % 2 else "female",
                    emotion=EMOTIONS[codes["emotion"] - 1],
                    path=str(path),
                )
            )
            stat = path.stat()
            # As in manifest.py: the labels live in the name, so name + size + mtime covers them.
            digest.update(f"{folder.name}/{path.name}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
    if not utterances:
        raise PrivacyInputError(
            f"{root}: no audio-only speech files (03-01-*.wav) in the Actor folders; unpack "
            "Audio_Speech_Actors_01-24.zip there."
        )
    return audio_file_corpus(f"ravdess:{root}", utterances, digest.hexdigest(), EMOTIONS)


def _actor_folders(root: Path) -> list[tuple[int, Path]]:
    if not root.is_dir():
        raise PrivacyInputError(f"{root}: RAVDESS folder not found; give the folder holding Actor_01..Actor_24.")
    folders = []
    for folder in sorted(p for p in root.glob("Actor_*") if p.is_dir()):
        match = ACTOR_FOLDER.fullmatch(folder.name)
        if match is None or not 1 <= int(match[1]) <= 24:
            raise PrivacyInputError(f"{folder}: not a RAVDESS actor folder; they are named Actor_01..Actor_24.")
        folders.append((int(match[1]), folder))
    if not folders:
        nested = sorted(p.parent for p in root.glob("*/Actor_01") if p.is_dir())
        hint = f" (did you mean {nested[0]}?)" if nested else ""
        raise PrivacyInputError(f"{root}: not a RAVDESS folder: it has no Actor_01..Actor_24 folders{hint}.")
    return folders


def _codes(path: Path, actor: int) -> dict[str, int]:
    if FILE_NAME.fullmatch(path.stem) is None:
        raise PrivacyInputError(
            f"{path}: file name is not a RAVDESS name MM-VV-EE-II-SS-RR-AA.wav (seven two-digit codes); "
            "rename it or move it out of the corpus."
        )
    codes = dict(zip((field for field, _ in FIELDS), map(int, path.stem.split("-"))))
    for field, top in FIELDS:
        if not 1 <= codes[field] <= top:
            raise PrivacyInputError(
                f"{path}: {field} code {codes[field]:02d} is out of range (01..{top:02d}); "
                "rename it or move it out of the corpus."
            )
    if codes["actor"] != actor:
        raise PrivacyInputError(
            f"{path}: the file name says actor {codes['actor']:02d} but it is in {path.parent.name}; "
            "move it to its actor's folder."
        )
    return codes
