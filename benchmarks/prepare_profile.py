"""Issue 15: where `prepare` spends its time over the forward-pass floor, for W (benchmarks/realistic.py).

    .venv/bin/python benchmarks/prepare_profile.py [--clips 50] [--budget standard] [--cprofile N]

One process, one thread (torch.set_num_threads(1); run it with OMP_NUM_THREADS=1), in this order:
the forward-pass floor (features and the model over every clip, inference mode, at the audit's
forward batch), then `Audit.prepare()` split into its phases (the maps pass over the capped
corpus, the convex probe's statistics pass over every clip), then the floor again (the machine may
be shared: the two floors show how much it drifted). Inside the passes, inclusive times of what
the engine does beside the model: the storage hooks' reductions (per layer kind), per-channel
statistics, the band spectrum, pooling, writes to the cache, feature extraction, the one-clip
shape probe. Ratios are printed in wall time and in this process's CPU time (on one thread the
work itself: the better figure on a machine shared with other processes). With --cprofile N, the N
costliest functions of prepare by own time.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import cProfile
import dataclasses
import functools
import io
import pstats
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from realistic import DURATION_S, audit_batch, build_w, forward_floor

from privacy_checks.data import load_corpus
from privacy_checks.engine import forward_pass, length_batches, open_audit, row_files
from privacy_checks.engine.corpora import TARGET
from privacy_checks.model import layout, spectra
from privacy_checks.threat_model import BUDGETS

TIMES: collections.Counter[str] = collections.Counter()
CALLS: collections.Counter[str] = collections.Counter()


def timed(owner: object, attribute: str, label: str) -> None:
    """Wrap owner.attribute so that its inclusive time adds up under `label`."""
    original: Callable = getattr(owner, attribute)

    @functools.wraps(original)
    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            TIMES[label] += time.perf_counter() - start
            CALLS[label] += 1

    setattr(owner, attribute, wrapper)


def instrument() -> None:
    """Timers on the engine's work beside the model (module globals, where callers look them up)."""
    timed(length_batches.ClipReader, "read", "hooks: reduce (variable length)")
    timed(forward_pass, "_fixed_reads", "hooks: reduce (fixed length)")
    timed(length_batches, "probe_statistics", "  probe_statistics (variable length)")
    timed(forward_pass, "statistics_rows", "  probe_statistics (fixed length)")
    timed(spectra, "per_channel_statistics", "    per_channel_statistics")
    timed(spectra, "band_spectrum", "    band_spectrum")
    timed(length_batches, "pooled_map", "  pooled_map (variable length)")
    timed(length_batches, "fitted", "  fitted (variable length)")
    timed(length_batches, "non_finite", "  non_finite (variable length)")
    timed(row_files.StreamedArray, "write", "writes: StreamedArray.write")
    timed(row_files.StreamedArray, "write_rows", "writes: StreamedArray.write_rows")
    timed(row_files.StreamedArray, "commit", "writes: StreamedArray.commit")
    timed(length_batches, "extract", "features: extract (variable length)")
    timed(forward_pass, "feature_batches", "features: feature_batches (fixed length; a generator: creation only)")
    timed(forward_pass, "shapes_at_duration", "shape probe: one clip of duration_s")
    timed(layout, "_deviation_over_time", "      deviations")


@contextlib.contextmanager
def phase(name: str, figures: dict[str, float], cpu: dict[str, float]) -> Iterator[None]:
    """Wall time into `figures`, this process's CPU time into `cpu` (one thread: the work itself,
    however many other processes share the cores)."""
    before = TIMES.copy()
    start, start_cpu = time.perf_counter(), time.process_time()
    yield
    figures[name] = time.perf_counter() - start
    cpu[name] = time.process_time() - start_cpu
    spent = {label: TIMES[label] - before[label] for label in TIMES if TIMES[label] > before[label]}
    print(f"   {name}: {figures[name]:.1f} s (CPU {cpu[name]:.1f} s)", flush=True)
    for label, seconds in sorted(spent.items()):
        print(f"      {label:<70} {seconds:7.2f} s", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=50, help="W's corpus size (10 speakers; default 50)")
    parser.add_argument("--budget", default="standard")
    parser.add_argument(
        "--cap",
        type=int,
        help="the budget's utterances per speaker (default: a tenth of each speaker's, as 100 of 1,000 clips)",
    )
    parser.add_argument("--cprofile", type=int, default=0, help="print the N costliest functions of prepare")
    args = parser.parse_args()
    torch.set_num_threads(1)
    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = build_w(Path(tmp) / "w")
        data = f"synthetic:speakers=10,utterances={max(1, args.clips // 10)},duration={DURATION_S}"
        per_speaker = max(1, args.clips // 10)
        cap = args.cap if args.cap is not None else max(1, per_speaker // 10)
        # the budget's cap scaled down with the corpus (no setting names it: the budget is patched)
        BUDGETS[args.budget] = dataclasses.replace(BUDGETS[args.budget], utterances_per_speaker=cap)
        config = {"audit": {"budget": args.budget, "threads": 1}, "model": {"input": {"duration_s": DURATION_S}}}
        audit = open_audit(folder, data, config=config, cache_dir=Path(tmp) / "cache", base_dir=Path(tmp))
        corpus = load_corpus(data, Path.cwd())
        capped = len(audit.corpora.target)
        batch = audit_batch(audit.target, audit.layers, audit.config.audit.batch_size)
        print(
            f"== W, {len(corpus)} clips ({capped} capped), {len(audit.layers)} layers, forward batch {batch}",
            flush=True,
        )
        cpu: dict[str, float] = {}
        with phase("forward-pass floor", figures, cpu):
            forward_floor(audit.target, corpus, batch)
        instrument()
        profile = cProfile.Profile() if args.cprofile else None
        if profile:
            profile.enable()
        corpora = [(TARGET, audit.corpus)]
        with phase("maps pass (capped corpus)", figures, cpu):
            audit.outputs.prepare(corpora)
        with phase("statistics pass (every clip)", figures, cpu):
            audit.probe.prepare([TARGET])
        with phase("prepare() again (all cached)", figures, cpu):
            audit.prepare()
        if profile:
            profile.disable()
        with phase("forward-pass floor again", figures, cpu):
            forward_floor(audit.target, corpus, batch)
    for what, seconds in (("wall", figures), ("CPU", cpu)):
        floor = (seconds["forward-pass floor"] + seconds["forward-pass floor again"]) / 2
        maps, stats = seconds["maps pass (capped corpus)"], seconds["statistics pass (every clip)"]
        print(
            f"   prepare / floor ({what} time): {(maps + stats) / floor:.2f}x  (maps pass {maps / floor:.2f}x, "
            f"statistics pass {stats / floor:.2f}x; floor: the mean of its two runs)",
            flush=True,
        )
    if profile:
        out = io.StringIO()
        pstats.Stats(profile, stream=out).sort_stats("tottime").print_stats(args.cprofile)
        print(out.getvalue())


if __name__ == "__main__":
    main()
