"""The report's PNG plots (matplotlib, Agg): leakage vs layer depth per scenario with CI bands,
chance and limit lines (the paper's Fig. 3), and leakage per emotion (Table 3)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from privacy_checks.engine.result_parts import GroupFigures
from privacy_checks.engine.results import ResultRow
from privacy_checks.reporting.tables import attack_label, by_attack, layer_order

if TYPE_CHECKING:  # the report is only read here; report.py imports the renderers lazily
    from privacy_checks.reporting.report import AuditReport


def plot_layers(rows: Sequence[ResultRow]) -> bytes | None:
    fig = layers_figure(rows)
    return None if fig is None else _png(fig)


def layers_figure(rows: Sequence[ResultRow]) -> Any:
    """Leakage vs layer depth, one panel per scenario: a line per attacker with its CI band, the
    chance line and the limit (chance + max_excess) line. None when nothing was measured."""
    measured = [row for row in rows if row.estimate is not None]
    if not measured:
        return None
    plt = _pyplot()
    layers = layer_order(rows)
    scenarios = list(dict.fromkeys(row.scenario for row in measured))
    fig, axes = plt.subplots(
        len(scenarios), 1, figsize=(max(6.0, 0.6 * len(layers) + 2), 3.2 * len(scenarios)), squeeze=False
    )
    for ax, scenario in zip(axes[:, 0], scenarios):
        in_scenario = [row for row in measured if row.scenario == scenario]
        for label, attack in by_attack(in_scenario).items():
            x = [layers.index(row.layer) for row in attack]
            ax.plot(x, [row.measured.leakage for row in attack], marker="o", label=label.split(" · ", 1)[1])
            ax.fill_between(
                x, [row.measured.ci_low for row in attack], [row.measured.ci_high for row in attack], alpha=0.2
            )
        by_layer = {row.layer: row for row in in_scenario}
        xs = [i for i, layer in enumerate(layers) if layer in by_layer]
        ax.plot(xs, [by_layer[layers[i]].measured.chance for i in xs], "k--", linewidth=1, label="chance")
        ax.step(
            xs,
            [_limit(by_layer[layers[i]]) for i in xs],
            "r:",
            where="mid",
            linewidth=1.5,
            label="limit (chance + max_excess)",
        )
        ax.set_title(scenario)
        ax.set_ylabel("gender leakage L (accuracy)")
        ax.set_ylim(0.3, 1.02)
        ax.set_xticks(range(len(layers)))
        ax.set_xticklabels(layers, rotation=45, ha="right", fontsize=8)
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
        ax.grid(alpha=0.3)
    axes[-1, 0].set_xlabel("intercepted layer (forward order)")
    return fig


def _limit(row: ResultRow) -> float:
    """Where the item would fail at the point estimate: chance + max_excess."""
    assert row.max_excess is not None  # a measured row has its decision
    return row.measured.chance + row.max_excess


def plot_emotions(report: AuditReport) -> bytes | None:
    fig = emotions_figure(report)
    return None if fig is None else _png(fig)


def emotions_figure(report: AuditReport) -> Any:
    """Leakage per emotion (Table 3) for every attack at the most exposed layer. None without a
    measured item or an emotion breakdown there."""
    exposure = report.exposure()
    if not exposure:
        return None
    layer = max(exposure, key=lambda name: exposure[name].measured.excess)
    rows = [row for row in report.results if row.layer == layer and (row.breakdowns or {}).get("emotion")]
    if not rows:
        return None
    plt = _pyplot()
    emotions = [g.group for g in _emotion_groups(rows[0])]
    fig, ax = plt.subplots(figsize=(max(6.0, 1.2 * len(emotions) + 2), 3.6))
    width = 0.8 / len(rows)
    for i, row in enumerate(rows):
        groups = {g.group: g for g in _emotion_groups(row)}
        bars = [_bar(groups.get(e)) for e in emotions]
        xs = [j + i * width for j in range(len(emotions))]
        values, low, high = ([bar[k] for bar in bars] for k in range(3))
        ax.bar(xs, values, width, yerr=[low, high], capsize=2, label=attack_label(row))
    ax.axhline(rows[0].measured.chance, color="k", linestyle="--", linewidth=1, label="chance")
    ax.axhline(_limit(rows[0]), color="r", linestyle=":", linewidth=1.5, label="limit")
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(emotions))])
    ax.set_xticklabels(emotions)
    ax.set_xlabel("emotion")
    ax.set_ylabel("gender leakage L (accuracy)")
    ax.set_ylim(0, 1.05)
    ax.set_title(f"leakage per emotion at {layer}")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return fig


def _emotion_groups(row: ResultRow) -> tuple[GroupFigures, ...]:
    return (row.breakdowns or {})["emotion"].groups


def _bar(group: GroupFigures | None) -> tuple[float, float, float]:
    """One emotion's bar: its leakage and the CI's extent below and above it; all 0 where the
    group is absent or could not be estimated."""
    if group is None or group.leakage is None or group.ci_low is None or group.ci_high is None:
        return 0, 0, 0
    return group.leakage, group.leakage - group.ci_low, group.ci_high - group.leakage


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # no display; also what CI machines have
    import matplotlib.pyplot as plt

    return plt


def _png(fig: Any) -> bytes:
    buffer = io.BytesIO()
    fig.tight_layout()
    # No timestamp or software tag in the file: the same report renders to the same bytes.
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight", metadata={"Software": None})
    _pyplot().close(fig)
    return buffer.getvalue()
