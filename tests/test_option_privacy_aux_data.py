"""--privacy-aux-data SPEC: the scenarios whose attacker trains on another corpus (Table 1)."""

from __future__ import annotations

import json

import pytest

from tests.conftest import FAST_CONFIG

AUX = "synthetic:speakers=20,utterances=4,duration=1.0,seed=9,emotions=8"
ALL_ATTACKS = FAST_CONFIG.replace(
    "  scenarios: [worst_case]\n", "  layers: ['features.7']\n  attackers: [generic, application_aware]\n"
)


def test_every_scenario_and_attacker_kind_runs(audit_project, pytester):
    pytester.makefile(".yaml", thresholds=ALL_ATTACKS)
    result = audit_project("--privacy-aux-data", AUX, "--privacy-report", "out", "-q")
    report = json.loads((pytester.path / "out" / "report.json").read_text())
    ids = {r["id"]: r for r in report["results"]}
    expected = {
        f"{s}[{k}-{h}-features.7]"
        for k in ("generic", "application_aware")
        for s, h in (
            ("worst_case", "tail_clone"),
            ("scenario_1", "tail_clone"),
            ("scenario_2", "vgg19_style"),
            ("scenario_3", "vgg19_style"),
            ("scenario_4", "lstm"),
        )
    }
    assert set(ids) == expected
    assert all(r["status"] in ("passed", "failed", "inconclusive") for r in ids.values())
    assert report["aux_corpus"]["emotions"] == [
        "neutral",
        "calm",
        "happy",
        "sad",
        "angry",
        "fearful",
        "disgust",
        "surprised",
    ]
    # features.7 gives gender away to every attacker that trains on it, whatever it knows
    for row in ids.values():
        assert row["ci_low"] > row["chance"] and row["p_value"] < 0.05, row["id"]
    assert ids["worst_case[generic-tail_clone-features.7]"]["leakage"] >= 0.85
    # application-aware attackers report their own emotion accuracy where it is defined (target corpus)
    worst_aware = ids["worst_case[application_aware-tail_clone-features.7]"]["control"]
    assert worst_aware["input_emotion_accuracy"] is not None and worst_aware["input_emotion_accuracy"] > 0.25
    assert report["exposure"]["features.7"]["leakage"] == max(r["leakage"] for r in ids.values())
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_without_aux_corpus_its_scenarios_are_skipped_with_a_reason(audit_project, pytester):
    pytester.makefile(
        ".yaml", thresholds=ALL_ATTACKS.replace("attackers: [generic, application_aware]", "attackers: [generic]")
    )
    result = audit_project("-rs", "-k", "scenario_1 or scenario_3 or scenario_4")
    result.assert_outcomes(skipped=3)
    assert "trains the attacker on an auxiliary corpus: pass --privacy-aux-data SPEC" in result.stdout.str()


def test_aux_corpus_without_emotions_skips_only_application_aware(audit_project, pytester):
    pytester.makefile(".yaml", thresholds=ALL_ATTACKS)
    manifest = pytester.path / "aux.csv"
    import soundfile

    from privacy_checks.data.synthetic import SyntheticParams, synthesize_utterance

    params = SyntheticParams(speakers=10, utterances=2, duration=1.0, seed=11)
    rows = ["path,speaker,gender"]
    for i in range(20):
        soundfile.write(pytester.path / f"a{i}.wav", synthesize_utterance(params, i), 16000)
        rows.append(f"a{i}.wav,aux{i // 2},{'female' if (i // 2) % 2 == 0 else 'male'}")
    manifest.write_text("\n".join(rows) + "\n")
    result = audit_project("-rs", "-k", "scenario_1", "--privacy-aux-data", "aux.csv")
    outcomes = result.parseoutcomes()
    assert outcomes.get("skipped") == 1 and outcomes.get("passed", 0) + outcomes.get("failed", 0) == 1
    assert "has no emotion label for every utterance" in result.stdout.str()


def test_aux_corpus_sharing_speakers_is_a_usage_error(audit_project):
    result = audit_project("--privacy-aux-data", "synthetic:speakers=20,utterances=2,duration=1.0")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "shares speakers with the target corpus" in result.stderr.str()
