"""An audit split over CI jobs by pytest-split, and `privacy-checks report --merge DIR...`: the merged
report of two shards equals the unsharded run's; a missing shard is INCOMPLETE (exit 4, never 0);
shards of different audits, one item with two results or a folder without report.json are refused."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import pytest

from privacy_checks.cli import main
from privacy_checks.engine.baseline import baseline_dict
from privacy_checks.fileio import strict_json
from tests.conftest import FAST_CONFIG, SharedRun

needs_split = pytest.mark.skipif(
    importlib.util.find_spec("pytest_split") is None, reason="pytest-split is not installed (the test extra)"
)

# Two attacks (one per scenario) at two layers each: 4 items, so each of 2 shards holds one attack.
# 4 epochs, not 10: the attackers' training (mostly the controls') is most of a run, and every item
# still leaks (the convex probe's reading decides each, as at 10 epochs).
SHARD_CONFIG = FAST_CONFIG.replace(
    "  scenarios: [worst_case]\n", "  scenarios: [worst_case, scenario_2]\n  layers: [pool, classifier.2]\n"
).replace("  epochs: 10\n", "  epochs: 4\n")
assert "epochs: 4" in SHARD_CONFIG
WORST = ["worst_case[generic-tail_clone-pool]", "worst_case[generic-tail_clone-classifier.2]"]
SCENARIO_2 = ["scenario_2[generic-vgg19_style-pool]", "scenario_2[generic-vgg19_style-classifier.2]"]


def _unsharded(shared_audit) -> SharedRun:
    return shared_audit("--privacy-report", "out", config=SHARD_CONFIG)


def _shard(shared_audit, group: int, splits: int = 2) -> SharedRun:
    args = ("--splits", str(splits), "--group", str(group), "--privacy-report", "out")
    return shared_audit(*args, config=SHARD_CONFIG)


def _report(folder: Path) -> dict:
    return json.loads((folder / "report.json").read_text())


def _merge(capsys, *args: str | Path) -> tuple[int, str, str]:
    code = main(["report", "--merge", *map(str, args)])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def _edited(source: Path, to: Path, edit) -> Path:
    """A copy of a shard's report folder with its report.json changed by `edit(data)`."""
    shutil.copytree(source, to)
    data = _report(to)
    edit(data)
    (to / "report.json").write_text(json.dumps(data))
    return to


@needs_split
@pytest.mark.xdist_group("audit-shards")
def test_each_shard_runs_one_attack_and_records_its_coverage(shared_audit):
    for group, items in ((1, WORST), (2, SCENARIO_2)):
        run = _shard(shared_audit, group)
        output = run.result.stdout.str() + run.result.stderr.str()
        assert run.result.ret == pytest.ExitCode.TESTS_FAILED, output  # exits by its own items: they leak
        assert "Traceback" not in output and "INTERNALERROR" not in output
        report = _report(run.path / "out")
        assert [row["id"] for row in report["results"]] == items
        assert report["coverage"]["planned"] == WORST + SCENARIO_2  # the whole audit, in every shard
        assert report["coverage"]["selected"] == items and report["coverage"]["missing"] == []


@needs_split
@pytest.mark.xdist_group("audit-shards")
def test_merged_shards_equal_the_unsharded_run(shared_audit, tmp_path, capsys):
    full = _unsharded(shared_audit)
    assert full.result.ret == pytest.ExitCode.TESTS_FAILED
    shards = [_shard(shared_audit, group).path / "out" for group in (1, 2)]
    code, out, _ = _merge(capsys, *shards, "--out", tmp_path / "merged", "--save-baseline", tmp_path / "b.json")
    assert code == 1  # FAIL, as the unsharded run's exit code
    merged, unsharded = _report(tmp_path / "merged"), _report(full.path / "out")
    assert merged["results"] == unsharded["results"]  # every row, figure for figure (rows carry no timings)
    for key in ("model", "corpus", "settings", "safe_split_points", "exposure"):
        if key == "model" or key == "settings":  # the paths of the model and thresholds.yaml differ
            merged[key].pop("path" if key == "model" else "config_file")
            unsharded[key].pop("path" if key == "model" else "config_file")
        assert merged[key] == unsharded[key], key
    assert merged["coverage"]["missing"] == [] and merged["coverage"]["merged_from"] == [str(s) for s in shards]
    assert "merged 2 shard reports: 4 of the audit's 4 items" in out and "verdict: FAIL — 4 failed, 0 passed" in out
    assert (tmp_path / "merged" / "report.md").read_text().startswith("## Privacy audit: FAIL")
    assert sorted(p.name for p in (tmp_path / "merged").iterdir()) == sorted(
        p.name for p in (full.path / "out").iterdir()
    )
    baseline = json.loads((tmp_path / "b.json").read_text())
    assert sorted(baseline["items"]) == sorted(WORST + SCENARIO_2)
    assert baseline == json.loads(strict_json(baseline_dict(_report(full.path / "out"))))  # the unsharded run's


