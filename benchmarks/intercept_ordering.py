"""Intercept access at full size: does it reproduce the paper's ordering on the synthetic corpora?

    .venv/bin/python benchmarks/intercept_ordering.py [--budget thorough] [--kinds generic]

Trains "public pretrained weights" (small_vgg for emotion on synthetic:seed=2000, 400 utterances),
fine-tunes T from them (synthetic:seed=1000, Adam 1e-4, as in the paper), then audits T in intercept
access with those weights as model.base_checkpoint: target corpus `synthetic` (400 utterances),
auxiliary `synthetic:seed=1,emotions=8` (400). Prints L per scenario, head and layer, and checks:
same-architecture attackers (the tail clone: worst_case, scenario_1) leak more than
different-architecture ones (scenarios 2 and 3) at T's first block; the different-family attacker
(scenario_4, LSTM) stays near chance (every CI contains 0.5 or its L is within 0.05 of it).
"""

from __future__ import annotations

import argparse
import collections
import tempfile
import time
from pathlib import Path

import numpy as np

from privacy_checks.data import load_corpus
from privacy_checks.engine import open_audit
from privacy_checks.features import FeatureSpec
from privacy_checks.model import save_checkpoint
from privacy_checks.study.training import train_emotion_model

FIRST_BLOCK = ("features.2", "features.3")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--budget", default="thorough")
    parser.add_argument("--kinds", default="generic")
    args = parser.parse_args()
    start = time.perf_counter()
    spec = FeatureSpec()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        quiet = lambda *_: None
        pretraining = load_corpus("synthetic:seed=2000", tmp)
        base_model, base_info = train_emotion_model(
            "small_vgg", pretraining, spec, epochs=30, lr=1e-4, batch_size=32, seed=0, log=quiet
        )
        save_checkpoint(tmp / "base.pt", base_model, "small_vgg", {"num_classes": 4}, spec, pretraining.emotions)
        own = load_corpus("synthetic:seed=1000", tmp)
        t_model, t_info = train_emotion_model(
            "small_vgg", own, spec, epochs=20, lr=1e-4, batch_size=32, seed=0, log=quiet, init=base_model.state_dict()
        )
        save_checkpoint(tmp / "target.pt", t_model, "small_vgg", {"num_classes": 4}, spec, own.emotions)
        trained = time.perf_counter()
        print(
            f"base: {base_info['held_out_emotion_accuracy']:.3f} held-out emotion accuracy; "
            f"T (fine-tuned from base): {t_info['held_out_emotion_accuracy']:.3f}; {trained - start:.0f} s"
        )
        config = {
            "audit": {"access": ["intercept"], "budget": args.budget, "attackers": args.kinds.split(",")},
            "model": {"base_checkpoint": str(tmp / "base.pt")},
        }
        audit = open_audit(
            tmp / "target.pt",
            "synthetic",
            config=config,
            aux="synthetic:seed=1,emotions=8",
            cache_dir=tmp / "cache" / "embeddings",
            base_dir=tmp,
        )
        curves: dict[tuple[str, str, str], list] = collections.defaultdict(list)
        for case in audit.cases:
            result = audit.result(case)
            if result.estimate is not None:
                curves[case.scenario, case.attacker, case.architecture].append((case.layer, result))
    layers = [layer for layer in audit.layers]
    print(f"\n{'scenario':11s} {'kind':8s} {'head':15s} control " + " ".join(f"{layer[-11:]:>11s}" for layer in layers))
    for (scenario, kind, head), points in curves.items():
        by_layer = {layer: r.estimate.leakage for layer, r in points}
        control = points[0][1].control.positive.leakage
        print(
            f"{scenario:11s} {kind[:8]:8s} {head:15s} {control:7.3f} "
            + " ".join(f"{by_layer[layer]:11.3f}" if layer in by_layer else f"{'skip':>11s}" for layer in layers)
        )

    def first_block(scenarios, same):
        values = [
            r.estimate.leakage
            for (s, _, head), points in curves.items()
            for layer, r in points
            if s in scenarios and (head == "tail_clone") == same and layer in FIRST_BLOCK
        ]
        return float(np.mean(values))

    same, different = first_block(("worst_case", "scenario_1"), True), first_block(("scenario_2", "scenario_3"), False)
    lstm = [r.estimate for (s, _, _), points in curves.items() if s == "scenario_4" for _, r in points]
    near_chance = sum(e.ci_low <= 0.5 <= e.ci_high or abs(e.leakage - 0.5) <= 0.05 for e in lstm)
    print(
        f"\nfirst block ({', '.join(FIRST_BLOCK)}): same architecture mean L {same:.3f} vs different "
        f"architecture {different:.3f}: {'holds' if same > different else 'VIOLATED'}"
    )
    print(
        f"different family (scenario_4): {near_chance}/{len(lstm)} layers near chance; "
        f"L from {min(e.leakage for e in lstm):.3f} to {max(e.leakage for e in lstm):.3f}"
    )
    print(f"total {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
