"""The report folder (--privacy-report DIR): report.json, report.md, report.html and PNG plots.

Everything is rendered from the report dict alone (AuditReport.as_dict(), or a report.json read
back by `privacy-checks report`), so a report can be re-rendered anywhere without torch.
report.md fits $GITHUB_STEP_SUMMARY: the verdict first, then the layer x attack matrix, then what
failed and why. report.html is self-contained: the same tables and the plots embedded as data URIs.
Plots (matplotlib, Agg): leakage vs layer depth per scenario with CI bands, chance and limit lines
(the paper's Fig. 3), and leakage per emotion (Table 3). Every file is written atomically.
"""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path
from typing import Any

from privacy_checks.fileio import atomic_write_bytes, atomic_write_text

MARK = {"passed": "pass", "failed": "**FAIL**", "skipped": "skip", "inconclusive": "inconcl."}


def attack_key(row: dict[str, Any]) -> str:
    access = "" if row["access"] == "encoder" else f" ({row['access']})"
    return f"{row['scenario']} · {row['attacker']} · {row['head']}{access}"


def _layers(results: list[dict]) -> list[str]:
    return list(dict.fromkeys(r["layer"] for r in results))


def _attacks(results: list[dict]) -> dict[str, list[dict]]:
    attacks: dict[str, list[dict]] = {}
    for r in results:
        attacks.setdefault(attack_key(r), []).append(r)
    return attacks


def verdict(report: dict[str, Any]) -> tuple[str, dict[str, int]]:
    counts = {s: sum(r["status"] == s for r in report["results"]) for s in MARK}
    return ("FAIL" if counts["failed"] else "pass"), counts


# --- Markdown -----------------------------------------------------------------------------------


def _cell(row: dict | None) -> str:
    if row is None:
        return ""
    if row["leakage"] is None:
        return MARK[row["status"]]
    return f"{row['leakage']:.2f} {MARK[row['status']]}"


