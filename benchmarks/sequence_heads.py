"""Issue 15: a VGG-style head on W's sequence layers, the cost of its first convolution's input.

    PYTHONPATH=$PWD OMP_NUM_THREADS=1 .venv/bin/python benchmarks/sequence_heads.py [--clips 100]

One cross-validated item as the standard budget trains it on W (5 speaker folds, at most 60 epochs
with early stopping, batches of 32) on (T, D) = (225, 768) rows: a transformer layer of W over
4.5 s clips, 100 capped clips of 10 speakers (the budget's cap at any corpus size). The rows are
random with a small gender shift, so the head stops early as it does on W's leaking layers. The
same item three ways, in one run, one thread:

- view: the head's ChannelsFirst returns the transposed (B, D, T) view at every step (before);
- copy: ChannelsFirst makes it contiguous at every step (training the whole head);
- once: the transposition computed once per fold (`heads.fixed_part`), what the audit does now.

Prints each time and the ratios, and checks that `copy` and `once` predict the same.
"""

from __future__ import annotations

import argparse
import time
from unittest import mock

import numpy as np
import torch

from privacy_checks.attackers import heads, training
from privacy_checks.attackers.heads import vgg_head
from privacy_checks.attackers.training import cross_validated_predictions
from privacy_checks.config import AttackerSettings

FRAMES, WIDTH = 225, 768


def item(x: np.ndarray, genders: np.ndarray, speakers: np.ndarray, folds: np.ndarray) -> tuple[float, np.ndarray]:
    start = time.perf_counter()
    predicted = cross_validated_predictions(
        lambda: vgg_head((FRAMES, WIDTH)), x, genders, folds, AttackerSettings(epochs=60), 0, speakers=speakers
    )
    return time.perf_counter() - start, predicted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=100, help="rows (10 speakers; default 100)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    speaker = np.repeat(np.arange(10), -(-args.clips // 10))[: args.clips]
    genders = speaker % 2
    shift = 0.05 * rng.normal(size=WIDTH).astype(np.float32)
    x = rng.normal(size=(args.clips, FRAMES, WIDTH)).astype(np.float32) + genders[:, None, None] * shift
    speakers, folds = np.array([f"s{s}" for s in speaker]), speaker % 5

    def transposed_view(self, batch):  # the adapter as it was: a strided view reaches the convolution
        return batch.transpose(1, 2)

    with mock.patch.object(training, "fixed_part", lambda head: None):
        with mock.patch.object(heads.ChannelsFirst, "forward", transposed_view):
            view, _ = item(x, genders, speakers, folds)
        copy, copied = item(x, genders, speakers, folds)
    once, computed = item(x, genders, speakers, folds)
    print(f"VGG-style item on {args.clips} x {FRAMES} x {WIDTH} rows, 5 folds, one thread:")
    print(f"  view (transposed view at every step): {view:7.1f} s")
    print(f"  copy (contiguous copy at every step): {copy:7.1f} s   view / copy {view / copy:.2f}x")
    print(f"  once (transposed once per fold)     : {once:7.1f} s   view / once {view / once:.2f}x")
    same = np.array_equal(copied, computed)
    print(f"  same predictions (copy, once): {same}; accuracy {np.mean(computed == genders):.3f}")


if __name__ == "__main__":
    main()
