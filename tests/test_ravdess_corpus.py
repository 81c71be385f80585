"""RAVDESS release-folder corpora (`ravdess:DIR`): the file-name codes, speech and audio-only
files kept, song and video files skipped, 48 kHz audio resampled, every user error naming the
file, fingerprints, and `load_corpus` dispatch."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from privacy_checks.data import load_corpus
from privacy_checks.data.ravdess import EMOTIONS, load_ravdess
from privacy_checks.errors import PrivacyInputError

RATE = 48000  # RAVDESS's rate
SR = 16000


def tone(freq: float = 440.0, seconds: float = 0.1) -> np.ndarray:
    return (0.3 * np.sin(2 * np.pi * freq * np.arange(int(RATE * seconds)) / RATE)).astype(np.float32)


def write(root: Path, actor: int, name: str, audio: np.ndarray | None = None) -> Path:
    path = root / f"Actor_{actor:02d}" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), tone() if audio is None else audio, RATE)
    return path


def name(emotion: int, actor: int, modality: int = 3, channel: int = 1, intensity: int = 1) -> str:
    return f"{modality:02d}-{channel:02d}-{emotion:02d}-{intensity:02d}-01-01-{actor:02d}.wav"


@pytest.fixture
def release(tmp_path: Path) -> Path:
    """Actors 1..4, one audio-only speech take per emotion, plus files the loader must skip."""
    root = tmp_path / "ravdess"
    for actor in range(1, 5):
        for emotion in range(1, 9):
            write(root, actor, name(emotion, actor))
    write(root, 1, name(1, 1, channel=2))  # song
    write(root, 2, name(3, 2, modality=1))  # audio-video code as a .wav (a soundtrack)
    write(root, 2, name(3, 2, modality=2))  # video-only code as a .wav
    (root / "Actor_03" / "01-01-05-01-01-01-03.mp4").write_bytes(b"\x00" * 64)  # the video release
    (root / "Actor_03" / "._03-01-05-01-01-01-03.wav").write_bytes(b"\x00\x05\x16\x07")  # macOS copy
    (root / "Actor_04" / "extracted").mkdir()
    (root / "README.txt").write_text("RAVDESS")
    return root


def error(root: Path) -> str:
    with pytest.raises(PrivacyInputError) as info:
        load_ravdess(root)
    return str(info.value)


# --- loading --------------------------------------------------------------------------------------


def test_release_layout_loads_speech_audio_only(release: Path):
    corpus = load_ravdess(release)
    assert corpus.name == f"ravdess:{release}"
    assert (
        corpus.emotions == EMOTIONS == ("neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised")
    )
    assert corpus.fold_groups is None
    assert len(corpus) == 32  # 4 actors x 8 emotions; song and video codes skipped
    assert corpus.speakers == [f"Actor_{a:02d}" for a in range(1, 5) for _ in range(8)]
    assert [u.gender for u in corpus.utterances[::8]] == ["male", "female", "male", "female"]
    assert corpus.gender_labels.tolist() == [1] * 8 + [0] * 8 + [1] * 8 + [0] * 8
    assert [u.emotion for u in corpus.utterances[:8]] == list(EMOTIONS)
    assert corpus.utterances[4].id == "03-01-05-01-01-01-01"
    assert corpus.utterances[4].path == str(release / "Actor_01" / "03-01-05-01-01-01-01.wav")
    assert all(u.session is None and u.spontaneity is None for u in corpus.utterances)
    assert all(u.id.startswith("03-01-") for u in corpus.utterances)


def test_any_subset_of_actors_and_codes_beyond_the_first(tmp_path: Path):
    root = tmp_path / "r"
    write(root, 24, name(8, 24, intensity=2))
    write(root, 13, "03-01-06-02-02-02-13.wav")
    corpus = load_ravdess(root)
    assert [(u.speaker, u.gender, u.emotion) for u in corpus.utterances] == [
        ("Actor_13", "male", "fearful"),
        ("Actor_24", "female", "surprised"),
    ]


def test_48k_audio_comes_back_at_16k(release: Path):
    write(release, 1, name(1, 1), tone(1000.0, seconds=0.5))
    corpus = load_ravdess(release)
    audio = corpus.read_audio(corpus.utterances[0], SR)
    assert audio.dtype == np.float32 and audio.shape == (8000,)
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(audio.size)))
    assert np.fft.rfftfreq(audio.size, 1 / SR)[spectrum.argmax()] == pytest.approx(1000.0, abs=2.0)
    assert corpus.read_audio(corpus.utterances[1], SR).shape == (1600,)  # 0.1 s


# --- load_corpus ----------------------------------------------------------------------------------


def test_load_corpus_dispatch(release: Path, tmp_path: Path):
    relative = load_corpus(" ravdess:ravdess ", tmp_path)
    absolute = load_corpus(f"ravdess:{release}", Path("/nonexistent"))
    assert relative.name == absolute.name == f"ravdess:{release}"
    assert len(relative) == 32 and relative.fingerprint == absolute.fingerprint


def test_load_corpus_rejects_options(release: Path, tmp_path: Path):
    with pytest.raises(PrivacyInputError) as info:
        load_corpus("ravdess:ravdess,merge_excitement=true", tmp_path, option="--privacy-aux-data")
    assert str(info.value) == (
        "--privacy-aux-data ravdess:ravdess,merge_excitement=true: ravdess takes no options, got merge_excitement."
    )


# --- errors ---------------------------------------------------------------------------------------


def test_missing_root(tmp_path: Path):
    assert error(tmp_path / "nope") == (
        f"{tmp_path / 'nope'}: RAVDESS folder not found; give the folder holding Actor_01..Actor_24."
    )


def test_folder_without_actor_folders(release: Path, tmp_path: Path):
    assert error(tmp_path) == (
        f"{tmp_path}: not a RAVDESS folder: it has no Actor_01..Actor_24 folders (did you mean {release}?)."
    )


@pytest.mark.parametrize("folder", ["Actor_1", "Actor_25", "Actor_00", "Actor_ab"])
def test_bad_actor_folder(release: Path, folder: str):
    (release / folder).mkdir()
    assert error(release).startswith(f"{release / folder}: not a RAVDESS actor folder")


@pytest.mark.parametrize(
    ("file_name", "expected"),
    [
        ("take1.wav", "file name is not a RAVDESS name MM-VV-EE-II-SS-RR-AA.wav (seven two-digit codes)"),
        ("03-01-01-01-01-01.wav", "file name is not a RAVDESS name"),
        ("03-01-01-01-01-01-001.wav", "file name is not a RAVDESS name"),
        ("04-01-01-01-01-01-01.wav", "modality code 04 is out of range (01..03)"),
        ("03-03-01-01-01-01-01.wav", "vocal channel code 03 is out of range (01..02)"),
        ("03-01-09-01-01-01-01.wav", "emotion code 09 is out of range (01..08)"),
        ("03-01-00-01-01-01-01.wav", "emotion code 00 is out of range (01..08)"),
        ("03-01-01-03-01-01-01.wav", "intensity code 03 is out of range (01..02)"),
        ("03-01-01-01-03-01-01.wav", "statement code 03 is out of range (01..02)"),
        ("03-01-01-01-01-03-01.wav", "repetition code 03 is out of range (01..02)"),
        ("03-01-01-01-01-01-25.wav", "actor code 25 is out of range (01..24)"),
        ("03-02-01-01-01-01-25.wav", "actor code 25 is out of range"),  # checked before skipping song
    ],
)
def test_bad_file_name_names_the_file(release: Path, file_name: str, expected: str):
    path = write(release, 1, file_name)
    message = error(release)
    assert message.startswith(f"{path}: {expected}")
    assert "rename it or move it out of the corpus" in message


def test_actor_must_match_folder(release: Path):
    path = write(release, 2, name(4, 3))
    assert error(release) == (
        f"{path}: the file name says actor 03 but it is in Actor_02; move it to its actor's folder."
    )


def test_no_speech_audio(tmp_path: Path):
    root = tmp_path / "songs"
    write(root, 1, name(1, 1, channel=2))
    write(root, 2, name(1, 2, modality=2))
    assert error(root).startswith(f"{root}: no audio-only speech files (03-01-*.wav) in the Actor folders")


def test_corrupt_wav_is_reported_when_read(release: Path):
    path = release / "Actor_02" / name(5, 2)
    path.write_bytes(b"not a wave file" * 20)
    corpus = load_ravdess(release)
    (utt,) = [u for u in corpus.utterances if u.id == path.stem]
    with pytest.raises(PrivacyInputError) as info:
        corpus.read_audio(utt, SR)
    assert str(info.value).startswith(f"ravdess:{release} ({path.stem}): cannot read audio file {path}")


# --- fingerprint ----------------------------------------------------------------------------------


def test_fingerprint_tracks_labels_and_audio(release: Path):
    first = load_ravdess(release).fingerprint
    assert len(first) == 64 and load_ravdess(release).fingerprint == first
    # The labels are in the name: a relabelled take (intensity 01 -> 02) is a new fingerprint.
    old = release / "Actor_03" / name(2, 3)
    new = old.rename(old.with_name(name(2, 3, intensity=2)))
    assert load_ravdess(release).fingerprint != first
    new.rename(old)
    assert load_ravdess(release).fingerprint == first
    write(release, 3, name(6, 3, channel=2))  # a skipped song file does not matter
    assert load_ravdess(release).fingerprint == first
    write(release, 3, name(6, 3), tone(seconds=0.2))
    assert load_ravdess(release).fingerprint != first