def matrix(report: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the layer x attack table (L and verdict per cell)."""
    results = report["results"]
    attacks = _attacks(results)
    header = ["layer", *attacks]
    rows = []
    for layer in _layers(results):
        cells = [next((r for r in rows_ if r["layer"] == layer), None) for rows_ in attacks.values()]
        rows.append([layer, *(_cell(c) for c in cells)])
    return header, rows


def failure_lines(report: dict[str, Any]) -> list[str]:
    lines = []
    for r in report["results"]:
        if r["status"] != "failed":
            continue
        text = (
            f"`{r['id']}`: L = {r['leakage']:.3f} [{r['ci_low']:.3f}, {r['ci_high']:.3f}], chance "
            f"{r['chance']:.3f}, excess {r['excess']:+.3f} vs limit {r['max_excess']:.3f} ({r['limit_key']}, "
            f"rule {r['rule']})"
        )
        if r.get("baseline") and r["baseline"]["regressed"]:
            b = r["baseline"]
            text += (
                f"; rose from {b['leakage_before']:.3f} in the baseline (+{b['rise']:.3f} > "
                f"{b['allowed_rise']:.3f}, {b['basis']})"
            )
        lines.append(text)
    return lines


def markdown(report: dict[str, Any]) -> str:
    overall, counts = verdict(report)
    model, corpus = report["model"], report["corpus"]
    out = [
        f"## Privacy audit: {overall}",
        "",
        f"**{counts['failed']} failed**, {counts['passed']} passed, {counts['inconclusive']} inconclusive, "
        f"{counts['skipped']} skipped — gender leakage L of `{Path(model['path']).name}` "
        f"({model['architecture']}, sha256 `{model['sha256'][:12]}`) on {corpus['name']} "
        f"({corpus['utterances']} utterances, {corpus['speakers']} speakers).",
        "",
    ]
    header, rows = matrix(report)
    if rows:
        out += ["### Leakage per layer and attack (L and verdict)", "", _md_table(header, rows), ""]
    failures = failure_lines(report)
    if failures:
        out += ["### What failed and why", ""] + [f"- {line}" for line in failures] + [""]
    safe = report.get("safe_split_points") or {}
    if safe:
        out += [
            "### Earliest safe split point per attack",
            "",
            _md_table(
                ["attack", "earliest layer from which every later layer passes"],
                [[k.replace("/", " · "), v or "none"] for k, v in safe.items()],
            ),
            "",
        ]
    exposure = report.get("exposure") or {}
    if exposure:
        out += [
            "### Exposure per layer (strongest attack)",
            "",
            _md_table(
                ["layer", "L", "95% CI", "attack"],
                [
                    [layer, f"{e['leakage']:.3f}", f"[{e['ci_low']:.3f}, {e['ci_high']:.3f}]", f"`{e['id']}`"]
                    for layer, e in exposure.items()
                ],
            ),
            "",
        ]
    return "\n".join(out)


def _md_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return "\n".join(lines)


# --- plots --------------------------------------------------------------------------------------


def plot_layers(report: dict[str, Any]) -> bytes | None:
    fig = layers_figure(report)
    return None if fig is None else _png(fig)


def layers_figure(report: dict[str, Any]):
    """Leakage vs layer depth, one panel per scenario: a line per attacker with its CI band, the
    chance line and the limit (chance + max_excess) line."""
    measured = [r for r in report["results"] if r["leakage"] is not None]
    if not measured:
        return None
    plt = _pyplot()
    layers = _layers(report["results"])
    scenarios = list(dict.fromkeys(r["scenario"] for r in measured))
    fig, axes = plt.subplots(
        len(scenarios), 1, figsize=(max(6.0, 0.6 * len(layers) + 2), 3.2 * len(scenarios)), squeeze=False
    )
    for ax, scenario in zip(axes[:, 0], scenarios):
        rows = [r for r in measured if r["scenario"] == scenario]
        for key, attack in _attacks(rows).items():
            x = [layers.index(r["layer"]) for r in attack]
            ax.plot(x, [r["leakage"] for r in attack], marker="o", label=key.split(" · ", 1)[1])
            ax.fill_between(x, [r["ci_low"] for r in attack], [r["ci_high"] for r in attack], alpha=0.2)
        by_layer = {r["layer"]: r for r in rows}
        xs = [i for i, layer in enumerate(layers) if layer in by_layer]
        ax.plot(xs, [by_layer[layers[i]]["chance"] for i in xs], "k--", linewidth=1, label="chance")
        ax.step(
            xs,
            [by_layer[layers[i]]["chance"] + by_layer[layers[i]]["max_excess"] for i in xs],
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


def plot_emotions(report: dict[str, Any]) -> bytes | None:
    fig = emotions_figure(report)
    return None if fig is None else _png(fig)


def emotions_figure(report: dict[str, Any]):
    """Leakage per emotion (Table 3) for every attack at the most exposed layer."""
    exposure = report.get("exposure") or {}
    if not exposure:
        return None
    layer = max(exposure, key=lambda name: exposure[name]["excess"])
    rows = [r for r in report["results"] if r["layer"] == layer and (r.get("breakdowns") or {}).get("emotion")]
    if not rows:
        return None
    plt = _pyplot()
    emotions = [g["group"] for g in rows[0]["breakdowns"]["emotion"]["groups"]]
    fig, ax = plt.subplots(figsize=(max(6.0, 1.2 * len(emotions) + 2), 3.6))
    width = 0.8 / len(rows)
    for i, r in enumerate(rows):
        groups = {
            g["group"]: g
            for g in r["breakdowns"]["emotion"]["groups"]
            if g["leakage"] is not None and g["ci_low"] is not None
        }
        xs = [j + i * width for j in range(len(emotions))]
        values = [groups[e]["leakage"] if e in groups else 0 for e in emotions]
        low = [v - groups[e]["ci_low"] if e in groups else 0 for v, e in zip(values, emotions)]
        high = [groups[e]["ci_high"] - v if e in groups else 0 for v, e in zip(values, emotions)]
        ax.bar(xs, values, width, yerr=[low, high], capsize=2, label=attack_key(r))
    ax.axhline(rows[0]["chance"], color="k", linestyle="--", linewidth=1, label="chance")
    ax.axhline(rows[0]["chance"] + rows[0]["max_excess"], color="r", linestyle=":", linewidth=1.5, label="limit")
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(emotions))])
    ax.set_xticklabels(emotions)
    ax.set_xlabel("emotion")
    ax.set_ylabel("gender leakage L (accuracy)")
    ax.set_ylim(0, 1.05)
    ax.set_title(f"leakage per emotion at {layer}")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return fig


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # no display; also what CI machines have
    import matplotlib.pyplot as plt

    return plt


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.tight_layout()
    # No timestamp or software tag in the file: the same report renders to the same bytes.
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight", metadata={"Software": None})
    _pyplot().close(fig)
    return buffer.getvalue()


# --- HTML ---------------------------------------------------------------------------------------


def html_page(report: dict[str, Any], plots: dict[str, bytes]) -> str:
    overall, counts = verdict(report)
    model = report["model"]
    header, rows = matrix(report)
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>privacy audit</title><style>"
        "body{font-family:sans-serif;margin:2em;max-width:1200px}table{border-collapse:collapse;margin:1em 0}"
        "td,th{border:1px solid #ccc;padding:3px 8px;font-size:13px}.fail{background:#fdd}.pass{background:#dfd}"
        "img{max-width:100%;border:1px solid #eee}</style></head><body>",
        f"<h1>Privacy audit: {html.escape(overall)}</h1>",
        f"<p><b>{counts['failed']} failed</b>, {counts['passed']} passed, {counts['inconclusive']} inconclusive, "
        f"{counts['skipped']} skipped — gender leakage of {html.escape(Path(model['path']).name)} "
        f"({html.escape(model['architecture'])}) on {html.escape(report['corpus']['name'])}.</p>",
    ]
    for name, data in plots.items():
        encoded = base64.b64encode(data).decode()
        parts.append(
            f"<h2>{html.escape(name)}</h2><img alt='{html.escape(name)}' src='data:image/png;base64,{encoded}'>"
        )
    if rows:
        parts.append(
            "<h2>Leakage per layer and attack</h2><table><tr>"
            + "".join(f"<th>{html.escape(h)}</th>" for h in header)
            + "</tr>"
        )
        for row in rows:
            cells = "".join(
                f"<td class='{'fail' if 'FAIL' in c else 'pass' if 'pass' in c else ''}'>"
                f"{html.escape(c.replace('**', ''))}</td>"
                for c in row[1:]
            )
            parts.append(f"<tr><th>{html.escape(row[0])}</th>{cells}</tr>")
        parts.append("</table>")
    failures = failure_lines(report)
    if failures:
        parts.append(
            "<h2>What failed and why</h2><ul>"
            + "".join(f"<li>{html.escape(line.replace('`', ''))}</li>" for line in failures)
            + "</ul>"
        )
    parts.append("</body></html>")
    return "\n".join(parts)


# --- the folder ---------------------------------------------------------------------------------

PLOTS = {"leakage_by_layer.png": plot_layers, "leakage_by_emotion.png": plot_emotions}


def write_report_folder(folder: Path, report: dict[str, Any], include_json: bool = True) -> list[Path]:
    """report.json, report.md, the PNGs and report.html (plots embedded); returns the paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    if include_json:
        written.append(folder / "report.json")
        atomic_write_text(written[0], json.dumps(report, indent=2) + "\n")
    plots = {}
    for name, render in PLOTS.items():
        data = render(report)
        if data is not None:
            atomic_write_bytes(folder / name, data)
            plots[name] = data
            written.append(folder / name)
    atomic_write_text(folder / "report.md", markdown(report) + "\n")
    atomic_write_text(folder / "report.html", html_page(report, plots) + "\n")
    return written + [folder / "report.md", folder / "report.html"]
