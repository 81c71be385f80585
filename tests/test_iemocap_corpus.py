"""IEMOCAP release-folder corpora (`iemocap:DIR[,merge_excitement=true]`): the label-file quirks,
speaker and gender from the utterance id, the four classes, session rules, every user error with
the file (and line) in its message, fingerprints, and `load_corpus` dispatch."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from privacy_checks.data import load_corpus
from privacy_checks.data.iemocap import load_iemocap
from privacy_checks.errors import PrivacyInputError

SR = 16000
HEADER = "% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]"
VAD = "[2.5000, 2.5000, 2.5000]"

# Per session: dialog -> (utterance suffix, code). The script dialog has a male-marker prefix
# (Ses0NM) but a female utterance (F000): gender comes from the utterance's letter.
DIALOGS = {
    "F_impro01": [("F000", "neu"), ("M000", "ang"), ("F001", "exc"), ("M001", "xxx")],
    "M_script01_1": [("F000", "hap"), ("M000", "sad"), ("M001", "oth"), ("F001", "fru")],
}


def tone(seconds: float = 0.1, freq: float = 220.0) -> np.ndarray:
    return (0.3 * np.sin(2 * np.pi * freq * np.arange(int(SR * seconds)) / SR)).astype(np.float32)


def label_line(utt_id: str, code: str, start: float = 6.2901) -> str:
    return f"[{start:.4f} - {start + 1.9456:.4f}]\t{utt_id}\t{code}\t{VAD}"


def write_dialog(root: Path, session: int, dialog: str, rows: list[tuple[str, str]]) -> Path:
    """One label file in the release's format (header, blank and evaluator lines) and its WAVs."""
    lines = [HEADER, ""]
    for i, (suffix, code) in enumerate(rows):
        utt_id = f"{dialog}_{suffix}"
        lines += [
            label_line(utt_id, code, 6.2901 + 5 * i),
            "C-E2:\tNeutral;\t()",
            "C-E3:\tAnger;\t()",
            "A-E2:\tval 3; act 2; dom  2;\t()",
            "",
        ]
        wav = root / f"Session{session}" / "sentences" / "wav" / dialog / f"{utt_id}.wav"
        wav.parent.mkdir(parents=True, exist_ok=True)
        sf.write(str(wav), tone(freq=200.0 + 10 * i), SR)
    labels = root / f"Session{session}" / "dialog" / "EmoEvaluation" / f"{dialog}.txt"
    labels.parent.mkdir(parents=True, exist_ok=True)
    labels.write_text("\n".join(lines) + "\n")
    return labels


def build(root: Path, sessions=range(1, 6)) -> Path:
    for n in sessions:
        for suffix, rows in DIALOGS.items():
            write_dialog(root, n, f"Ses{n:02d}{suffix}", rows)
        # Subfolders of EmoEvaluation (and macOS resource files) in the release are not label files.
        (root / f"Session{n}" / "dialog" / "EmoEvaluation" / "Categorical").mkdir()
        (root / f"Session{n}" / "dialog" / "EmoEvaluation" / "._Ses01F_impro01.txt").write_bytes(b"\x00\x05")
    return root


@pytest.fixture
def release(tmp_path: Path) -> Path:
    return build(tmp_path / "IEMOCAP_full_release")


def error(root: Path, **kwargs) -> str:
    with pytest.raises(PrivacyInputError) as info:
        load_iemocap(root, **kwargs)
    return str(info.value)


# --- loading --------------------------------------------------------------------------------------


def test_release_layout_loads_the_four_classes(release: Path):
    corpus = load_iemocap(release)
    assert corpus.name == f"iemocap:{release}"
    assert corpus.emotions == ("neutral", "happy", "angry", "sad")
    assert corpus.fold_groups == "session"
    assert len(corpus) == 20  # 4 per session: xxx, oth, fru and (unmerged) exc are dropped
    first = corpus.utterances[:4]
    assert [u.id for u in first] == [
        "Ses01F_impro01_F000",
        "Ses01F_impro01_M000",
        "Ses01M_script01_1_F000",
        "Ses01M_script01_1_M000",
    ]
    assert [u.emotion for u in first] == ["neutral", "angry", "happy", "sad"]
    assert [u.gender for u in first] == ["female", "male", "female", "male"]  # not the Ses01M prefix
    assert [u.speaker for u in first] == ["Ses01_F", "Ses01_M", "Ses01_F", "Ses01_M"]
    assert [u.spontaneity for u in first] == ["improvised", "improvised", "scripted", "scripted"]
    assert {u.session for u in first} == {"Session1"}
    assert first[2].path == str(release / "Session1/sentences/wav/Ses01M_script01_1/Ses01M_script01_1_F000.wav")

    assert sorted(set(corpus.speakers)) == [f"Ses{n:02d}_{g}" for n in range(1, 6) for g in "FM"]
    assert [u.session for u in corpus.utterances] == [f"Session{n}" for n in range(1, 6) for _ in range(4)]
    assert corpus.gender_labels.tolist() == [0, 1, 0, 1] * 5
    assert all((u.gender == "female") == u.speaker.endswith("_F") for u in corpus.utterances)
    assert [u.emotion for u in corpus.utterances].count("happy") == 5