@needs_split
@pytest.mark.xdist_group("audit-shards")
def test_a_missing_shard_is_incomplete_never_a_pass(shared_audit, tmp_path, capsys):
    # Even a shard whose every item passed: the items of the shard not passed make it exit 4, not 0.
    def all_passed(data):
        for row in data["results"]:
            row["status"] = "passed"

    passing = _edited(_shard(shared_audit, 1).path / "out", tmp_path / "shard-1", all_passed)
    code, out, err = _merge(capsys, passing, "--out", tmp_path / "merged", "--save-baseline", tmp_path / "b.json")
    assert code == 4
    assert "INCOMPLETE" in err and "2 of its 4 items are in no shard's report" in err
    assert all(item in err for item in SCENARIO_2) and "pass every shard's --privacy-report folder" in err
    assert "No baseline was written" in err and not (tmp_path / "b.json").exists()
    assert "verdict: INCOMPLETE — 0 failed, 2 passed, 0 inconclusive, 0 skipped, 2 missing" in out
    report = _report(tmp_path / "merged")
    assert report["coverage"]["missing"] == SCENARIO_2
    md = (tmp_path / "merged" / "report.md").read_text()
    assert md.startswith("## Privacy audit: INCOMPLETE") and f"- `{SCENARIO_2[0]}`" in md


@needs_split
@pytest.mark.xdist_group("audit-shards")
def test_a_shard_that_stopped_early_is_named(shared_audit, tmp_path, capsys):
    stopped = _edited(_shard(shared_audit, 2).path / "out", tmp_path / "shard-2", lambda d: d["results"].pop())
    code, _, err = _merge(capsys, _shard(shared_audit, 1).path / "out", stopped, "--out", tmp_path / "merged")
    assert code == 4
    assert f"1 selected by {stopped} but not in its report ({SCENARIO_2[1]})" in err and "re-run it" in err


@needs_split
@pytest.mark.xdist_group("audit-shards")
@pytest.mark.parametrize(
    ("section", "key", "value", "shown"),
    [
        ("settings", "audit", {"seed": 1}, "settings.audit.seed differs (0 vs 1)"),
        ("settings", "audit", {"budget": "standard"}, 'settings.audit.budget differs ("quick" vs "standard")'),
        ("model", "sha256", "0" * 64, "model.sha256 differs"),
        ("corpus", "fingerprint", "f" * 64, "corpus.fingerprint differs"),
    ],
)
def test_shards_of_different_audits_are_refused(shared_audit, tmp_path, capsys, section, key, value, shown):
    def change(data):
        if isinstance(value, dict):
            data[section][key].update(value)
        else:
            data[section][key] = value

    other = _edited(_shard(shared_audit, 2).path / "out", tmp_path / "other", change)
    code, _, err = _merge(capsys, _shard(shared_audit, 1).path / "out", other, "--out", tmp_path / "merged")
    assert code == 4
    assert f"--merge {other}: a shard of another audit than" in err and shown in err
    assert "Merge only the shards of one run" in err
    assert not (tmp_path / "merged").exists()


