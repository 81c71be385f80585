"""The corpus registry: prefixes dispatch to loaders, a wrong prefix gets a did-you-mean, and a
corpus registered from outside the package loads through load_corpus like a built-in one."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from privacy_checks.data import (
    Corpus,
    Utterance,
    load_corpus,
    parse_options,
    register_corpus,
    unregister_corpus,
)
from privacy_checks.data.registry import registered_corpora, spec_help
from privacy_checks.errors import PrivacyInputError

BUILT_IN_HELP = (
    "`synthetic`, `synthetic:key=value,...`, `iemocap:DIR[,merge_excitement=true]`, `ravdess:DIR` "
    "or the path to a manifest .csv"
)


def tiny_corpus(name: str, speakers: int) -> Corpus:
    utterances = tuple(
        Utterance(id=f"{name}-{s}", speaker=f"spk{s}", gender=("female", "male")[s % 2]) for s in range(speakers)
    )
    return Corpus(
        name=name,
        utterances=utterances,
        fingerprint=f"{name}-{speakers}",
        read_audio=lambda utterance, rate: np.zeros(rate, dtype=np.float32),
    )


@pytest.fixture
def toy_corpus() -> Iterator[list[tuple[str, Path, str]]]:
    """Registers `toy:name,speakers=N` for one test; records every call the loader gets."""
    calls: list[tuple[str, Path, str]] = []

    def load_toy(argument: str, base_dir: Path, option: str) -> Corpus:
        calls.append((argument, base_dir, option))
        name, _, extra = argument.partition(",")
        options = parse_options(extra, f"{option} toy")
        return tiny_corpus(name, int(options.get("speakers", "2")))

    register_corpus("toy", load_toy, help="`toy:NAME[,speakers=N]`")
    yield calls
    unregister_corpus("toy")


def test_built_in_corpora_are_registered_in_order():
    assert registered_corpora()[:4] == ("synthetic", "iemocap", "ravdess", "manifest")
    assert spec_help() == BUILT_IN_HELP


def test_custom_corpus_loads_through_load_corpus(toy_corpus, tmp_path: Path):
    corpus = load_corpus("  toy:demo,speakers=4 ", tmp_path, option="--privacy-aux-data")
    assert toy_corpus == [("demo,speakers=4", tmp_path, "--privacy-aux-data")]
    assert corpus.name == "demo" and len(corpus) == 4 and corpus.speaker_count("female") == 2
    assert load_corpus("toy", tmp_path).name == ""  # the bare prefix: an empty argument
    assert toy_corpus[-1] == ("", tmp_path, "--privacy-data")


def test_custom_corpus_is_listed_in_the_unknown_spec_message(toy_corpus, tmp_path: Path):
    with pytest.raises(PrivacyInputError) as info:
        load_corpus("tyo:demo", tmp_path)
    assert str(info.value) == (
        "--privacy-data 'tyo:demo': unknown corpus spec (did you mean 'toy'?); "
        f"use {BUILT_IN_HELP.replace(' or ', ', ')} or `toy:NAME[,speakers=N]`."
    )


def test_unregistered_corpus_is_unknown_again(tmp_path: Path):
    register_corpus("toy", lambda argument, base_dir, option: tiny_corpus(argument, 2), help="`toy:NAME`")
    assert load_corpus("toy:x", tmp_path).name == "x"
    unregister_corpus("toy")
    assert "toy" not in registered_corpora()
    with pytest.raises(PrivacyInputError, match="unknown corpus spec"):
        load_corpus("toy:x", tmp_path)


@pytest.mark.parametrize(
    ("spec", "suggestion"),
    [
        ("syntetic", "synthetic"),
        ("synthetik:speakers=4", "synthetic"),
        ("iemocab:/data/iemocap", "iemocap"),
        ("ravdes:/data", "ravdess"),
        ("manifst:corpus", "manifest"),  # (a `.csv` spec would be read as a manifest path)
    ],
)
def test_misspelt_prefix_gets_a_did_you_mean(tmp_path: Path, spec: str, suggestion: str):
    with pytest.raises(PrivacyInputError) as info:
        load_corpus(spec, tmp_path)
    assert str(info.value) == (
        f"--privacy-data {spec!r}: unknown corpus spec (did you mean {suggestion!r}?); use {BUILT_IN_HELP}."
    )


@pytest.mark.parametrize("spec", ["librispeech:/x", "data/manifest.tsv", "/data/ravdess", "xyz"])
def test_no_did_you_mean_without_a_close_prefix(tmp_path: Path, spec: str):
    with pytest.raises(PrivacyInputError) as info:
        load_corpus(spec, tmp_path)
    assert str(info.value) == f"--privacy-data {spec!r}: unknown corpus spec; use {BUILT_IN_HELP}."


def test_csv_paths_and_the_manifest_prefix_reach_the_manifest_loader(tmp_path: Path):
    for spec in ("none.csv", "manifest:none.csv", "sub/NONE.CSV"):
        with pytest.raises(PrivacyInputError, match=r"does not exist; give the path to a CSV file"):
            load_corpus(spec, tmp_path)
    with pytest.raises(PrivacyInputError) as info:
        load_corpus("manifest:", tmp_path)
    assert str(info.value) == "--privacy-data manifest:: give the path to a manifest .csv."
    with pytest.raises(PrivacyInputError, match=r"^--privacy-aux-data: manifest .*none.csv does not exist"):
        load_corpus("none.csv", tmp_path, option="--privacy-aux-data")  # the option the user gave


@pytest.mark.parametrize("prefix", ["", "x", "C", "1abc", "a:b", "with space"])
def test_register_rejects_a_malformed_prefix(prefix: str):
    with pytest.raises(ValueError, match="must be a letter then"):
        register_corpus(prefix, lambda argument, base_dir, option: tiny_corpus("x", 2), help="-")


def test_register_rejects_a_taken_prefix():
    with pytest.raises(ValueError, match="'synthetic' is already registered"):
        register_corpus("synthetic", lambda argument, base_dir, option: tiny_corpus("x", 2), help="-")


def test_audio_file_of_generated_audio_is_an_input_error():
    assert Utterance(id="a", speaker="s", gender="male", path="/x/a.wav").audio_file() == Path("/x/a.wav")
    with pytest.raises(PrivacyInputError, match="'a' has no audio file"):
        Utterance(id="a", speaker="s", gender="male").audio_file()
