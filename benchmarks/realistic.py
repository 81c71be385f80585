"""Issue 14 and 15's realistic workload: W, a wav2vec2-base-size audio classifier, against its own
forward pass; and the same figures for the demo model.

    .venv/bin/python benchmarks/realistic.py [--clips 1000] [--budget standard] [--no-demo | --no-w]

W: transformers' Wav2Vec2Config defaults (7 conv layers of 512 channels, strides 5,2,2,2,2,2,2,
group norm; 12 transformer layers, hidden 768), 4 emotion labels, random weights, saved with
save_pretrained (safetensors) beside a Wav2Vec2FeatureExtractor preprocessor config (16 kHz,
do_normalize true, return_attention_mask false) in a temporary folder, and audited as a user's
Hugging Face folder is. Corpus: synthetic, 10 speakers, --clips clips of 4.5 s (model.input.duration_s
4.5; --duration for others). Printed for each model, in one run:

- the forward-pass floor: features and the model over every clip, inference mode, at the batch the
  audit's forward pass uses (audit.batch_size, smaller for large layers: map_pooling);
- the audit per phase: open_audit (load, plan), prepare() (the forward passes that store every
  layer), then every item;
- the ratio audit / forward pass (open + prepare + items, against the floor), peak RSS
  (resource.ru_maxrss: the process's high-water mark; W runs first, so its figure is W's own), and
  the disk the cache folder takes.
"""

from __future__ import annotations

import argparse
import collections
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

import torch

from privacy_checks.data import load_corpus
from privacy_checks.engine import open_audit
from privacy_checks.engine.forward_pass import feature_batches
from privacy_checks.engine.layer_rows import INPUT_LAYER, Captures
from privacy_checks.engine.length_batches import shapes_at_duration
from privacy_checks.engine.map_pooling import forward_batch_size
from privacy_checks.model import Target

DEMO = Path(__file__).resolve().parent.parent / "examples" / "demo_ser.pt"
DURATION_S = 4.5


def build_w(folder: Path) -> Path:
    """W with random weights, saved as a Hugging Face folder."""
    from transformers import Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2ForSequenceClassification

    labels = ("angry", "happy", "neutral", "sad")
    config = Wav2Vec2Config(
        num_labels=4, id2label=dict(enumerate(labels)), label2id={name: k for k, name in enumerate(labels)}
    )
    torch.manual_seed(0)
    Wav2Vec2ForSequenceClassification(config).eval().save_pretrained(folder, safe_serialization=True)
    Wav2Vec2FeatureExtractor(
        feature_size=1, sampling_rate=16_000, do_normalize=True, return_attention_mask=False
    ).save_pretrained(folder)
    return folder


def peak_rss_mb() -> float:
    scale = 1 if sys.platform == "darwin" else 1024  # bytes on macOS, KiB on Linux
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 2**20


def rss_mb() -> float | None:
    """The resident set now (Linux; None elsewhere)."""
    try:
        return int(Path("/proc/self/statm").read_text().split()[1]) * resource.getpagesize() / 2**20
    except OSError:
        return None


def disk_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 2**20


def audit_batch(target: Target, layers: list[str], most: int) -> int:
    """The batch the audit's forward pass takes (forward_pass: the layers' bytes on one clip)."""
    captures = Captures(target.module, set(layers))
    try:
        with torch.inference_mode():
            shapes = shapes_at_duration(target, target.module, captures, "cpu")
    finally:
        captures.remove()
    return forward_batch_size(shapes, [INPUT_LAYER, *layers], most)


def forward_floor(target: Target, corpus, batch_size: int, device: str) -> float:
    """Features and the model over every clip on `device`, inference mode, nothing kept."""
    module = target.module.to(device)
    start = time.perf_counter()
    with torch.inference_mode():
        for _offset, inputs in feature_batches(corpus, target.input_spec, batch_size):
            module(inputs.to(device))
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return time.perf_counter() - start


def peak_device_mb(device: str) -> float | None:
    return torch.cuda.max_memory_allocated() / 2**20 if device.startswith("cuda") else None


