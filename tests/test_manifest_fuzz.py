"""Generated manifests (issue 13's acceptance): random columns, cells, unicode, encodings, line ends,
repeated rows, missing values and paths to missing or odd files (a folder, a FIFO, a symlink loop,
an empty file, text, files outside the manifest's folder) either load or raise PrivacyInputError,
never another exception, and never hang; through pytest they exit 0, 1 or 4, never with a
traceback."""

from __future__ import annotations

import csv
import io
import os
import re
import warnings
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, event, given, seed, settings
from hypothesis import strategies as st

from privacy_checks.data import Corpus
from privacy_checks.data.manifest import OPTIONAL, REQUIRED, ManifestWarning, load_manifest
from privacy_checks.errors import PrivacyInputError
from tests.test_manifest_corpus import tone, write_audio
from tests.test_manifest_files import within

GOOD = [f"wav/g{i}.wav" for i in range(4)] + ["é 名.wav", "a, b.wav", "link.wav", "short.wav", "../outside/x.wav"]
ODD = ["missing.wav", "dir", "pipe.wav", "loop", "empty.wav", "nosamples.wav", "junk.wav", "notes.txt"]
ODD += ["../outside/passwd", "/nonexistent/abs.wav", "wav/../wav/g0.wav", "./wav/g1.wav", "a\0b.wav", "x" * 300]
GENDERS = ["f", "m", "Female", "MALE", "woman", "", "0", " f "]


def make_world(root: Path) -> Path:
    """The manifest's folder, with every kind of file a row may name; returns the folder."""
    data = root / "data"
    for i in range(4):
        write_audio(data / "wav" / f"g{i}.wav", tone(200.0 + 50 * i))
    write_audio(data / "é 名.wav", tone(330.0))
    write_audio(data / "a, b.wav", tone(440.0))
    write_audio(data / "short.wav", tone(seconds=0.02))
    write_audio(data / "nosamples.wav", np.zeros(0, dtype=np.float32))
    write_audio(root / "outside" / "x.wav", tone(550.0))
    (root / "outside" / "passwd").write_text("root:x:0:0:root:/root:/bin/bash\n")
    (data / "link.wav").symlink_to(data / "wav" / "g0.wav")
    (data / "loop").symlink_to("loop")
    (data / "dir").mkdir()
    os.mkfifo(data / "pipe.wav")
    (data / "empty.wav").write_bytes(b"")
    (data / "junk.wav").write_bytes(np.random.default_rng(0).bytes(2048))
    (data / "notes.txt").write_text("not audio\n")
    return data


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    return make_world(tmp_path_factory.mktemp("fuzz"))


column = st.one_of(
    st.sampled_from(REQUIRED + OPTIONAL),
    st.sampled_from(REQUIRED).map(lambda c: f" {c.upper()} "),
    st.sampled_from(["age", "", "path ", "Speaker"]),
    st.text(max_size=8),
)
valid_header = st.permutations(REQUIRED).flatmap(
    lambda req: st.lists(st.sampled_from(OPTIONAL), unique=True, max_size=3).map(lambda opt: [*req, *opt])
)
anything = st.one_of(st.text(max_size=12), st.integers().map(str), st.floats().map(str), st.just(""))
SPEAKERS = {"s1": "f", "s2": "m", "s3": "Female", "s4": "MALE", "spk 5": "f", "Ünï": "m"}
CELLS = {  # what each column usually holds, valid or not
    "path": st.sampled_from(GOOD * 8 + ODD),  # mostly a good file, so that some manifests load
    "speaker": st.sampled_from(list(SPEAKERS)),
    "gender": st.sampled_from(GENDERS),
    "emotion": st.sampled_from(["happy", "sad", ""]),
    "session": st.sampled_from(["1", "2", ""]),
    "spontaneity": st.sampled_from(["improvised", "Scripted", ""]),
}


