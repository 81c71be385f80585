"""Report rendering from a report.json's dict alone: the matrix, failures and the plots' anatomy."""

from __future__ import annotations

import pytest

from privacy_checks.reporting.markdown import markdown
from privacy_checks.reporting.plots import emotions_figure, layers_figure
from privacy_checks.reporting.report import AuditReport
from privacy_checks.reporting.tables import matrix


def group(name, leakage):
    return {
        "group": name,
        "leakage": leakage,
        "chance": 0.5,
        "ci_low": leakage - 0.1,
        "ci_high": min(1, leakage + 0.1),
        "n_utterances": 20,
        "n_speakers": 10,
        "excess": leakage - 0.5,
    }


def row(layer, leakage, status, scenario="worst_case", head="tail_clone", max_excess=0.1):
    return {
        "id": f"{scenario}[generic-{head}-{layer}]",
        "scenario": scenario,
        "attacker": "generic",
        "access": "encoder",
        "architecture": head,
        "head": head,
        "layer": layer,
        "leakage": leakage,
        "chance": 0.5,
        "excess": leakage - 0.5,
        "ci_low": leakage - 0.05,
        "ci_high": leakage + 0.05,
        "p_value": 0.001,
        "fold_mean": leakage,
        "fold_std": 0.02,
        "n_utterances": 80,
        "n_speakers": 20,
        "max_excess": max_excess,
        "rule": "ci_low",
        "limit_key": "limits.max_excess",
        "status": status,
        "reason": None,
        "control": None,
        "baseline": None,
        "breakdowns": {
            "emotion": {
                "groups": [group(e, leakage) for e in ("angry", "happy")],
                "comparison": {"groups": ["angry", "happy"], "statistic": 0.0, "p_value": 1.0, "method": "chi2"},
            }
        },
    }


@pytest.fixture
def report():
    results = [
        row("conv1", 0.95, "failed"),
        row("pool", 0.55, "passed"),
        row("conv1", 0.70, "failed", "scenario_2", "vgg19_style"),
        row("pool", 0.52, "passed", "scenario_2", "vgg19_style"),
    ]
    exposure = {
        r["layer"]: {k: r[k] for k in ("id", "leakage", "chance", "excess", "ci_low", "ci_high", "status")}
        for r in results[:2]
    }
    return {
        "schema_version": 1,
        "attribute": "gender",
        "model": {"path": "/m/model.pt", "architecture": "small_vgg", "sha256": "a" * 64},
        "corpus": {"name": "synthetic", "utterances": 80, "speakers": 20},
        "aux_corpus": None,
        "settings": {},
        "results": results,
        "safe_split_points": {"worst_case/generic/encoder/tail_clone": "pool"},
        "exposure": exposure,
    }


def test_report_json_reads_back_unchanged(report):
    assert AuditReport.from_dict(report).as_dict() == report


def test_matrix_rows_are_layers_and_columns_attacks(report):
    header, rows = matrix(AuditReport.from_dict(report))
    assert header == ["layer", "worst_case · generic · tail_clone", "scenario_2 · generic · vgg19_style"]
    assert rows == [["conv1", "0.95 **FAIL**", "0.70 **FAIL**"], ["pool", "0.55 pass", "0.52 pass"]]


def test_markdown_starts_with_the_verdict_and_explains_failures(report):
    md = markdown(AuditReport.from_dict(report))
    assert md.splitlines()[0] == "## Privacy audit: FAIL"
    assert "**2 failed**, 2 passed" in md
    assert "`worst_case[generic-tail_clone-conv1]`: L = 0.950 [0.900, 1.000], chance 0.500, excess +0.450" in md
    assert "| worst_case · generic · encoder · tail_clone | pool |" in md