def measure(
    name: str,
    checkpoint: Path,
    data: str,
    config: dict,
    verbose: bool,
    device: str = "cpu",
    floor_run: bool = True,
    kept: Path | None = None,
) -> dict:
    print(f"== {name}: {checkpoint.name}, corpus {data}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        # --cache: a folder kept between runs, so that the items can be profiled again without the
        # forward passes (the model and corpus are seeded: the same cache key every run)
        cache = kept / name.split()[0].lower() if kept is not None else Path(tmp) / "cache"
        start = time.perf_counter()
        audit = open_audit(
            checkpoint, data, config=config, cache_dir=cache / "embeddings", base_dir=Path(tmp), device=device
        )
        opened = time.perf_counter()
        print(f"   opened in {opened - start:.1f} s: {len(audit.cases)} items, {len(audit.layers)} layers", flush=True)
        audit.prepare()
        prepared = time.perf_counter()
        disk = disk_mb(cache)
        print(
            f"   prepare (forward passes with storage): {prepared - opened:.1f} s; cache {disk:.1f} MB; "
            f"peak RSS so far {peak_rss_mb():.0f} MB, now {rss_mb() or 0:.0f} MB",
            flush=True,
        )
        # the floor now, so that a run stopped during the items still has prepare / floor
        batch = audit_batch(audit.target, audit.layers, audit.config.audit.batch_size)
        corpus = load_corpus(data, Path.cwd())
        floor = forward_floor(audit.target, corpus, batch, device) if floor_run else None
        if floor is not None:
            print(
                f"   forward-pass floor ({len(corpus)} clips, batch {batch}): {floor:.1f} s; "
                f"prepare / floor {(prepared - opened) / floor:.2f}x",
                flush=True,
            )
        statuses: collections.Counter[str] = collections.Counter()
        items_start = time.perf_counter()
        peak_by = "prepare"
        for case in audit.cases:
            t0, peak_before = time.perf_counter(), peak_rss_mb()
            statuses[str(audit.result(case).status.value)] += 1
            if peak_rss_mb() > peak_before:
                peak_by = case.name
            if verbose:
                rose = f", peak +{peak_rss_mb() - peak_before:.0f} MB" if peak_rss_mb() > peak_before else ""
                print(
                    f"   {time.perf_counter() - t0:7.1f} s  {case.name}  {audit.result(case).status}  "
                    f"(RSS {rss_mb() or 0:.0f} MB{rose})",
                    flush=True,
                )
        items = time.perf_counter() - items_start
        rss = peak_rss_mb()
        disk = disk_mb(cache)
    audit_s = prepared - start + items  # the floor's own run is not the audit's
    figures = {
        "model": name,
        "clips": len(corpus),
        "items": len(audit.cases),
        "statuses": dict(statuses),
        "forward_batch": batch,
        "open_s": opened - start,
        "prepare_s": prepared - opened,
        "items_s": items,
        "audit_s": audit_s,
        "forward_floor_s": floor,
        "ratio": None if floor is None else audit_s / floor,
        "peak_rss_mb": rss,
        "peak_rss_set_by": peak_by,
        "device": device,
        "peak_device_mb": peak_device_mb(device),
        "cache_disk_mb": disk,
    }
    device_mb = figures["peak_device_mb"]
    device_memory = "" if device_mb is None else f"   peak {device} memory: {device_mb:.0f} MB"
    ratio = "not measured (--no-floor)" if figures["ratio"] is None else f"{figures['ratio']:.2f}x"
    print(
        f"   audit: open {figures['open_s']:.1f} s + prepare {figures['prepare_s']:.1f} s + items "
        f"{items:.1f} s = {audit_s:.1f} s   ({dict(statuses)})\n"
        f"   ratio audit / forward pass: {ratio}\n"
        f"   peak RSS: {rss:.0f} MB (last raised by {peak_by}){device_memory}\n"
        f"   cache on disk (with the intercept attackers' models): {disk:.1f} MB",
        flush=True,
    )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=1000, help="W's corpus size (10 speakers; default 1000)")
    parser.add_argument(
        "--duration",
        type=float,
        default=DURATION_S,
        help=f"W's clip length in seconds (default {DURATION_S}; shorter clips put many clips in a CPU-sized run)",
    )
    parser.add_argument("--budget", default="standard")
    parser.add_argument("--threads", default="1", help="audit.threads (default 1; null: all cores)")
    parser.add_argument("--device", default="cpu", help="the audit's and the floor's device (cuda on a GPU)")
    parser.add_argument("--no-demo", action="store_true", help="W only")
    parser.add_argument("--no-w", action="store_true", help="the demo only")
    parser.add_argument(
        "--no-floor", action="store_true", help="skip the forward-pass floor (no ratio): for memory and disk alone"
    )
    parser.add_argument("--cache", type=Path, help="keep the cache in this folder and reuse it (default: temporary)")
    parser.add_argument("--verbose", action="store_true", help="every item's time as it finishes")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    threads = None if args.threads == "null" else int(args.threads)
    torch.set_num_threads(threads or torch.get_num_threads())
    audit = {"budget": args.budget, "threads": threads}
    floor = not args.no_floor
    results = []
    if not args.no_w:
        with tempfile.TemporaryDirectory() as tmp:  # W first: the peak RSS after it is W's
            folder = build_w(Path(tmp) / "w")
            data = f"synthetic:speakers=10,utterances={max(1, args.clips // 10)},duration={args.duration}"
            config = {"audit": audit, "model": {"input": {"duration_s": args.duration}}}
            results.append(
                measure("W (wav2vec2-base size)", folder, data, config, args.verbose, args.device, floor, args.cache)
            )
    if not args.no_demo:
        results.append(
            measure("demo", DEMO, "synthetic", {"audit": audit}, args.verbose, args.device, floor, args.cache)
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
