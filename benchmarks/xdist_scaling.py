"""Issue 15's worker target: the demo audit at the standard budget, serially and on pytest-xdist
workers, in one run; prints each wall time, the speed-up, and whether the reports agree.

    .venv/bin/python benchmarks/xdist_scaling.py [-n 2] [--rounds 1]

The demo command of demo_time.py (`--privacy-aux-data synthetic:seed=1,emotions=8`, so all five
scenarios run; `audit.threads` 1, OMP_NUM_THREADS 1), each run in a fresh folder (cold caches:
every run does its own forward passes). Targets: `-n 2` >= 1.7x serial on 2 cores, `-n 4` >= 3x on
4 cores. Rounds alternate serial and parallel, so a machine slowing down hurts both alike.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from demo_time import REPO, audit_once


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", dest="workers", default="2", help="pytest-xdist workers of the parallel run")
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    times: dict[str, list[float]] = {"serial": [], "parallel": []}
    with tempfile.TemporaryDirectory() as tmp:
        reports = {}
        for round_ in range(args.rounds):
            for name, workers in (("serial", "0"), ("parallel", args.workers)):
                keep = Path(tmp) / name
                seconds, statuses = audit_once(REPO, workers, keep)
                times[name].append(seconds)
                reports[name] = json.loads((keep / "report.json").read_text())["results"]
                print(f"round {round_ + 1} {name:8s} (-n {workers}) {seconds:7.1f} s  {dict(statuses)}", flush=True)
    serial, parallel = min(times["serial"]), min(times["parallel"])
    same = reports["serial"] == reports["parallel"]
    print(f"serial: {serial:.1f} s   -n {args.workers}: {parallel:.1f} s   speed-up {serial / parallel:.2f}x")
    print(f"reports identical (every row, every figure): {same}")


if __name__ == "__main__":
    main()