def test_layer_plot_has_labelled_axes_bands_chance_and_limit_lines(report):
    fig = layers_figure(AuditReport.from_dict(report).results)
    assert len(fig.axes) == 2  # one panel per scenario
    for ax, scenario in zip(fig.axes, ("worst_case", "scenario_2")):
        assert ax.get_title() == scenario and "leakage" in ax.get_ylabel()
        labels = [line.get_label() for line in ax.get_lines()]
        assert "chance" in labels and "limit (chance + max_excess)" in labels
        chance = ax.get_lines()[labels.index("chance")]
        assert list(chance.get_ydata()) == [0.5, 0.5]
        limit = ax.get_lines()[labels.index("limit (chance + max_excess)")]
        assert list(limit.get_ydata()) == pytest.approx([0.6, 0.6])
        assert ax.collections  # the CI bands
        assert [t.get_text() for t in ax.get_xticklabels()] == ["conv1", "pool"]
    assert fig.axes[-1].get_xlabel() == "intercepted layer (forward order)"


def test_emotion_plot_at_the_most_exposed_layer(report):
    fig = emotions_figure(AuditReport.from_dict(report))
    ax = fig.axes[0]
    assert ax.get_title() == "leakage per emotion at conv1"
    assert ax.get_xlabel() == "emotion" and "leakage" in ax.get_ylabel()
    assert [t.get_text() for t in ax.get_xticklabels()] == ["angry", "happy"]
    assert {"chance", "limit"} <= {line.get_label() for line in ax.get_lines()}


def test_summary_names_each_error_and_folds_an_attack_that_raised_everywhere(report):
    """An attack whose every item is the same error (an attacker that raised) is one line with the
    reason, as a skipped attack is; an error among measured layers is listed under its table."""
    raised = "the 'broken' attacker (broken head, encoder access) raised RuntimeError: my head is broken"
    for layer in ("conv1", "pool"):
        error = row(layer, 0.5, "error", "broken", "broken")
        error.update(dict.fromkeys(("leakage", "chance", "excess", "ci_low", "ci_high", "p_value")), reason=raised)
        report["results"].append(error)
    report["results"][1].update(dict.fromkeys(("leakage", "chance", "excess", "ci_low", "ci_high", "p_value")))
    report["results"][1].update(status="error", reason="layer 'pool' cannot be read: NaN")
    report["corpus"].update(female_speakers=10, male_speakers=10, folds=5)
    lines = AuditReport.from_dict(report).lines()
    assert "broken (custom attacker) · generic attacker · broken · encoder access: ERROR — " + raised in lines
    assert "ERROR at pool: layer 'pool' cannot be read: NaN" in lines
    assert lines[-1] == "verdict: ERROR — 2 failed, 1 passed, 0 inconclusive, 0 skipped, 3 errors"


def test_coverage_reads_back_and_missing_items_make_the_verdict_incomplete(report):
    planned = [r["id"] for r in report["results"]] + ["worst_case[generic-tail_clone-fc]"]
    report["coverage"] = {
        "planned": planned,
        "selected": planned,
        "missing": planned[-1:],
        "merged_from": ["shard-1", "shard-2"],
    }
    read = AuditReport.from_dict(report)
    assert read.as_dict() == report
    assert read.tally.overall == "INCOMPLETE" and read.tally.phrase().endswith(", 1 missing")
    assert not read.tally.green
    read.corpus.update(female_speakers=10, male_speakers=10, folds=5)
    assert "missing: 1 items of the audit are in no shard's report: worst_case[generic-tail_clone-fc]" in read.lines()
    assert read.lines()[-1].startswith("verdict: INCOMPLETE — 2 failed, 2 passed")


@pytest.mark.parametrize(
    ("stand_in_layers", "expected"),
    [
        (("pool",), "(linear_probe where T has no tail: pool)"),
        (("conv1", "pool"), "(linear_probe at every layer: T's tail cannot be rebuilt from any of them)"),
    ],
)
def test_the_attack_title_names_where_a_linear_probe_stands_in_for_the_tail_clone(report, stand_in_layers, expected):
    for result in report["results"]:
        if result["head"] == "tail_clone" and result["layer"] in stand_in_layers:
            result["architecture"] = "linear_probe"
            result["id"] = f"worst_case[generic-linear_probe-{result['layer']}]"
    report["corpus"].update(female_speakers=10, male_speakers=10, folds=5)
    lines = AuditReport.from_dict(report).lines()
    title = next(line for line in lines if line.startswith("worst_case ("))
    assert title.endswith("· tail_clone · encoder access " + expected), title
