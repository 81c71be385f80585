"""Peak memory at 4,500 utterances: layer outputs are streamed to disk batch by batch and read back
row by row, never all held in RAM.

    .venv/bin/python benchmarks/peak_memory.py [--utterances-per-speaker 50 --speakers 90] [--whole-audit]

With --whole-audit, after the forward pass it also trains and scores attackers on the largest layer
(encoder tail clone, cross-validated, with its positive control; and the intercept tail clone),
one epoch each, with every utterance (the thorough budget's "all"): the audit's memory, not only the
forward pass's.

Prints the peak resident memory of this process (ru_maxrss) against the size of all layer outputs
on disk; issue 3's target is a peak under 2 GB.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
from pathlib import Path

from privacy_checks.data import load_corpus
from privacy_checks.engine import open_audit
from privacy_checks.engine.representations import INPUT_LAYER, EmbeddingStore, layer_outputs
from privacy_checks.model import load_target

DEMO = Path(__file__).resolve().parent.parent / "examples" / "demo_ser.pt"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--speakers", type=int, default=90)
    parser.add_argument("--utterances-per-speaker", type=int, default=50)
    parser.add_argument("--whole-audit", action="store_true")
    args = parser.parse_args()
    target = load_target(DEMO)
    corpus = load_corpus(f"synthetic:speakers={args.speakers},utterances={args.utterances_per_speaker}", Path.cwd())
    with tempfile.TemporaryDirectory() as tmp:
        outputs = layer_outputs(target, corpus, [INPUT_LAYER, *target.candidate_layers()], EmbeddingStore(Path(tmp)))
        on_disk = sum(a.nbytes for a in outputs.values())
        after_forward = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        if args.whole_audit:
            largest = max(target.candidate_layers(), key=lambda layer: outputs[layer].nbytes)
            config = {
                "audit": {
                    "budget": "thorough",
                    "scenarios": ["worst_case"],
                    "attackers": ["generic"],
                    "access": ["encoder", "intercept"],
                    "layers": [largest],
                },
                "attacker": {"epochs": 1},
            }
            audit = open_audit(target, corpus, config=config, cache_dir=Path(tmp))
            for case in audit.cases:
                if case.layer == largest:
                    result = audit.result(case)
                    print(f"{case.name}: L={result.estimate.leakage:.3f} ({result.status})")
            print(
                f"forward pass alone peaked at {after_forward / 2**30:.2f} GiB; largest layer {largest}: "
                f"{outputs[largest].nbytes / 2**30:.2f} GiB on disk"
            )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(f"{len(corpus)} utterances, {len(outputs)} layers: {on_disk / 2**30:.2f} GiB of layer outputs on disk")
    print(
        f"peak resident memory: {peak / 2**30:.2f} GiB ({peak / 2**31:.2f} x the 2 GB target; "
        f"{peak / on_disk:.2f} x the outputs' size)"
    )


if __name__ == "__main__":
    main()
