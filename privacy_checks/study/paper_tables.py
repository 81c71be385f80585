"""The reproduction's tables in the paper's layout (Tables 2-4, spontaneity, the attackers' own
accuracies, Fig. 3), rendered from the results `privacy-checks reproduce` keeps; the paper's own
figures sit beside ours."""

from __future__ import annotations

import numpy as np

from privacy_checks.attackers.names import SAME_FAMILY_HEADS
from privacy_checks.engine.result_parts import Figures
from privacy_checks.engine.results import ResultRow
from privacy_checks.threat_model import APPLICATION_AWARE, GENERIC

SCENARIO_ROWS = ("worst_case", "scenario_1", "scenario_2", "scenario_3", "scenario_4")
SCENARIO_LABEL = {
    "worst_case": "Worst case",
    "scenario_1": "1",
    "scenario_2": "2",
    "scenario_3": "3",
    "scenario_4": "4",
}
HEAD_LABEL = {
    "tail_clone": "VGG16",
    "vgg19_style": "VGG19",
    "resnet_style": "ResNet50",
    "densenet_style": "DenseNet121",
    "lstm": "LSTM",
}
PAPER_TABLE2 = {  # Table 2 of the paper (IEMOCAP target, RAVDESS auxiliary), L mean over folds
    GENERIC: {
        ("worst_case", "tail_clone"): 0.95,
        ("scenario_1", "tail_clone"): 0.82,
        ("scenario_2", "vgg19_style"): 0.82,
        ("scenario_2", "resnet_style"): 0.55,
        ("scenario_2", "densenet_style"): 0.53,
        ("scenario_3", "vgg19_style"): 0.73,
        ("scenario_3", "resnet_style"): 0.63,
        ("scenario_3", "densenet_style"): 0.51,
        ("scenario_4", "lstm"): 0.52,
    },
    APPLICATION_AWARE: {
        ("worst_case", "tail_clone"): 0.95,
        ("scenario_1", "tail_clone"): 0.83,
        ("scenario_2", "vgg19_style"): 0.84,
        ("scenario_2", "resnet_style"): 0.55,
        ("scenario_2", "densenet_style"): 0.52,
        ("scenario_3", "vgg19_style"): 0.63,
        ("scenario_3", "resnet_style"): 0.58,
        ("scenario_3", "densenet_style"): 0.53,
        ("scenario_4", "lstm"): 0.52,
    },
}

PAPER_TABLE3 = {  # mean L per emotion on IEMOCAP (angry, happy, neutral, sad)
    (GENERIC, "scenario_1"): (0.66, 0.86, 0.87, 0.88),
    (GENERIC, "scenario_2"): (0.50, 0.56, 0.63, 0.64),
    (GENERIC, "scenario_3"): (0.63, 0.59, 0.65, 0.62),
    (APPLICATION_AWARE, "scenario_1"): (0.69, 0.86, 0.87, 0.89),
    (APPLICATION_AWARE, "scenario_2"): (0.45, 0.54, 0.61, 0.57),
    (APPLICATION_AWARE, "scenario_3"): (0.59, 0.53, 0.62, 0.55),
    ("random", ""): (0.50, 0.50, 0.51, 0.50),
}
PAPER_EMOTIONS = ("angry", "happy", "neutral", "sad")
PAPER_TABLE4 = {  # (LLDs, spectrogram)
    ("scenario_2", "resnet_style"): (0.62, 0.55),
    ("scenario_2", "densenet_style"): (0.58, 0.52),
    ("scenario_3", "resnet_style"): (0.64, 0.58),
    ("scenario_3", "densenet_style"): (0.51, 0.52),
    ("scenario_4", "lstm"): (0.51, 0.52),
}


def _fold(row: ResultRow | None) -> str:
    if row is None or row.estimate is None:
        return "—"
    mark = "" if row.control is None or row.control.has_power else " ‡"
    return f"{row.estimate.fold_mean:.2f} ± {row.estimate.fold_std:.2f}{mark}"


def _cells(results: dict, features: str) -> list[ResultRow]:
    return [ResultRow.from_dict(row) for row in results["cells"][features]]


