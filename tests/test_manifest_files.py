"""A manifest's audio files, checked when it is loaded (issue 13): every row's file before any cap,
each problem a usage error naming the manifest line and the resolved path; paths outside the
manifest's folder allowed and said so when they fail; ManifestWarnings for repeated rows and very
short clips."""

from __future__ import annotations

import contextlib
import os
import signal
import warnings
from pathlib import Path

import numpy as np
import pytest

from privacy_checks.data.audio import read_audio_file
from privacy_checks.data.manifest import MIN_CLIP_SECONDS, ManifestWarning, load_manifest
from privacy_checks.errors import PrivacyInputError
from tests.test_manifest_corpus import SR, good_manifest, make_corpus_dir, tone, write_audio, write_manifest


@contextlib.contextmanager
def within(seconds: float):
    """Fail instead of hanging (a FIFO opened for reading blocks until a writer comes)."""

    def expire(signum, frame):
        raise AssertionError(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@pytest.fixture
def corpus_dir(tmp_path: Path) -> Path:
    return make_corpus_dir(tmp_path)


@pytest.fixture
def data(tmp_path: Path) -> Path:
    folder = tmp_path / "data"
    write_audio(folder / "ok.wav", tone())
    return folder


def row_error(data: Path, path: str) -> str:
    """The error of a manifest whose second row lists `path`; asserts it names that line."""
    manifest = write_manifest(data / "m.csv", ["path,speaker,gender", "ok.wav,s1,f", f"{path},s2,m"])
    with within(10), pytest.raises(PrivacyInputError) as info:
        load_manifest(manifest)
    message = str(info.value)
    assert message.startswith(f"{manifest}:3: "), message
    return message


def test_not_audio_is_refused_at_load_naming_line_and_resolved_path(data: Path):
    (data / "junk.wav").write_bytes(np.random.default_rng(0).bytes(4096))
    message = row_error(data, "junk.wav")
    assert f"cannot read audio file junk.wav ({(data / 'junk.wav').resolve()}): Format not recognised." in message
    assert "Convert it to WAV/FLAC or remove the row." in message
    assert "outside" not in message


def test_file_outside_the_manifest_folder_loads(data: Path, tmp_path: Path):
    write_audio(tmp_path / "elsewhere" / "x.wav", tone(300.0))
    manifest = write_manifest(data / "m.csv", ["path,speaker,gender", "ok.wav,s1,f", "../elsewhere/x.wav,s2,m"])
    corpus = load_manifest(manifest)
    assert corpus.utterances[1].path == str((tmp_path / "elsewhere" / "x.wav").resolve())
    np.testing.assert_allclose(corpus.read_audio(corpus.utterances[1], SR), tone(300.0), atol=1e-4)


@pytest.mark.parametrize("relative", [True, False], ids=["dotdot", "absolute"])
def test_unreadable_file_outside_the_folder_says_so(data: Path, tmp_path: Path, relative: bool):
    secret = tmp_path / "etc" / "passwd"
    secret.parent.mkdir()
    secret.write_text("root:x:0:0:root:/root:/bin/bash\n")
    message = row_error(data, "../etc/passwd" if relative else str(secret))
    assert f"({secret.resolve()}): Format not recognised." in message
    assert f"It lies outside the manifest's folder {data.resolve()}" in message
    assert "paths are relative to that folder" in message


def test_missing_file_outside_the_folder_says_so(data: Path):
    message = row_error(data, "../../nowhere.wav")
    assert "audio file ../../nowhere.wav not found" in message
    assert "It lies outside the manifest's folder" in message


def test_symlink_loop_is_a_usage_error_naming_the_line(data: Path):
    (data / "loop").symlink_to("loop")
    message = row_error(data, "loop")
    assert "audio file loop" in message and "is a symbolic link loop" in message
    assert "fix the path or remove the row" in message


def test_folder_is_not_audio(data: Path):
    (data / "sub").mkdir()
    message = row_error(data, "sub")
    assert f"audio file sub ({(data / 'sub').resolve()}) is a folder, not an audio file" in message


def test_fifo_is_refused_without_opening_it(data: Path):
    os.mkfifo(data / "pipe.wav")
    message = row_error(data, "pipe.wav")  # within 10 s, i.e. it never blocked on the FIFO
    assert "is not a regular file (a FIFO, socket or device)" in message


def test_fifo_in_place_of_a_loaded_file_does_not_block_the_reader(data: Path):
    corpus = load_manifest(write_manifest(data / "m.csv", ["path,speaker,gender", "ok.wav,s1,f"]))
    (data / "ok.wav").unlink()
    os.mkfifo(data / "ok.wav")
    with within(10), pytest.raises(PrivacyInputError, match=r"m.csv:2 \(ok.wav\): .*not a regular file"):
        corpus.read_audio(corpus.utterances[0], SR)
    with within(10), pytest.raises(PrivacyInputError, match="not a regular file"):
        read_audio_file(data / "ok.wav", SR)


def test_empty_file_and_file_without_samples(data: Path):
    (data / "zero.wav").write_bytes(b"")
    assert "audio file zero.wav" in row_error(data, "zero.wav") and "is empty (0 bytes)" in row_error(data, "zero.wav")
    write_audio(data / "nosamples.wav", np.zeros(0, dtype=np.float32))
    assert "is empty (0 samples); remove the row." in row_error(data, "nosamples.wav")


@pytest.mark.parametrize("name", ["a\0b.wav", "x" * 300 + ".wav"], ids=["nul", "too-long"])
def test_impossible_file_names(data: Path, name: str):
    message = row_error(data, name)
    assert "NUL character" in message or "File name too long" in message


def test_unreadable_permissions(data: Path):
    if os.geteuid() == 0:
        pytest.skip("root reads every file")
    (data / "ok.wav").chmod(0)
    manifest = write_manifest(data / "m.csv", ["path,speaker,gender", "ok.wav,s1,f"])
    with pytest.raises(PrivacyInputError, match=r"m.csv:2: cannot read audio file ok.wav"):
        load_manifest(manifest)


def test_manifest_that_is_a_folder_or_a_fifo(tmp_path: Path):
    (tmp_path / "dir.csv").mkdir()
    with pytest.raises(
        PrivacyInputError, match=r"--privacy-data: manifest .*dir.csv is a folder; give the path to a CSV file"
    ):
        load_manifest(tmp_path / "dir.csv")
    os.mkfifo(tmp_path / "pipe.csv")
    with within(10), pytest.raises(PrivacyInputError, match="pipe.csv is not a regular file"):
        load_manifest(tmp_path / "pipe.csv")


# --- warnings -------------------------------------------------------------------------------------


def test_repeated_rows_warn_naming_the_lines(corpus_dir: Path):
    lines = good_manifest(corpus_dir).read_text().splitlines()
    manifest = write_manifest(corpus_dir / "dup.csv", [*lines, lines[1], "./wav/../d.wav,s2,m,,2,"])
    with pytest.warns(ManifestWarning) as caught:
        corpus = load_manifest(manifest)
    assert len(corpus) == 6  # kept: a warning, not an error
    [warning] = caught
    message = str(warning.message)
    assert message.startswith(f"{manifest}: 2 audio file(s) listed more than once: ")
    assert f"{(corpus_dir / 'wav' / 'a.wav').resolve()} on lines 2, 6" in message
    assert f"{(corpus_dir / 'd.wav').resolve()} on lines 5, 7" in message  # the same file, spelt otherwise
    assert "remove the repeated rows" in message


def test_short_clips_warn_naming_the_lines(corpus_dir: Path):
    write_audio(corpus_dir / "blip.wav", tone(seconds=0.05))
    write_audio(corpus_dir / "just.wav", tone(seconds=MIN_CLIP_SECONDS))
    manifest = write_manifest(
        corpus_dir / "m.csv", ["path,speaker,gender", "d.wav,s1,f", "blip.wav,s1,f", "just.wav,s2,m"]
    )
    with pytest.warns(ManifestWarning) as caught:
        load_manifest(manifest)
    [warning] = caught
    assert str(warning.message) == (
        f"{manifest}: 1 clip(s) shorter than 0.1 s: line 3 (blip.wav, 0.050 s). So short a clip holds little "
        "voice and is mostly padding in the model's input; check that it was cut right, or remove it."
    )


def test_a_clean_manifest_warns_nothing(corpus_dir: Path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_manifest(good_manifest(corpus_dir))


def test_a_warning_made_an_error_by_a_filter_is_a_usage_error(corpus_dir: Path):
    lines = good_manifest(corpus_dir).read_text().splitlines()
    manifest = write_manifest(corpus_dir / "dup.csv", [*lines, lines[1]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # -W error, or pytest's filterwarnings = error
        with pytest.raises(PrivacyInputError) as info:
            load_manifest(manifest)
    message = str(info.value)
    assert message.startswith(f"{manifest}: 1 audio file(s) listed more than once: ") and "lines 2, 6" in message
    assert "-W default::privacy_checks.data.manifest.ManifestWarning" in message