@needs_split
@pytest.mark.xdist_group("audit-shards")
def test_one_item_with_two_results_is_refused(shared_audit, tmp_path, capsys):
    shard = _shard(shared_audit, 1).path / "out"
    again = _edited(shard, tmp_path / "again", lambda d: d["results"][0].update(leakage=0.5))
    code, _, err = _merge(capsys, shard, again, "--out", tmp_path / "merged")
    assert code == 4
    assert f"item {WORST[0]} is in {shard} and {again} with different results" in err
    assert "row.leakage differs" in err and "Re-run them from one commit" in err


@needs_split
def test_a_shard_left_without_items_exits_0_and_writes_its_coverage(audit_project, pytester):
    pytester.makefile(".yaml", thresholds=SHARD_CONFIG)
    # 4 items in 3 chunks of pytest-split: the attacks go to the shards holding their first items
    result = audit_project("--splits", "3", "--group", "3", "--privacy-report", "out")
    output = result.stdout.str() + result.stderr.str()
    assert result.ret == pytest.ExitCode.OK, output
    assert "Traceback" not in output
    report = _report(pytester.path / "out")
    assert report["results"] == [] and report["coverage"]["selected"] == []
    assert report["coverage"]["planned"] == WORST + SCENARIO_2


@needs_split
@pytest.mark.parametrize("algorithm", ["duration_based_chunks", "least_duration"])
def test_every_attack_is_in_exactly_one_shard(audit_project, pytester, algorithm):
    """All layers of the demo (20 items, 2 attacks) in 3 shards: pytest-split cuts inside attacks;
    each item runs in one shard, and each attack in one shard."""
    shards = []
    for group in (1, 2, 3):
        args = ("--privacy-scenarios", "worst_case,scenario_2", "--collect-only", "-q")
        result = audit_project(*args, "--splits", "3", "--group", str(group), "--splitting-algorithm", algorithm)
        assert result.ret in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED), result.stdout.str()
        shards.append([line.split("::", 1)[1] for line in result.stdout.lines if "::" in line])
        if len(shards[-1]) < 20:  # pytest's count: what this shard does not run, items moved back in included
            assert f"({20 - len(shards[-1])} deselected)" in result.stdout.lines[-1]
    every = [item for shard in shards for item in shard]
    assert len(every) == len(set(every)) == 20
    attacks = [{item.split("[")[0] for item in shard} for shard in shards]
    assert sum(len(a) for a in attacks) == 2  # worst_case and scenario_2, each in one shard


def test_a_folder_without_report_json_is_a_usage_error(tmp_path, capsys):
    (tmp_path / "shard-2").mkdir()
    code, _, err = _merge(capsys, tmp_path / "shard-2", tmp_path / "nowhere", "--out", tmp_path / "merged")
    assert code == 4
    assert f"--merge {tmp_path / 'shard-2'}: no report.json in" in err
    assert "pass the folder each shard wrote with --privacy-report DIR" in err and "download" in err
    (tmp_path / "notes.md").write_text("not a report")
    code, _, err = _merge(capsys, tmp_path / "notes.md", "--out", tmp_path / "merged")
    assert code == 4 and "notes.md is a file, not a report folder" in err
    assert not (tmp_path / "merged").exists()


def test_a_report_without_coverage_is_a_usage_error(tmp_path, capsys):
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "report.json").write_text(
        json.dumps(
            {
                "schema_version": 1,
                "model": {},
                "corpus": {},
                "aux_corpus": None,
                "settings": {},
                "results": [],
                "safe_split_points": {},
            }
        )
    )
    code, _, err = _merge(capsys, tmp_path / "old", "--out", tmp_path / "merged")
    assert code == 4 and "does not record which items it covered" in err and "re-run that shard" in err


def test_merge_needs_folders_or_a_report(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["report"])
    assert exc.value.code == 2 and "--merge DIR" in capsys.readouterr().err


@needs_split
@pytest.mark.xdist_group("audit-shards")
def test_out_that_is_a_shard_folder_is_refused(shared_audit, tmp_path, capsys):
    shard = _edited(_shard(shared_audit, 1).path / "out", tmp_path / "shard-1", lambda d: None)
    code, _, err = _merge(capsys, shard, "--out", shard)
    assert code == 4 and f"--out {shard}: is one of the shards' folders" in err and "pass a new folder" in err
    assert _report(shard)["coverage"]["merged_from"] == []  # the shard's report is untouched
