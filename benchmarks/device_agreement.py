"""Issue 15's agreement check: the same audit on the CPU and on a GPU gives the same verdicts, and each
item's leakage L read on one device lies within the other's interval.

    PYTHONPATH=. python3 benchmarks/device_agreement.py [--device cuda] [--budget quick] [--json F]

Model: the demo checkpoint (or --checkpoint); corpus: the built-in synthetic one (or --data); the
audit's settings otherwise its defaults (audit.threads 1). Both runs use the same seed. Printed: one
line per item (status and L with its interval on each device), the items that disagree, the time of
each run, and exit status 0 when every item agrees, 1 otherwise. The GPU is never needed for
anything else: `--device cpu` compares two CPU runs (a dry run of the script; they agree bit for bit).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from privacy_checks.engine import open_audit

DEMO = Path(__file__).resolve().parent.parent / "examples" / "demo_ser.pt"


def run(checkpoint: Path, data: str, budget: str, device: str, folder: Path) -> tuple[dict[str, dict], float]:
    start = time.perf_counter()
    audit = open_audit(
        checkpoint, data, config={"audit": {"budget": budget}}, cache_dir=folder / device / "embeddings", device=device
    )
    audit.prepare()
    rows = {}
    for case in audit.cases:
        row = audit.result(case).row()
        figures = row.estimate
        rows[row.id] = {
            "status": str(row.status.value),
            "leakage": None if figures is None else figures.leakage,
            "ci_low": None if figures is None else figures.ci_low,
            "ci_high": None if figures is None else figures.ci_high,
        }
    return rows, time.perf_counter() - start


def disagreement(cpu: dict, other: dict) -> str | None:
    """Why two readings of one item disagree, or None."""
    if cpu["status"] != other["status"]:
        return f"status {cpu['status']} vs {other['status']}"
    if cpu["leakage"] is None or other["leakage"] is None:
        return None if cpu["leakage"] is other["leakage"] else "measured on one device only"
    if not cpu["ci_low"] <= other["leakage"] <= cpu["ci_high"]:
        return f"L {other['leakage']:.3f} outside the CPU interval [{cpu['ci_low']:.3f}, {cpu['ci_high']:.3f}]"
    if not other["ci_low"] <= cpu["leakage"] <= other["ci_high"]:
        return f"CPU L {cpu['leakage']:.3f} outside [{other['ci_low']:.3f}, {other['ci_high']:.3f}]"
    return None


def _shown(reading: dict) -> str:
    if reading["leakage"] is None:
        return "not measured"
    return f"{reading['leakage']:.3f} [{reading['ci_low']:.3f}, {reading['ci_high']:.3f}]"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda", help="compared with the CPU (default cuda)")
    parser.add_argument("--checkpoint", type=Path, default=DEMO)
    parser.add_argument("--data", default="synthetic")
    parser.add_argument("--budget", default="quick")
    parser.add_argument("--json", type=Path, help="also write both runs' rows and the verdict here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cpu, cpu_s = run(args.checkpoint, args.data, args.budget, "cpu", Path(tmp))
        other, other_s = run(args.checkpoint, args.data, args.budget, args.device, Path(tmp))
    problems = {}
    for item in cpu:
        if item not in other:
            problems[item] = f"not run on {args.device}"
            continue
        reason = disagreement(cpu[item], other[item])
        if reason:
            problems[item] = reason
        c, o = cpu[item], other[item]
        print(f"{item:55s} cpu {c['status']:12s} {_shown(c):26s} {args.device} {o['status']:12s} {_shown(o)}")
    print(f"\ncpu run {cpu_s:.1f} s; {args.device} run {other_s:.1f} s; {len(cpu)} items")
    for item, reason in problems.items():
        print(f"DISAGREES  {item}: {reason}")
    print("AGREE: same verdicts, each L within the other device's interval" if not problems else "DISAGREE")
    if args.json:
        args.json.write_text(json.dumps({"cpu": cpu, args.device: other, "disagreements": problems}, indent=2))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
