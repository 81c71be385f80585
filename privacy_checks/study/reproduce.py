"""`privacy-checks reproduce`: the study's protocol end to end, its tables in the paper's layout.

T is trained for emotion on the target corpus (VGG16 on log-mel, Adam 1e-4; a second T on LLDs for
Table 4), then the audit engine runs every scenario of Table 1 with the paper's access mode
(intercept: each attacker trains its own model on raw features of its corpus and is fed h_T) and
both attacker kinds. Every finished piece is kept in --out (T's checkpoints, trained attackers,
layer outputs and one JSON file per result), so a crash or Ctrl-C loses at most the running cell.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from privacy_checks import progress, stats
from privacy_checks.attackers.names import SAME_FAMILY_HEADS
from privacy_checks.data import load_corpus
from privacy_checks.engine.entry import open_audit
from privacy_checks.engine.result_parts import Figures
from privacy_checks.engine.results import ResultRow
from privacy_checks.errors import PrivacyInputError
from privacy_checks.features import FeatureSpec
from privacy_checks.fileio import atomic_write_bytes, atomic_write_text
from privacy_checks.model import load_target, save_checkpoint
from privacy_checks.seeds import derived_seed
from privacy_checks.threat_model import APPLICATION_AWARE, BUDGETS, GENERIC

PRETRAINING = "synthetic:seed=2000"  # the stand-in for the public weights every model starts from
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


@dataclass(frozen=True)
class StudyBudget:
    name: str
    width: float  # VGG16's channel and unit counts scaled by this
    t_epochs: int  # T's emotion training
    utterances_per_speaker: int | None
    attacker_epochs: int
    attacker_lr: float  # VGG16 without batch norm, fine-tuned from the public weights, stalls at 1e-3
    bootstrap: int
    permutations: int


STUDY_BUDGETS = {
    "cpu": StudyBudget("cpu", 0.125, 15, 10, 25, 3e-4, 500, 500),
    "paper": StudyBudget("paper", 1.0, 50, None, 50, 1e-4, 1000, 1000),
}


def run(
    target_spec: str,
    aux_spec: str,
    out: Path,
    budget_name: str = "cpu",
    seed: int = 0,
    stream=sys.stderr,
    pretrain_spec: str = PRETRAINING,
) -> Path:
    """Everything into `out`; returns the tables' Markdown file."""
    budget = STUDY_BUDGETS[budget_name]
    out.mkdir(parents=True, exist_ok=True)
    target_corpus = load_corpus(target_spec, Path.cwd(), option="--target")
    aux_corpus = load_corpus(aux_spec, Path.cwd(), option="--aux")
    pretraining = load_corpus(pretrain_spec, Path.cwd(), option="--pretrain")
    display = progress.StreamDisplay(stream)
    results: dict[str, Any] = {
        "target": target_corpus.name,
        "aux": aux_corpus.name,
        "pretraining": pretraining.name,
        "budget": dataclasses.asdict(budget),
        "seed": seed,
        "models": {},
        "cells": {},
    }
    with progress.showing(display):
        for features in ("logmel", "lld"):
            spec = FeatureSpec(kind=features) if features == "lld" else FeatureSpec()
            # The paper's models start from public (ImageNet) weights, and so do T and the attacker's
            # own copy of it: here, weights pretrained for emotion on a public stand-in corpus.
            base = _trained(
                pretraining, spec, budget, seed, out / f"base_vgg16_{features}.pt", stream, "public weights"
            )
            checkpoint = _trained(target_corpus, spec, budget, seed, out / f"T_vgg16_{features}.pt", stream, "T", base)
            results["models"][features] = json.loads(json.dumps(load_target(checkpoint).describe()))
            rows = _study(checkpoint, base, target_corpus, aux_corpus, budget, seed, out, features)
            results["cells"][features] = [row.as_dict() for row in rows]
    results["random_classifier"] = _random_classifier(target_corpus, seed, budget)
    atomic_write_text(out / "results.json", json.dumps(results, indent=1, sort_keys=True) + "\n")
    tables = render_tables(results)
    path = out / "tables.md"
    atomic_write_text(path, tables)
    figure = _figure3(results)
    if figure is not None:
        atomic_write_bytes(out / "figure3.png", figure)
    return path


def _trained(
    corpus, spec: FeatureSpec, budget: StudyBudget, seed: int, path: Path, stream, role: str, init: Path | None = None
) -> Path:
    """VGG16 trained for emotion with Adam 1e-4, from `init`'s weights when given (kept in `out`:
    a rerun does not retrain)."""
    if path.is_file():
        return path
    from privacy_checks.study.training import train_emotion_model

    start = load_target(init).module.state_dict() if init is not None else None
    with progress.step(f"training {role} (VGG16 on {spec.kind})"):
        model, info = train_emotion_model(
            "vgg16",
            corpus,
            spec,
            epochs=budget.t_epochs,
            lr=1e-4,
            batch_size=32,
            seed=seed,
            arch_kwargs={"width": budget.width},
            init=start,
            log=lambda line: print(f"{role} ({spec.kind}): {line}", file=stream),
        )
    save_checkpoint(path, model, "vgg16", info["arch_kwargs"], spec, tuple(corpus.emotions), info)
    return path


