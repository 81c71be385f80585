"""--privacy-data SPEC: the synthetic corpus and manifest corpora, and their usage errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile

from privacy_checks.data.synthetic import SyntheticParams, synthesize_utterance
from tests.conftest import FAST_CONFIG, NULL_DATA, NULL_RUN

NULL = NULL_DATA  # synthetic:speakers=20,utterances=4,duration=1.0,gender_effect=0


@pytest.mark.xdist_group("audit-null")
def test_null_corpus_is_inconclusive_not_green_and_fails_no_layer(shared_audit):
    """Issue 12: gender leaves no trace in this audio, so the positive control has no power and no
    pass may be claimed: the verdict is INCONCLUSIVE, the run exits 1, and no item is `failed`."""
    run = shared_audit(*NULL_RUN, data=NULL)  # --privacy-report out (tests/test_acceptance.py reads it too)
    result = run.result
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    rows = json.loads((run.path / "out" / "report.json").read_text())["results"]
    assert len(rows) == 10 and {row["status"] for row in rows} == {"inconclusive"}
    for row in rows:  # both attackers of each item found nothing even where gender would be
        assert row["reason"].startswith("no power: the "), row["reason"]
        assert "on T's input features reaches only" in row["reason"]
        assert "the convex_probe on log-mel statistics of the audio reaches only" in row["reason"]
    out = result.stdout.str()
    assert "verdict: INCONCLUSIVE — 0 failed, 0 passed, 10 inconclusive, 0 skipped" in out
    assert "decision rule: interval (limits.rule)" in out
    result.stdout.fnmatch_lines(["INCONCLUSIVE at layer features.2: *", "  why: no power: *"])
    assert (run.path / "out" / "report.md").read_text().startswith("## Privacy audit: INCONCLUSIVE")


def test_null_corpus_with_fail_on_inconclusive_false_skips_and_still_says_inconclusive(audit_project, pytester):
    pytester.makefile(".yaml", thresholds=FAST_CONFIG + "controls:\n  fail_on_inconclusive: false\n")
    # Two layers, not all ten: what is asserted is that every item run is skipped, not failed, and
    # still counted inconclusive (the test above has every layer inconclusive on this corpus).
    result = audit_project("-rs", "-k", "pool or classifier.1", data=NULL)
    assert result.ret == pytest.ExitCode.OK
    result.assert_outcomes(skipped=2)
    out = result.stdout.str()
    assert "inconclusive: no power: the " in out
    assert "the convex_probe on log-mel statistics of the audio reaches only" in out
    assert "(controls.fail_on_inconclusive is false)" in out
    assert "verdict: INCONCLUSIVE — 0 failed, 0 passed, 2 inconclusive, 0 skipped" in out


def write_manifest(
    folder, speakers, *, genders=None, header="path,speaker,gender,emotion", utterances=2, extra_rows=()
):
    """Real WAVs rendered by the synthesiser, listed in a manifest CSV."""
    params = SyntheticParams(speakers=len(speakers), utterances=utterances, duration=1.0)
    rows = [header]
    (folder / "wav").mkdir(exist_ok=True)
    for s, speaker in enumerate(speakers):
        gender = (genders or ["female", "male"] * len(speakers))[s]
        for u in range(utterances):
            name = f"wav/{speaker}_{u}.wav"
            soundfile.write(folder / name, synthesize_utterance(params, s * utterances + u), 16000)
            rows.append(f"{name},{speaker},{gender},neutral")
    rows.extend(extra_rows)
    (folder / "corpus.csv").write_text("\n".join(rows) + "\n")
    return folder / "corpus.csv"


def test_manifest_corpus_is_audited(audit_project, pytester):
    write_manifest(pytester.path, [f"spk{i}" for i in range(10)])
    result = audit_project("-k", "classifier.4", "--privacy-report", "out", data="corpus.csv")
    # a verdict on 10 speakers' 20 clips (a straddling interval is inconclusive there): measured, not crashed
    assert result.ret in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED)
    assert "corpus.csv: 20 utterances, 10 speakers (5 female / 5 male)" in result.stdout.str()
    [row] = json.loads((pytester.path / "out" / "report.json").read_text())["results"]
    assert (row["n_utterances"], row["n_speakers"]) == (20, 10)
    assert row["status"] in ("passed", "inconclusive") and row["leakage"] is not None


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"header": "path,speaker"}, "missing column(s) gender"),
        ({"extra_rows": ["wav/nowhere.wav,spk9,male,neutral"]}, "audio file wav/nowhere.wav not found"),
        ({"genders": ["female"] * 10}, "corpus.csv: the corpus has only female speakers"),
        # spk0's 8th row, which the quick budget's cap (6 per speaker) would drop (issue 13)
        (
            {"extra_rows": ["wav/spk2_0.wav,spk0,female,neutral"] * 5 + ["wav/spk2_1.wav,spk0,male,neutral"]},
            "corpus.csv:27: speaker 'spk0' is male here but female on line 2",
        ),
    ],
    ids=["missing-column", "missing-audio", "one-gender", "speaker-with-two-genders"],
)
def test_bad_manifest_is_a_usage_error(audit_project, pytester, kwargs, message):
    write_manifest(pytester.path, [f"spk{i}" for i in range(10)], **kwargs)
    result = audit_project(data="corpus.csv")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    err = result.stderr.str()
    assert message in err, err
    assert "Traceback" not in err + result.stdout.str() and "INTERNALERROR" not in err + result.stdout.str()


def test_fewer_speakers_than_folds(audit_project, pytester):
    write_manifest(pytester.path, ["a", "b", "c", "d"])
    pytester.makefile(".yaml", thresholds=FAST_CONFIG.replace("folds: 3", "folds: 5"))  # the default's 5
    result = audit_project(data="corpus.csv")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "4 speakers but folds=5" in result.stderr.str()


@pytest.mark.parametrize(
    "audio, message", [(np.zeros(0), "is empty"), (np.zeros(16000), "is silent")], ids=["empty", "silent"]
)
def test_unusable_audio_is_a_usage_error_naming_the_file(audit_project, pytester, audio, message):
    manifest = write_manifest(pytester.path, [f"spk{i}" for i in range(10)])
    soundfile.write(pytester.path / "wav" / "spk3_1.wav", audio.astype(np.float32), 16000)
    before = manifest.read_bytes()
    result = audit_project("-k", "classifier.4", data="corpus.csv")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    err = result.stderr.str()
    assert "spk3_1.wav" in err and message in err
    assert manifest.read_bytes() == before  # nothing the user owns is modified


def test_unknown_synthetic_key_lists_valid_ones(audit_project):
    result = audit_project(data="synthetic:speekers=10")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "unknown key 'speekers'" in result.stderr.str() and "speakers" in result.stderr.str()


def test_data_option_needs_audit(pytester):
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--privacy-data", "synthetic")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "needs --privacy-audit" in result.stderr.str()