def render_tables(results: dict) -> str:
    spectro = _cells(results, "logmel")
    layer = next(iter(r.layer for r in spectro if r.scenario == "worst_case"), None)
    at_layer = [r for r in spectro if r.layer == layer]
    lines = [
        f"# Reproduction: {results['target']} (target) / {results['aux']} (auxiliary), "
        f"budget {results['budget']['name']}",
        "",
        f"Public weights (the paper's ImageNet) pretrained on {results['pretraining']}; T and the "
        "attackers' own copies of VGG16 start from them.",
        "",
        f"Intercepted layer h_T for Tables 2-4: `{layer}` (VGG16's first pooling block).",
        "",
    ]
    lines += ["## Table 2: gender leakage L (mean ± std over the folds)", ""]
    for kind, title in ((GENERIC, "Generic attacker A_g"), (APPLICATION_AWARE, "Application-aware attacker A_a")):
        lines += [
            f"**{title}**",
            "",
            "| Scenario | Model | Training | L (this run) | 95 % CI | L (paper) |",
            "|---|---|---|---|---|---|",
        ]
        for row in at_layer:
            if row.attacker != kind:
                continue
            head = row.head
            training = "aux" if row.scenario in ("scenario_1", "scenario_3", "scenario_4") else "target"
            paper = PAPER_TABLE2[kind].get((row.scenario, head))
            e = row.estimate
            interval = "—" if e is None else f"[{e.ci_low:.2f}, {e.ci_high:.2f}]"
            lines.append(
                f"| {SCENARIO_LABEL[row.scenario]} | {HEAD_LABEL.get(head, head)} | {training} | {_fold(row)} | "
                f"{interval} | {'' if paper is None else f'{paper:.2f}'} |"
            )
        lines.append("")
    rc = results["random_classifier"]["estimate"]
    lines += [
        f"Random gender classifier: {rc['fold_mean']:.2f} ± {rc['fold_std']:.2f} (paper 0.49).",
        "",
        "‡ the attacker's own model does not beat chance by 0.1 on raw input features (its positive "
        "control; see the attackers' own accuracies below): a low L there says nothing about T.",
        "",
    ]
    lines += _table3(at_layer, results) + _table4(results, layer) + _spontaneity(at_layer) + _own_accuracies(at_layer)
    lines += ["## Figure 3: leakage vs depth, scenario-2 generic attackers", "", "![Figure 3](figure3.png)", ""]
    lines += [
        "| layer | " + " | ".join(HEAD_LABEL[h] for h in SAME_FAMILY_HEADS["cnn"]) + " |",
        "|---|" + "---|" * len(SAME_FAMILY_HEADS["cnn"]),
    ]
    depth = _figure3_rows(spectro)
    for name in dict.fromkeys(r.layer for r in depth):
        leakage = {r.head: r.estimate.leakage for r in depth if r.layer == name and r.estimate is not None}
        lines.append(
            f"| {name} | "
            + " | ".join(f"{leakage[h]:.2f}" if h in leakage else "—" for h in SAME_FAMILY_HEADS["cnn"])
            + " |"
        )
    return "\n".join(lines) + "\n"


def _emotions(row: ResultRow) -> dict[str, float | None]:
    breakdown = (row.breakdowns or {}).get("emotion")
    return {g.group: g.leakage for g in breakdown.groups} if breakdown else {}


def _table3(at_layer: list[ResultRow], results: dict) -> list[str]:
    """Per emotion: VGG16 (tail clone) in scenario 1, ResNet50 in scenarios 2 and 3, as the paper."""
    picks = {"scenario_1": "tail_clone", "scenario_2": "resnet_style", "scenario_3": "resnet_style"}
    emotions = list(dict.fromkeys(g["group"] for g in results["random_classifier"]["emotion"]))
    lines = [
        "## Table 3: mean gender leakage L per emotion (this run, the paper's in brackets)",
        "",
        "| Attacker | Scenario | " + " | ".join(emotions) + " |",
        "|---|---|" + "---|" * len(emotions),
    ]

    def cells(values: dict, paper: tuple | None) -> str:
        out = []
        for emotion in emotions:
            text = f"{values[emotion]:.2f}" if values.get(emotion) is not None else "—"
            if paper and emotion in PAPER_EMOTIONS:
                text += f" ({paper[PAPER_EMOTIONS.index(emotion)]:.2f})"
            out.append(text)
        return " | ".join(out)

    for kind in (GENERIC, APPLICATION_AWARE):
        for scenario, head in picks.items():
            row = next((r for r in at_layer if r.attacker == kind and r.scenario == scenario and r.head == head), None)
            values = _emotions(row) if row else {}
            lines.append(f"| {kind} | {SCENARIO_LABEL[scenario]} | {cells(values, PAPER_TABLE3[kind, scenario])} |")
    random = {g["group"]: g["leakage"] for g in results["random_classifier"]["emotion"]}
    lines.append(f"| random classifier | | {cells(random, PAPER_TABLE3['random', ''])} |")
    return lines + [""]


