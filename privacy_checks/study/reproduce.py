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
from privacy_checks.engine.results import ResultRow
from privacy_checks.errors import PrivacyInputError
from privacy_checks.features import FeatureSpec
from privacy_checks.fileio import atomic_write_bytes, atomic_write_text, strict_json
from privacy_checks.model import load_target, save_checkpoint
from privacy_checks.seeds import derived_seed
from privacy_checks.study.paper_tables import SCENARIO_ROWS, figure3, render_tables
from privacy_checks.threat_model import APPLICATION_AWARE, BUDGETS, GENERIC

PRETRAINING = "synthetic:seed=2000"  # the stand-in for the public weights every model starts from


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
    atomic_write_text(out / "results.json", strict_json(results, indent=1, sort_keys=True) + "\n")
    tables = render_tables(results)
    path = out / "tables.md"
    atomic_write_text(path, tables)
    figure = figure3(results)
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
        # the paper's attackers alone, trained a fixed number of epochs: its tables measure them, not
        # the audit's convex probe or early stopping
        "attacker": {
            "epochs": budget.attacker_epochs,
            "learning_rate": budget.attacker_lr,
            "convex_probe": False,
            "patience": 0,
        },
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


def check_budget(name: str) -> None:
    if name not in STUDY_BUDGETS:
        raise PrivacyInputError(f"--budget {name!r}: choose {' or '.join(STUDY_BUDGETS)}")
