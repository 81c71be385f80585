"""One forward pass for all layers vs one pass per layer, and the disk cache's hit, measured in one run.

    .venv/bin/python benchmarks/forward_pass.py [--data SPEC]

Prints ratios (these machines are noisy: compare within a run, don't quote absolute times).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from privacy_checks.data import load_corpus
from privacy_checks.engine.representations import EmbeddingStore, layer_outputs
from privacy_checks.model import load_target

DEMO = Path(__file__).resolve().parent.parent / "examples" / "demo_ser.pt"


def timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", default="synthetic:speakers=20,utterances=10")
    args = parser.parse_args()
    target = load_target(DEMO)
    corpus = load_corpus(args.data, Path.cwd())
    layers = target.candidate_layers()
    with tempfile.TemporaryDirectory() as tmp:
        one_pass = timed(lambda: layer_outputs(target, corpus, layers, EmbeddingStore(Path(tmp) / "all")))
        cached = timed(lambda: layer_outputs(target, corpus, layers, EmbeddingStore(Path(tmp) / "all")))
        per_layer = timed(
            lambda: [layer_outputs(target, corpus, [layer], EmbeddingStore(Path(tmp) / layer)) for layer in layers]
        )
    print(f"corpus: {corpus.name} ({len(corpus)} utterances), {len(layers)} layers")
    print(f"one pass for all layers : {one_pass:7.2f} s")
    print(f"one pass per layer      : {per_layer:7.2f} s   ratio per-layer / one-pass = {per_layer / one_pass:5.1f}x")
    print(
        f"cache hit (all layers)  : {cached:7.3f} s   ratio one-pass / cache hit = {one_pass / max(cached, 1e-9):5.0f}x"
    )


if __name__ == "__main__":
    main()
