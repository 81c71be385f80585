"""Manifest CSV corpora (docs/design.md §4) and audio reading: parsing, normalisation, every user error
with the file, line and fix in its message, fingerprints, and `load_corpus` dispatch."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hypothesis import given, settings
from hypothesis import strategies as st

from privacy_checks.data import load_corpus
from privacy_checks.data.audio import SILENCE_PEAK, read_audio_file, resample
from privacy_checks.data.manifest import load_manifest
from privacy_checks.errors import PrivacyInputError

SR = 16000


def tone(freq: float = 220.0, seconds: float = 0.25, rate: int = SR, amplitude: float = 0.3) -> np.ndarray:
    return (amplitude * np.sin(2 * np.pi * freq * np.arange(int(rate * seconds)) / rate)).astype(np.float32)


def write_audio(path: Path, audio: np.ndarray, rate: int = SR, **kwargs) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), audio, rate, **kwargs)
    return path


def write_manifest(path: Path, lines: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def corpus_dir(tmp_path: Path) -> Path:
    return make_corpus_dir(tmp_path)


def make_corpus_dir(tmp_path: Path) -> Path:
    """Four clips (WAV and FLAC) in subfolders next to data/manifest.csv."""
    data = tmp_path / "data"
    write_audio(data / "wav" / "a.wav", tone(200.0))
    write_audio(data / "wav" / "b.wav", tone(300.0), subtype="PCM_16")
    write_audio(data / "flac" / "c.flac", tone(400.0))
    write_audio(data / "d.wav", tone(500.0))
    return data


def good_manifest(data: Path) -> Path:
    return write_manifest(
        data / "manifest.csv",
        [
            "path,speaker,gender,emotion,session,spontaneity",
            "wav/a.wav,s1,f,neutral,1,improvised",
            "wav/b.wav,s1,Female,angry,1,Scripted",
            "flac/c.flac,s2,m,happy,2,",
            "d.wav,s2,MALE,,2,IMPROVISED",
        ],
    )


# --- loading --------------------------------------------------------------------------------------


def test_manifest_with_relative_paths_loads_and_normalises(corpus_dir: Path):
    corpus = load_manifest(good_manifest(corpus_dir))
    assert len(corpus) == 4
    assert corpus.name == f"manifest:{corpus_dir / 'manifest.csv'}"
    assert [u.id for u in corpus.utterances] == ["wav/a.wav", "wav/b.wav", "flac/c.flac", "d.wav"]
    assert [u.gender for u in corpus.utterances] == ["female", "female", "male", "male"]
    assert corpus.gender_labels.tolist() == [0, 0, 1, 1]
    assert corpus.speakers == ["s1", "s1", "s2", "s2"]
    assert [u.emotion for u in corpus.utterances] == ["neutral", "angry", "happy", None]
    assert [u.session for u in corpus.utterances] == ["1", "1", "2", "2"]
    assert [u.spontaneity for u in corpus.utterances] == ["improvised", "scripted", None, "improvised"]
    assert corpus.emotions == ("angry", "happy", "neutral")  # sorted, blanks dropped
    for utt in corpus.utterances:
        assert Path(utt.path).is_absolute() and Path(utt.path) == (corpus_dir / utt.id).resolve()
    audio = corpus.read_audio(corpus.utterances[2], SR)  # the FLAC
    assert audio.dtype == np.float32 and audio.shape == (4000,)
    np.testing.assert_allclose(audio, tone(400.0), atol=1e-4)
    int16 = corpus.read_audio(corpus.utterances[1], SR)  # PCM_16 scaled back to [-1, 1]
    np.testing.assert_allclose(int16, tone(300.0), atol=1.0 / 32768 + 1e-6)


def test_required_columns_only_and_forgiving_header(corpus_dir: Path):
    # BOM, column order, case and spaces in the header; spaces around cells; blank lines skipped.
    manifest = corpus_dir / "minimal.csv"
    manifest.write_bytes("\ufeffGender , Speaker,PATH\n m ,spk 9 , d.wav \n\n,,\nF,spk 8,wav/a.wav\n".encode("utf-8"))
    corpus = load_manifest(manifest)
    assert [(u.id, u.speaker, u.gender) for u in corpus.utterances] == [
        ("d.wav", "spk 9", "male"),
        ("wav/a.wav", "spk 8", "female"),
    ]
    assert all(u.emotion is None and u.session is None and u.spontaneity is None for u in corpus.utterances)
    assert corpus.emotions == ()


def test_quoted_fields_with_commas(corpus_dir: Path):
    write_audio(corpus_dir / "odd, name.wav", tone())
    manifest = write_manifest(corpus_dir / "q.csv", ["path,speaker,gender", '"odd, name.wav","Doe, J.",f'])
    (utt,) = load_manifest(manifest).utterances
    assert (utt.id, utt.speaker) == ("odd, name.wav", "Doe, J.")


def test_stereo_is_downmixed_to_mono(tmp_path: Path):
    x = tone(440.0)
    same = write_audio(tmp_path / "same.wav", np.stack([x, x], axis=1), subtype="FLOAT")
    np.testing.assert_allclose(read_audio_file(same, SR), x, atol=1e-6)
    one_side = write_audio(tmp_path / "left.wav", np.stack([x, np.zeros_like(x)], axis=1), subtype="FLOAT")
    np.testing.assert_allclose(read_audio_file(one_side, SR), x / 2, atol=1e-6)
    # Opposite phases cancel: the mono mix is silent, which is reported, not passed on as zeros.
    cancel = write_audio(tmp_path / "cancel.wav", np.stack([x, -x], axis=1))
    with pytest.raises(PrivacyInputError, match="silent"):
        read_audio_file(cancel, SR)


def test_48k_is_resampled_to_16k_and_a_1khz_tone_stays_at_1khz(tmp_path: Path):
    path = write_audio(tmp_path / "hi.wav", tone(1000.0, seconds=1.0, rate=48000), rate=48000)
    audio = read_audio_file(path, SR)
    assert audio.dtype == np.float32 and audio.shape == (16000,)
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(audio.size)))
    freqs = np.fft.rfftfreq(audio.size, 1 / SR)
    assert freqs[spectrum.argmax()] == pytest.approx(1000.0, abs=1.0)
    # Amplitude preserved (away from the filter's edge transients).
    assert np.abs(audio[2000:-2000]).max() == pytest.approx(0.3, rel=0.01)


@settings(max_examples=10, deadline=None)
@given(rate_in=st.sampled_from([8000, 22050, 44100, 48000]), freq=st.floats(100.0, 3500.0))
def test_resample_keeps_length_ratio_and_frequency(rate_in, freq):
    x = tone(freq, seconds=0.5, rate=rate_in)
    y = resample(x, rate_in, SR)
    assert y.dtype == np.float32
    assert abs(y.size - x.size * SR / rate_in) <= 1
    spectrum = np.abs(np.fft.rfft(y * np.hanning(y.size)))
    assert np.fft.rfftfreq(y.size, 1 / SR)[spectrum.argmax()] == pytest.approx(freq, abs=SR / y.size)
    assert resample(x, rate_in, rate_in) is not None and np.array_equal(resample(x, rate_in, rate_in), x)


def test_nothing_is_written_next_to_the_manifest(corpus_dir: Path, tmp_path: Path):
    manifest = good_manifest(corpus_dir)
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    corpus = load_corpus(str(manifest), tmp_path)
    for utt in corpus.utterances:
        corpus.read_audio(utt, SR)
    load_corpus("data/manifest.csv", tmp_path)
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


# --- manifest errors ------------------------------------------------------------------------------


def error(manifest: Path) -> str:
    with pytest.raises(PrivacyInputError) as info:
        load_manifest(manifest)
    return str(info.value)


def test_missing_manifest(tmp_path: Path):
    message = error(tmp_path / "nope.csv")
    assert str(tmp_path / "nope.csv") in message
    assert "does not exist" in message and "give the path to a CSV file" in message


@pytest.mark.parametrize("content", ["", "\n", " , ,\n"], ids=["empty", "newline", "blank-header"])
def test_empty_manifest(tmp_path: Path, content: str):
    manifest = tmp_path / "m.csv"
    manifest.write_text(content)
    message = error(manifest)
    assert message.startswith(f"{manifest}: ")
    assert "the manifest is empty" in message and "header row `path,speaker,gender`" in message


def test_header_without_rows(tmp_path: Path):
    manifest = write_manifest(tmp_path / "m.csv", ["path,speaker,gender", "", ",,"])
    assert error(manifest) == f"{manifest}: the manifest has a header but no rows."


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"], ids=["lf", "crlf", "cr"])
def test_not_utf8_names_the_line_and_the_fix(tmp_path: Path, newline: str):
    manifest = tmp_path / "m.csv"
    lines = ["path,speaker,gender", "a.wav,s,f", "", "caf\xe9.wav,s,f"]
    manifest.write_bytes(newline.join(lines).encode("latin-1") + newline.encode())
    message = error(manifest)
    assert message.startswith(f"{manifest}:4: the manifest is not UTF-8 text")  # the line, counting the blank
    assert "byte 0xe9 in column 4 of line 4" in message
    assert "save it as UTF-8" in message and "offset" not in message


def test_utf16_manifest_says_save_as_utf8(tmp_path: Path):
    manifest = tmp_path / "m.csv"
    manifest.write_bytes("path,speaker,gender\na.wav,s,f\n".encode("utf-16"))  # with its BOM
    assert (
        error(manifest) == f"{manifest}: the manifest is UTF-16 text; save it as UTF-8 (in a spreadsheet: CSV UTF-8)."
    )


@pytest.mark.parametrize("newline", ["\r\n", "\r"], ids=["crlf", "cr"])
def test_bom_and_crlf_manifest_loads_like_lf(corpus_dir: Path, newline: str):
    plain = good_manifest(corpus_dir)
    windows = corpus_dir / "windows.csv"
    windows.write_bytes(b"\xef\xbb\xbf" + plain.read_text().replace("\n", newline).encode())
    loaded, expected = load_manifest(windows), load_manifest(plain)
    assert loaded.utterances == expected.utterances  # no BOM in the header, no \r in the last column
    assert loaded.fingerprint == expected.fingerprint


def test_a_line_break_inside_quotes_keeps_later_line_numbers(corpus_dir: Path):
    write_audio(corpus_dir / "two\nlines.wav", tone())
    manifest = write_manifest(corpus_dir / "m.csv", ["path,speaker,gender", '"two', 'lines.wav",s1,f', "d.wav,s1,x"])
    assert error(manifest).startswith(f"{manifest}:4: gender 'x'")


def test_repeated_or_unnamed_header_columns(corpus_dir: Path):
    repeated = write_manifest(corpus_dir / "m.csv", ["path,speaker,gender,Speaker", "d.wav,s,f,s"])
    assert error(repeated) == f"{repeated}:1: column(s) speaker appear more than once; keep one of each."
    trailing = write_manifest(corpus_dir / "t.csv", ["path,speaker,gender,", "d.wav,s,f,"])
    assert "unknown column(s) '' (an empty column name: a trailing comma?)" in error(trailing)


def test_oversized_field_is_a_csv_error_naming_the_line(corpus_dir: Path):
    manifest = write_manifest(
        corpus_dir / "m.csv", ["path,speaker,gender", "d.wav,s,f", "d.wav," + "x" * 200_000 + ",f"]
    )
    message = error(manifest)
    assert message.startswith(f"{manifest}:3: not a valid CSV row (field larger than field limit")


def test_missing_required_columns(corpus_dir: Path):
    manifest = write_manifest(corpus_dir / "m.csv", ["file,emotion", "d.wav,happy"])
    message = error(manifest)
    assert message.startswith(f"{manifest}:1: ")
    assert "missing column(s) path, speaker, gender" in message
    assert "the header must contain path,speaker,gender (optional: emotion,session,spontaneity)" in message

    only_gender = write_manifest(corpus_dir / "m2.csv", ["path,speaker", "d.wav,s"])
    assert "missing column(s) gender;" in error(only_gender)


def test_unknown_column(corpus_dir: Path):
    manifest = write_manifest(corpus_dir / "m.csv", ["path,speaker,gender,age", "d.wav,s,f,30"])
    message = error(manifest)
    assert message.startswith(f"{manifest}:1: ")
    assert "unknown column(s) age" in message
    assert "allowed: path,speaker,gender,emotion,session,spontaneity" in message


@pytest.mark.parametrize("row", ["d.wav,s1", "d.wav,s1,f,extra"], ids=["too-few", "too-many"])
def test_row_with_wrong_field_count(corpus_dir: Path, row: str):
    manifest = write_manifest(corpus_dir / "m.csv", ["path,speaker,gender", "d.wav,s1,f", row])
    message = error(manifest)
    assert message.startswith(f"{manifest}:3: ")
    assert f"expected 3 fields (one per header column), found {row.count(',') + 1}" in message
    assert 'quote a value that contains a comma ("a, b")' in message  # the fix


@pytest.mark.parametrize(("row", "column"), [("d.wav, ,f", "speaker"), (",s1,f", "path"), ("d.wav,s1,", "gender")])
def test_empty_required_field(corpus_dir: Path, row: str, column: str):
    manifest = write_manifest(corpus_dir / "m.csv", ["path,speaker,gender", "wav/a.wav,s0,m", row])
    message = error(manifest)
    assert message.startswith(f"{manifest}:3: ")
    assert f"empty '{column}'" in message and "every row needs path, speaker, gender" in message


@pytest.mark.parametrize("value", ["x", "woman", "0", "fem"])
def test_bad_gender(corpus_dir: Path, value: str):
    manifest = write_manifest(corpus_dir / "m.csv", ["path,speaker,gender", "wav/a.wav,s0,m", "", f"d.wav,s1,{value}"])
    message = error(manifest)
    assert message.startswith(f"{manifest}:4: ")  # physical line, counting the blank one
    assert f"gender {value!r} is not one of female, male, f, m (any case)" in message


@settings(max_examples=20, deadline=None)
@given(
    value=st.sampled_from(["f", "m", "female", "male"]).flatmap(
        lambda s: st.tuples(*[st.sampled_from([c.lower(), c.upper()]) for c in s]).map("".join)
    )
)
def test_gender_spellings_in_any_case(tmp_path_factory, value: str):
    data = tmp_path_factory.mktemp("g")
    write_audio(data / "a.wav", tone())
    manifest = write_manifest(data / "m.csv", ["path,speaker,gender", f"a.wav,s,{value}"])
    (utt,) = load_manifest(manifest).utterances
    assert utt.gender == ("female" if value.lower().startswith("f") else "male")


def test_speaker_with_two_genders_names_both_lines(corpus_dir: Path):
    # The second gender comes after the speaker's first rows, where a per-speaker cap would stop.
    manifest = write_manifest(
        corpus_dir / "m.csv",
        ["path,speaker,gender", "wav/a.wav,s1,f", "wav/b.wav,s1,f", "d.wav,s2,m", "flac/c.flac,s1,M"],
    )
    assert error(manifest) == (
        f"{manifest}:5: speaker 's1' is male here but female on line 2; a speaker has one gender: fix the "
        "gender on one of these lines (or give the two voices different speaker names)."
    )


def test_labels_of_every_row_are_checked_before_any_audio_file(corpus_dir: Path):
    manifest = write_manifest(corpus_dir / "m.csv", ["path,speaker,gender", "wav/zzz.wav,s1,f", "d.wav,s2,woman"])
    assert error(manifest).startswith(f"{manifest}:3: gender 'woman'")


def test_missing_audio_file(corpus_dir: Path):
    manifest = write_manifest(corpus_dir / "m.csv", ["path,speaker,gender", "d.wav,s1,f", "wav/zzz.wav,s2,m"])
    message = error(manifest)
    assert message.startswith(f"{manifest}:3: ")
    assert "audio file wav/zzz.wav not found" in message
    assert str((corpus_dir / "wav" / "zzz.wav").resolve()) in message
    assert "paths are relative to the manifest's folder" in message


def test_bad_spontaneity(corpus_dir: Path):
    manifest = write_manifest(corpus_dir / "m.csv", ["path,speaker,gender,spontaneity", "d.wav,s1,f,acted"])
    message = error(manifest)
    assert message.startswith(f"{manifest}:2: ")
    assert "spontaneity 'acted' must be improvised or scripted" in message


# --- audio read-time errors -----------------------------------------------------------------------


def manifest_for(data: Path, name: str) -> Path:
    return write_manifest(data / f"{name}.csv", ["path,speaker,gender", f"{name},s1,f"])


def read_error(data: Path, name: str) -> str:
    corpus = load_manifest(manifest_for(data, name))  # the manifest itself is fine
    with pytest.raises(PrivacyInputError) as info:
        corpus.read_audio(corpus.utterances[0], SR)
    message = str(info.value)
    assert message.startswith(f"{data / (name + '.csv')}:2 ({name}): ")  # the manifest, line and row's id
    assert str((data / name).resolve()) in message  # the audio file itself
    return message


def test_silent_wav(tmp_path: Path):
    write_audio(tmp_path / "silent.wav", np.zeros(8000, dtype=np.float32))
    message = read_error(tmp_path, "silent.wav")
    assert f"is silent or not finite (peak below {SILENCE_PEAK:g})" in message and "remove it" in message


def test_quiet_but_audible_wav_is_kept(tmp_path: Path):
    write_audio(tmp_path / "quiet.wav", tone(amplitude=0.01))
    assert np.abs(read_audio_file(tmp_path / "quiet.wav", SR)).max() == pytest.approx(0.01, rel=1e-3)


def test_non_finite_samples(tmp_path: Path):
    audio = tone()
    audio[100] = np.nan
    write_audio(tmp_path / "nan.wav", audio, subtype="FLOAT")
    assert "is silent or not finite" in read_error(tmp_path, "nan.wav")


def test_audio_deleted_after_loading(corpus_dir: Path):
    corpus = load_manifest(good_manifest(corpus_dir))
    (corpus_dir / "d.wav").unlink()
    with pytest.raises(PrivacyInputError, match="cannot read audio file .*d.wav"):
        corpus.read_audio(corpus.utterances[3], SR)


# --- fingerprint ----------------------------------------------------------------------------------


def test_fingerprint_is_stable_and_tracks_rows_and_audio(corpus_dir: Path):
    manifest = good_manifest(corpus_dir)
    first = load_manifest(manifest).fingerprint
    assert len(first) == 64 and int(first, 16) >= 0
    assert load_manifest(manifest).fingerprint == first  # stable when nothing changed
    lines = manifest.read_text().splitlines()

    relabelled = write_manifest(manifest, [*lines[:3], lines[3].replace("happy", "sad"), lines[4]])
    assert load_manifest(relabelled).fingerprint != first
    write_manifest(manifest, lines)
    assert load_manifest(manifest).fingerprint == first  # back to the same rows

    # An audio file rewritten in place with a different length.
    audio = corpus_dir / "d.wav"
    write_audio(audio, tone(500.0, seconds=0.3))
    second = load_manifest(manifest).fingerprint
    assert second != first
    # Rewritten with the same size: the fingerprint keys on size + mtime (cheap at start-up).
    stat = audio.stat()
    write_audio(audio, tone(600.0, seconds=0.3))
    assert audio.stat().st_size == stat.st_size
    if audio.stat().st_mtime_ns == stat.st_mtime_ns:  # coarse-clock filesystem: time moves on
        os.utime(audio, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10_000_000))
    assert load_manifest(manifest).fingerprint != second


def test_fingerprint_ignores_blank_lines_but_not_row_order(corpus_dir: Path):
    manifest = good_manifest(corpus_dir)
    first = load_manifest(manifest).fingerprint
    lines = manifest.read_text().splitlines()
    write_manifest(manifest, [lines[0], "", *lines[1:], ""])
    assert load_manifest(manifest).fingerprint == first
    write_manifest(manifest, [lines[0], lines[2], lines[1], *lines[3:]])
    assert load_manifest(manifest).fingerprint != first


# --- load_corpus ----------------------------------------------------------------------------------


def test_load_corpus_resolves_relative_and_absolute_manifests(corpus_dir: Path, tmp_path: Path):
    manifest = good_manifest(corpus_dir)
    relative = load_corpus(" data/manifest.csv ", tmp_path)
    absolute = load_corpus(str(manifest), Path("/nonexistent"))
    assert len(relative) == len(absolute) == 4
    assert relative.fingerprint == absolute.fingerprint


def test_load_corpus_missing_manifest_names_the_resolved_path(tmp_path: Path):
    with pytest.raises(PrivacyInputError) as info:
        load_corpus("sub/none.csv", tmp_path)
    assert str(tmp_path / "sub" / "none.csv") in str(info.value) and "does not exist" in str(info.value)


@pytest.mark.parametrize("kind", ["iemocap", "ravdess"])
def test_load_corpus_named_corpus_folder_missing(tmp_path: Path, kind: str):
    with pytest.raises(PrivacyInputError) as info:
        load_corpus(f"{kind}:corpora/{kind}", tmp_path)
    assert str(info.value) == (
        f"--privacy-data {kind}:corpora/{kind}: folder {tmp_path / 'corpora' / kind} does not exist; "
        f"give the {kind} release root folder."
    )


@pytest.mark.parametrize(
    ("spec", "hint"),
    [("librispeech:/x", ""), ("data/manifest.tsv", ""), ("synth", " (did you mean 'synthetic'?)")],
)
def test_load_corpus_unknown_spec(tmp_path: Path, spec: str, hint: str):
    with pytest.raises(PrivacyInputError) as info:
        load_corpus(spec, tmp_path, option="--privacy-aux-data")
    assert str(info.value) == (
        f"--privacy-aux-data {spec!r}: unknown corpus spec{hint}; "
        "use `synthetic`, `synthetic:key=value,...`, `iemocap:DIR[,merge_excitement=true]`, `ravdess:DIR` "
        "or the path to a manifest .csv."
    )