def _significantly_different(a: Figures, b: Figures) -> tuple[bool, float]:
    """Two independent estimates: z-test with standard errors from the 95 % intervals."""
    se = lambda e: (e.ci_high - e.ci_low) / (2 * 1.959964)
    scale = float(np.hypot(se(a), se(b)))
    if scale == 0:
        return a.leakage != b.leakage, 0.0 if a.leakage != b.leakage else 1.0
    z = (a.leakage - b.leakage) / scale
    from scipy.stats import norm

    p = float(2 * norm.sf(abs(z)))
    return p < 0.05, p


def _table4(results: dict, layer: str | None) -> list[str]:
    lld = {
        (r.scenario, r.head): r.estimate
        for r in _cells(results, "lld")
        if r.attacker == APPLICATION_AWARE and r.estimate is not None
    }
    mel = {
        (r.scenario, r.head): r.estimate
        for r in _cells(results, "logmel")
        if r.attacker == APPLICATION_AWARE and r.layer == layer and r.estimate is not None
    }
    lines = [
        "## Table 4: L by T's input features (application-aware attackers; **bold**: p < 0.05)",
        "",
        "| Scenario | Attacker | LLDs | Spectrogram | p | paper: LLDs | paper: spectrogram |",
        "|---|---|---|---|---|---|---|",
    ]
    for key in [
        ("scenario_2", "resnet_style"),
        ("scenario_2", "densenet_style"),
        ("scenario_3", "resnet_style"),
        ("scenario_3", "densenet_style"),
        ("scenario_4", "lstm"),
    ]:
        a, b = lld.get(key), mel.get(key)
        if a is None or b is None:
            continue
        different, p = _significantly_different(a, b)
        fmt = (lambda v: f"**{v:.2f}**") if different else (lambda v: f"{v:.2f}")
        paper = PAPER_TABLE4[key]
        lines.append(
            f"| {SCENARIO_LABEL[key[0]]} | {HEAD_LABEL[key[1]]} | {fmt(a.leakage)} | {fmt(b.leakage)} | {p:.3f} "
            f"| {paper[0]:.2f} | {paper[1]:.2f} |"
        )
    return lines + [""]


def _attack_cells(row: ResultRow) -> str:
    """The first three cells of a per-attacker row: scenario, attacker kind, model."""
    return f"| {SCENARIO_LABEL[row.scenario]} | {row.attacker} | {HEAD_LABEL.get(row.head, row.head)} |"


def _spontaneity(at_layer: list[ResultRow]) -> list[str]:
    lines = [
        "## Spontaneity: improvised vs scripted (speaker-level permutation test)",
        "",
        "| Scenario | Attacker | Model | improvised | scripted | p |",
        "|---|---|---|---|---|---|",
    ]
    for row in at_layer:
        part = (row.breakdowns or {}).get("spontaneity")
        if not part:
            continue
        values = {g.group: g.leakage for g in part.groups}
        p = part.comparison.p_value
        show = lambda v: "—" if v is None else f"{v:.2f}"
        lines.append(
            f"{_attack_cells(row)} {show(values.get('improvised'))} | {show(values.get('scripted'))} | {show(p)} |"
        )
    return lines + [""]


def _own_accuracies(at_layer: list[ResultRow]) -> list[str]:
    """§3.3: each attacker's own accuracy on raw features of the target corpus (its positive control)."""
    lines = [
        "## The attackers' own accuracies on raw input (§3.3)",
        "",
        "| Scenario | Attacker | Model | gender accuracy | emotion accuracy |",
        "|---|---|---|---|---|",
    ]
    for row in at_layer:
        control = row.control
        if not control:
            continue
        emotion = control.input_emotion_accuracy
        lines.append(
            f"{_attack_cells(row)} {control.input_gender_accuracy.leakage:.2f} | "
            f"{'—' if emotion is None else f'{emotion:.2f}'} |"
        )
    return lines + [""]


def _figure3_rows(rows: list[ResultRow]) -> list[ResultRow]:
    """Fig. 3: depth for the scenario-2 generic attackers."""
    return [r for r in rows if r.scenario == "scenario_2" and r.attacker == GENERIC]


def figure3(results: dict) -> bytes | None:
    from privacy_checks.reporting.plots import plot_layers

    return plot_layers(_figure3_rows(_cells(results, "logmel")))
