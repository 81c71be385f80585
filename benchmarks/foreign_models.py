"""Calibration on foreign layouts at every budget (issue 12): models the zoo does not contain, held
against the independent reference probe of tests/foreign/reference_probe.py.

    .venv/bin/python benchmarks/foreign_models.py [--budgets quick,standard,thorough] [--models a,b]

Per model (a channels-first 1-D CNN on MFCC-like log-mel frames, a batch_first=False transformer,
a raw-waveform conv front end, a GRU on packed input, a tiny random-weights HF wav2vec2) and
budget: the worst-case encoder audit of the model's split points (a state_dict checkpoint and a
factory, as a user would write them) on a 16-speaker synthetic corpus, beside the reference probe's
balanced accuracy per layer. Prints one line per layer and, per model and budget, whether any layer
the reference reads at >= 0.85 ended `passed` (the floor: none may) or anything but `failed`.
The test suite runs the quick budget on a subset of layers (tests/foreign/).
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # the foreign models live in the test tree

from privacy_checks.data import load_corpus  # noqa: E402
from privacy_checks.engine import open_audit  # noqa: E402
from tests.foreign.models import FOREIGN_MODELS  # noqa: E402
from tests.foreign.reference_probe import reference_probe  # noqa: E402

DURATION = 1.0
DATA = f"synthetic:speakers=16,utterances=6,duration={DURATION}"
LEAKY = 0.85


def audit_statuses(name: str, budget: str, folder: Path) -> dict[str, tuple[str, float | None]]:
    """Status and L per split point of the model's worst-case generic audit (all candidates)."""
    model = FOREIGN_MODELS[name]
    checkpoint = folder / f"{name}.pt"
    torch.save(model.build().state_dict(), checkpoint)
    config = {
        "audit": {"scenarios": ["worst_case"], "budget": budget, "attackers": ["generic"]},
        "model": {"factory": model.factory, "input": {**model.input, "duration_s": DURATION}},
    }
    audit = open_audit(checkpoint, DATA, config=config, cache_dir=folder / "cache", base_dir=folder)
    results = {}
    for case in audit.cases:
        result = audit.result(case)
        results[case.layer] = (str(result.status), None if result.estimate is None else result.estimate.leakage)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--budgets", default="quick,standard,thorough")
    parser.add_argument("--models", default=",".join(FOREIGN_MODELS))
    args = parser.parse_args()
    torch.set_num_threads(1)
    corpus = load_corpus(DATA, REPO)
    floor_held = True
    for name in args.models.split(","):
        model = FOREIGN_MODELS[name]
        if model.needs and importlib.util.find_spec(model.needs) is None:
            print(f"{name}: skipped ({model.needs} is not installed)")
            continue
        views = [v for v in model.views if v.key == v.module]  # one reading per module: what the audit reads
        reference = {
            k: s.balanced_accuracy
            for k, s in reference_probe(model.build(), model.input_spec(DURATION), corpus, views).items()
        }
        for budget in args.budgets.split(","):
            start = time.perf_counter()
            with tempfile.TemporaryDirectory() as tmp:
                audited = audit_statuses(name, budget, Path(tmp))
            leaking = [layer for layer, accuracy in reference.items() if accuracy >= LEAKY and layer in audited]
            passed = [layer for layer in leaking if audited[layer][0] == "passed"]
            not_failed = [layer for layer in leaking if audited[layer][0] != "failed"]
            floor_held &= not passed
            print(
                f"{name} · {budget} ({time.perf_counter() - start:.0f} s): {len(leaking)} leaking layers, "
                f"passed {len(passed)}, not failed {len(not_failed)} {not_failed or ''}",
                flush=True,
            )
            for layer, accuracy in reference.items():
                status, leakage = audited.get(layer, ("not a split point", None))
                shown = "-" if leakage is None else f"{leakage:.3f}"
                print(f"    {layer:48s} reference {accuracy:.3f}   audit L {shown:>5s}  {status}")
    print(f"floor (no layer the reference reads at >= {LEAKY} passes): {'held' if floor_held else 'BROKEN'}")


if __name__ == "__main__":
    main()