def usually(draw, likely, otherwise, odds: int = 5) -> object:
    """`likely` in `odds - 1` of `odds` draws, else `otherwise`."""
    chance = draw(st.randoms(use_true_random=False)).random()  # uniform: integers() favours its bounds
    return draw(likely if chance < (odds - 1) / odds else otherwise)


@st.composite
def manifest_bytes(draw) -> bytes:
    columns = usually(draw, valid_header, st.lists(column, max_size=7))
    names = [str(c).strip().lower() for c in columns]
    rows = []
    for _ in range(draw(st.randoms(use_true_random=False)).randint(0, 8)):
        row = [usually(draw, CELLS.get(name, anything), anything, odds=20) for name in names]
        if (
            "speaker" in names and "gender" in names and usually(draw, st.just(True), st.just(False))
        ):  # mostly one gender a speaker
            row[names.index("gender")] = SPEAKERS.get(row[names.index("speaker")], "f")
        if not usually(draw, st.just(True), st.just(False), odds=20):  # a field too many or too few
            row = row[:-1] if row and draw(st.booleans()) else [*row, draw(anything)]
        rows.append(row)
    if rows and not usually(draw, st.just(True), st.just(False), odds=4):  # repeated rows
        rows += draw(st.lists(st.sampled_from(rows), min_size=1, max_size=3))
    newline = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    buffer = io.StringIO()
    quoting = draw(st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL]))
    writer = csv.writer(buffer, lineterminator=newline, quoting=quoting)
    for line in [columns, *rows]:
        writer.writerow(line)
    text = buffer.getvalue()
    if not usually(
        draw, st.just(True), st.just(False), odds=8
    ):  # hand-written damage: stray quotes, blank lines, NUL, a BOM inside
        text = draw(st.sampled_from(['"', "\n\n", ",,", "\x00", "\ufeff"])).join(text.split(",", 2))
    encoding = usually(
        draw, st.sampled_from(["utf-8", "utf-8-sig"]), st.sampled_from(["utf-16", "latin-1", "cp1252"]), odds=8
    )
    raw = text.encode(str(encoding), errors="replace")
    if not usually(draw, st.just(True), st.just(False), odds=10):  # raw bytes spliced in
        at = draw(st.integers(0, len(raw)))
        raw = raw[:at] + draw(st.binary(max_size=16)) + raw[at:]
    return raw


def load_or_refuse(manifest: Path, strict_warnings: bool) -> Corpus | PrivacyInputError:
    with warnings.catch_warnings():
        warnings.simplefilter("error" if strict_warnings else "ignore", ManifestWarning)
        try:
            return load_manifest(manifest)
        except PrivacyInputError as exc:
            return exc


@settings(max_examples=200, deadline=timedelta(seconds=5), suppress_health_check=[HealthCheck.too_slow])
@given(raw=manifest_bytes(), strict_warnings=st.booleans())
def test_generated_manifests_load_or_are_usage_errors(world: Path, raw: bytes, strict_warnings: bool):
    manifest = world / "m.csv"
    manifest.write_bytes(raw)
    with within(10):  # a FIFO must never be opened: the deadline alone cannot stop a blocked open
        outcome = load_or_refuse(manifest, strict_warnings)  # any other exception fails the test
    if isinstance(outcome, PrivacyInputError):
        message = str(outcome)
        event(re.sub(r"^\S*?(:\d+)?: |'.*?'|\(.*?\)|\d+|/\S*", "", message.replace(str(world), ""))[:50])
        assert message.strip() and "Traceback" not in message
        assert str(manifest) in message or message.startswith("--privacy-data: manifest")
    else:
        event("loaded")
        assert len(outcome) >= 1 and all(Path(u.path).is_file() for u in outcome.utterances)
        for u in outcome.utterances:  # every loaded row is a real, readable clip
            assert u.gender in ("female", "male")
        genders: dict[str, str] = {}
        assert all(genders.setdefault(u.speaker, u.gender) == u.gender for u in outcome.utterances)