def test_merge_excitement_makes_exc_happy(release: Path):
    plain = load_iemocap(release)
    merged = load_iemocap(release, merge_excitement=True)
    assert len(merged) == 25
    exc = [u for u in merged.utterances if u.id.endswith("_impro01_F001")]
    assert len(exc) == 5 and {u.emotion for u in exc} == {"happy"}
    assert [u.emotion for u in merged.utterances].count("happy") == 10
    assert merged.emotions == plain.emotions
    assert merged.fingerprint != plain.fingerprint


def test_read_audio_returns_the_wav_at_the_requested_rate(release: Path):
    corpus = load_iemocap(release)
    audio = corpus.read_audio(corpus.utterances[0], SR)
    assert audio.dtype == np.float32 and audio.shape == (1600,)
    np.testing.assert_allclose(audio, tone(freq=200.0), atol=1e-4)
    assert corpus.read_audio(corpus.utterances[0], 8000).shape == (800,)


def test_a_prefix_of_sessions_is_a_subset(tmp_path: Path):
    corpus = load_iemocap(build(tmp_path / "r", sessions=[1, 2, 3]))
    assert len(corpus) == 12 and len(set(corpus.speakers)) == 6
    assert sorted({u.session for u in corpus.utterances}) == ["Session1", "Session2", "Session3"]


# --- load_corpus ----------------------------------------------------------------------------------


def test_load_corpus_dispatch(release: Path, tmp_path: Path):
    relative = load_corpus(" iemocap:IEMOCAP_full_release ", tmp_path)
    assert relative.name == f"iemocap:{release}" and len(relative) == 20
    absolute = load_corpus(f"iemocap:{release}", Path("/nonexistent"))
    assert absolute.fingerprint == relative.fingerprint
    for spec in (f"iemocap:{release},merge_excitement=true", f"iemocap:{release}, merge_excitement = TRUE"):
        assert len(load_corpus(spec, tmp_path)) == 25
    assert len(load_corpus(f"iemocap:{release},merge_excitement=false", tmp_path)) == 20


@pytest.mark.parametrize(
    ("suffix", "expected"),
    [
        (",merge=true", "unknown option 'merge'; the only option is merge_excitement=true|false."),
        (",merge_excitement=maybe", "merge_excitement='maybe' must be true or false."),
        (",merge_excitement", "expected key=value, got 'merge_excitement'"),
    ],
)
def test_load_corpus_bad_options(release: Path, tmp_path: Path, suffix: str, expected: str):
    spec = f"iemocap:{release}{suffix}"
    with pytest.raises(PrivacyInputError) as info:
        load_corpus(spec, tmp_path, option="--privacy-aux-data")
    assert str(info.value) == f"--privacy-aux-data {spec}: {expected}"


def test_load_corpus_without_a_folder(tmp_path: Path):
    with pytest.raises(PrivacyInputError, match=r"^--privacy-data iemocap:: give the corpus folder"):
        load_corpus("iemocap:", tmp_path)


# --- errors ---------------------------------------------------------------------------------------


def test_missing_root(tmp_path: Path):
    message = error(tmp_path / "nope")
    assert message.startswith(f"{tmp_path / 'nope'}: IEMOCAP folder not found")
    assert "the folder holding Session1..Session5" in message


def test_folder_without_sessions_is_not_a_release_root(tmp_path: Path):
    build(tmp_path / "IEMOCAP_full_release", sessions=[1])
    message = error(tmp_path)
    assert message == (
        f"{tmp_path}: not an IEMOCAP release root: it has no Session1..Session5 folders "
        f"(did you mean {tmp_path / 'IEMOCAP_full_release'}?)."
    )
    (tmp_path / "empty").mkdir()
    assert error(tmp_path / "empty").endswith("it has no Session1..Session5 folders.")


def test_gap_in_sessions_names_the_missing_one(tmp_path: Path):
    root = build(tmp_path / "r", sessions=[1, 2, 4])
    message = error(root)
    assert message.startswith(f"{root / 'Session3'}: session folder missing while Session4 exists")
    assert "copy it or remove the later sessions" in message


def test_session_without_labels(release: Path):
    labels = release / "Session2" / "dialog" / "EmoEvaluation"
    for path in labels.glob("Ses*.txt"):
        path.unlink()
    assert error(release).startswith(f"{labels}: no label files (Ses*.txt) found")
    (labels / "Categorical").rmdir()
    (labels / "._Ses01F_impro01.txt").unlink()
    labels.rmdir()
    assert error(release).startswith(f"{labels}: no label files")


def rewrite(labels: Path, old: str, new: str) -> int:
    """Replace `old` in a label file; return the 1-based line it was on."""
    lines = labels.read_text().splitlines()
    (index,) = [i for i, line in enumerate(lines) if old in line]
    lines[index] = lines[index].replace(old, new)
    labels.write_text("\n".join(lines) + "\n")
    return index + 1