def _study_config(budget: StudyBudget, seed: int, scenarios, kinds, layers) -> dict[str, Any]:
    """The study's audit settings, shaped like thresholds.yaml: every scenario in intercept access."""
    return {
        "audit": {
            "scenarios": list(scenarios),
            "attackers": list(kinds),
            "access": ["intercept"],
            "seed": seed,
            "layers": list(layers),
            "bootstrap": budget.bootstrap,
            "permutations": budget.permutations,
        },
        "attacker": {"epochs": budget.attacker_epochs, "learning_rate": budget.attacker_lr},
    }


def table_layer(target) -> str:
    """h_T of Table 2: the output of VGG16's first pooling block (the paper's layer #3)."""
    return next(layer for layer in target.candidate_layers() if _is_pool(target, layer))


def figure_layers(target) -> list[str]:
    """Fig. 3's depth axis: every pooling block, then the classifier's layers."""
    return [
        layer for layer in target.candidate_layers() if _is_pool(target, layer) or not layer.startswith("features.")
    ]


def _is_pool(target, layer: str) -> bool:
    from torch import nn

    return isinstance(dict(target.module.named_modules()).get(layer), nn.MaxPool2d)


def _study(
    checkpoint: Path, base: Path, target_corpus, aux_corpus, budget: StudyBudget, seed: int, out: Path, features: str
) -> list[ResultRow]:
    target = load_target(checkpoint)
    # Table 4 (LLD vs spectrogram) needs only the application-aware attackers of scenarios 2-4;
    # Tables 2 and 3 and Fig. 3 need everything on the spectrogram model.
    scenarios: tuple[str, ...]
    kinds: tuple[str, ...]
    if features == "logmel":
        scenarios, kinds, layers = SCENARIO_ROWS, (GENERIC, APPLICATION_AWARE), figure_layers(target)
    else:
        scenarios, kinds, layers = (
            ("scenario_2", "scenario_3", "scenario_4"),
            (APPLICATION_AWARE,),
            [table_layer(target)],
        )
    settings = _study_config(budget, seed, scenarios, kinds, layers)
    # The paper's attacker set: all three other CNNs of the family in scenarios 2 and 3.
    study_budget = dataclasses.replace(
        BUDGETS["standard"],
        utterances_per_speaker=budget.utterances_per_speaker,
        epochs=budget.attacker_epochs,
        same_family_heads=len(SAME_FAMILY_HEADS["cnn"]),
    )
    audit = open_audit(
        target,
        target_corpus,
        config={**settings, "model": {"base_checkpoint": str(base)}},
        aux=aux_corpus,
        cache_dir=out / "cache" / "embeddings",
        budget=study_budget,
    )
    layer = table_layer(target)
    # A cell's file is named by everything its result depends on: a changed input recomputes it.
    inputs = "|".join(
        (
            target.fingerprint,
            audit.corpus.fingerprint,
            aux_corpus.fingerprint,
            json.dumps(settings, sort_keys=True),
        )
    )
    rows = []
    for case in audit.cases:
        if (
            features == "logmel"
            and case.layer != layer
            and not (case.scenario == "scenario_2" and case.attacker == GENERIC)
        ):
            continue  # Fig. 3: depth for the scenario-2 generic attackers only
        cell = out / "cells" / f"{hashlib.sha256(f'{inputs}|{case.name}'.encode()).hexdigest()[:20]}.json"
        if cell.is_file():
            rows.append(ResultRow.from_dict(json.loads(cell.read_text())))
            continue
        row = audit.result(case).row()
        atomic_write_text(cell, json.dumps(row.as_dict(), sort_keys=True) + "\n")
        rows.append(row)
    return rows


def _random_classifier(corpus, seed: int, budget: StudyBudget) -> dict:
    """The paper's bottom row: a classifier that guesses gender at random, measured like an attacker."""
    from privacy_checks.engine.corpora import cap_utterances

    corpus = cap_utterances(corpus, budget.utterances_per_speaker)
    labels = corpus.gender_labels
    guesses = np.random.default_rng(derived_seed(seed, "random-classifier")).integers(0, 2, len(labels))
    folds = stats.speaker_folds(corpus.speakers, labels, 5, seed)
    estimate = stats.estimate_leakage(
        labels,
        guesses,
        corpus.speakers,
        folds,
        seed=seed,
        n_bootstrap=budget.bootstrap,
        n_permutations=budget.permutations,
    )
    by_emotion = stats.leakage_by_group(
        labels,
        guesses,
        corpus.speakers,
        [u.emotion for u in corpus.utterances],
        seed=seed,
        n_bootstrap=budget.bootstrap,
    )
    return {"estimate": estimate.as_dict(), "emotion": [g.as_dict() for g in by_emotion]}


# -- the paper's layout ------------------------------------------------------------------------


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


def _figure3(results: dict) -> bytes | None:
    from privacy_checks.reporting.plots import plot_layers

    return plot_layers(_figure3_rows(_cells(results, "logmel")))


def check_budget(name: str) -> None:
    if name not in STUDY_BUDGETS:
        raise PrivacyInputError(f"--budget {name!r}: choose {' or '.join(STUDY_BUDGETS)}")