valid_row = st.tuples(st.sampled_from(GOOD[:6]), st.sampled_from(list(SPEAKERS)), st.sampled_from(["", "happy"]))


@settings(max_examples=40, deadline=timedelta(seconds=5))
@given(
    rows=st.lists(valid_row, min_size=1, max_size=6, unique_by=lambda r: r[0]),
    encoding=st.sampled_from(["utf-8", "utf-8-sig"]),
    newline=st.sampled_from(["\n", "\r\n", "\r"]),
)
def test_valid_manifests_load_in_any_line_end_and_with_or_without_bom(world, rows, encoding, newline):
    gender_of = SPEAKERS
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator=newline)
    writer.writerow(["path", "speaker", "gender", "emotion"])
    writer.writerows([(path, speaker, gender_of[speaker], emotion) for path, speaker, emotion in rows])
    manifest = world / "valid.csv"
    manifest.write_bytes(buffer.getvalue().encode(encoding))
    corpus = load_manifest(manifest)
    assert [(u.id, u.speaker, u.emotion or "") for u in corpus.utterances] == list(rows)
    assert [u.gender[0] for u in corpus.utterances] == [gender_of[s][0].lower() for _, s, _ in rows]


BAD_ROWS = {  # kind -> (the bad row's cells, words its error must hold)
    "symlink loop": (["loop", "s1", "f"], "is a symbolic link loop"),
    "fifo": (["pipe.wav", "s2", "m"], "is not a regular file"),
    "outside, not audio": (["../outside/passwd", "s3", "Female"], "lies outside the manifest's folder"),
    "two genders": (["wav/g3.wav", "s1", "m"], "speaker 's1' is male here but female on line"),
    "not utf-8": (["wav/g3.wav", "José", "m"], "is not UTF-8 text"),
    "folder": (["dir", "s2", "m"], "is a folder"),
    "empty file": (["empty.wav", "s2", "m"], "is empty (0 bytes)"),
}


@st.composite
def bad_manifest(draw) -> tuple[bytes, int, str]:
    """Good rows with one bad row among them: (the manifest, the bad row's line, the words)."""
    good = draw(st.lists(st.sampled_from(GOOD[:6]), min_size=1, max_size=4, unique=True))
    rows = [[path, "s1" if i % 2 == 0 else "s2", "f" if i % 2 == 0 else "m"] for i, path in enumerate(good)]
    kind = draw(st.sampled_from(sorted(BAD_ROWS)))
    bad, words = BAD_ROWS[kind]
    at = draw(st.integers(0, len(rows)))
    rows.insert(at, bad)
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    lines = [",".join(["path", "speaker", "gender"]).encode()]
    for row in rows:
        text = ",".join(f'"{c}"' if "," in c else c for c in row)
        lines.append(text.encode("latin-1" if kind == "not utf-8" and row is bad else "utf-8"))
    bom = b"\xef\xbb\xbf" if draw(st.booleans()) else b""
    return bom + newline.encode().join(lines) + newline.encode(), at + 2, words


@settings(
    max_examples=3,
    deadline=None,
    database=None,
    phases=[Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@seed(13)
@given(case=bad_manifest())
def test_generated_bad_manifests_through_pytest_are_usage_errors_naming_the_line(audit_project, pytester, case):
    raw, line, words = case
    if not (pytester.path / "data").exists():
        make_world(pytester.path)
    (pytester.path / "data" / "m.csv").write_bytes(raw)
    result = audit_project("-k", "classifier.4", data="data/m.csv")
    output = result.stdout.str() + result.stderr.str()
    assert result.ret in (0, 1, 4), output  # never 3 (internal error) or 2 (interrupted)
    assert "Traceback" not in output and "INTERNALERROR" not in output
    assert result.ret == pytest.ExitCode.USAGE_ERROR, output
    assert f"m.csv:{line}: " in output and words in output, output