def test_unknown_emotion_code_names_file_and_line(release: Path):
    labels = release / "Session3" / "dialog" / "EmoEvaluation" / "Ses03M_script01_1.txt"
    line = rewrite(labels, "\toth\t", "\tbored\t")
    message = error(release)
    assert message.startswith(f"{labels}:{line}: unknown emotion code 'bored' for Ses03M_script01_1_M001")
    assert "IEMOCAP uses ang, dis, exc, fea, fru, hap, neu, oth, sad, sur, xxx" in message


def test_known_but_unused_codes_are_dropped(release: Path):
    labels = release / "Session1" / "dialog" / "EmoEvaluation" / "Ses01F_impro01.txt"
    for old, new in (("\tneu\t", "\tsur\t"), ("\tang\t", "\tfea\t"), ("\texc\t", "\tdis\t")):
        rewrite(labels, old, new)
    corpus = load_iemocap(release, merge_excitement=True)
    assert len(corpus) == 25 - 3
    assert not any(u.id.startswith("Ses01F_impro01") for u in corpus.utterances)


def test_missing_wav_names_label_line_and_expected_path(release: Path):
    wav = release / "Session4/sentences/wav/Ses04F_impro01/Ses04F_impro01_M000.wav"
    wav.unlink()
    labels = release / "Session4" / "dialog" / "EmoEvaluation" / "Ses04F_impro01.txt"
    message = error(release)
    assert message == (
        f"{labels}:8: audio for Ses04F_impro01_M000 not found (looked for {wav}); "
        "copy the session's sentences/wav folder completely."
    )


def test_missing_wav_of_a_dropped_utterance_is_fine(release: Path):
    (release / "Session1/sentences/wav/Ses01F_impro01/Ses01F_impro01_M001.wav").unlink()  # xxx
    assert len(load_iemocap(release)) == 20


def test_malformed_label_line(release: Path):
    labels = release / "Session1" / "dialog" / "EmoEvaluation" / "Ses01F_impro01.txt"
    line = rewrite(labels, "\tSes01F_impro01_F000\tneu\t" + VAD, "")
    message = error(release)
    assert message.startswith(f"{labels}:{line}: cannot parse the label line '[6.2901 - 8.2357]'")
    assert "expected `[START - END]<TAB>UTTERANCE_ID<TAB>CODE<TAB>[V, A, D]`" in message


def test_utterance_id_without_gender_letter(release: Path):
    labels = release / "Session2" / "dialog" / "EmoEvaluation" / "Ses02F_impro01.txt"
    line = rewrite(labels, "Ses02F_impro01_M000", "Ses02F_impro01_X000")
    assert error(release).startswith(
        f"{labels}:{line}: utterance id 'Ses02F_impro01_X000' does not end in _F<index> or _M<index>"
    )


def test_utterance_labelled_twice(release: Path):
    labels = release / "Session1" / "dialog" / "EmoEvaluation" / "Ses01F_impro01.txt"
    labels.write_text(labels.read_text() + label_line("Ses01F_impro01_F000", "sad") + "\n")
    last = len(labels.read_text().splitlines())
    assert error(release) == f"{labels}:{last}: Ses01F_impro01_F000 is labelled twice (first at {labels}:3)."


def test_corrupt_wav_is_reported_when_read(release: Path):
    wav = release / "Session5/sentences/wav/Ses05M_script01_1/Ses05M_script01_1_F000.wav"
    wav.write_bytes(b"RIFF junk, not a wave file" * 10)
    corpus = load_iemocap(release)  # labels are fine; audio is checked when it is read
    (utt,) = [u for u in corpus.utterances if u.id == "Ses05M_script01_1_F000"]
    with pytest.raises(PrivacyInputError) as info:
        corpus.read_audio(utt, SR)
    message = str(info.value)
    assert message.startswith(f"iemocap:{release} (Ses05M_script01_1_F000): cannot read audio file {wav}")


# --- fingerprint ----------------------------------------------------------------------------------


def test_fingerprint_tracks_labels_and_audio(release: Path):
    first = load_iemocap(release).fingerprint
    assert len(first) == 64 and load_iemocap(release).fingerprint == first
    labels = release / "Session2" / "dialog" / "EmoEvaluation" / "Ses02F_impro01.txt"
    original = labels.read_text()
    rewrite(labels, "\tneu\t", "\tsad\t")
    assert load_iemocap(release).fingerprint != first
    labels.write_text(original)
    assert load_iemocap(release).fingerprint == first
    # Evaluator lines and dropped utterances do not matter.
    labels.write_text(original.replace("C-E3:\tAnger;", "C-E3:\tSadness;").replace("\txxx\t", "\toth\t"))
    assert load_iemocap(release).fingerprint == first

    wav = release / "Session2/sentences/wav/Ses02F_impro01/Ses02F_impro01_F000.wav"
    stat = wav.stat()
    sf.write(str(wav), tone(freq=500.0), SR)  # same size: the mtime tells
    if wav.stat().st_mtime_ns == stat.st_mtime_ns:
        os.utime(wav, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10_000_000))
    assert load_iemocap(release).fingerprint != first
