"""The README's demo audit, timed on this tree against an earlier commit, in one run.

    .venv/bin/python benchmarks/demo_time.py [--before 9a2354d] [--rounds 1] [-n 2]

Checks out `--before` into a temporary git worktree, then runs the demo command of
`scripts/audit-demo.sh` (`pytest -n 2 --privacy-audit examples/demo_ser.pt --privacy-aux-data
synthetic:seed=1,emotions=8`) from each tree in turn, each in a fresh folder (cold caches), and
prints the wall times and their ratio (issue 12's target: this tree within 1.5x). Rounds alternate
before/after so that a machine slowing down mid-run hurts both sides alike.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
AUX = "synthetic:seed=1,emotions=8"


def plugin_args() -> list[str]:
    """`-p` for the plugin where the tree is only on PYTHONPATH, not installed (a lent GPU machine's
    image): pytest finds installed plugins by their entry point alone."""
    from importlib.metadata import entry_points

    installed = any(point.name == "privacy_checks" for point in entry_points(group="pytest11"))
    return [] if installed else ["-p", "privacy_checks.pytest_plugin.hooks"]


def audit_once(tree: Path, workers: str, keep: Path | None = None) -> tuple[float, Counter]:
    """Seconds for one cold demo audit with the plugin from `tree`, and its items per status; with
    `keep`, its terminal output and report.json are copied there."""
    with tempfile.TemporaryDirectory() as folder:
        env = {**os.environ, "PYTHONPATH": str(tree), "OMP_NUM_THREADS": "1"}
        command = [sys.executable, "-m", "pytest", "-q", "-n", workers, "-p", "no:randomly", *plugin_args()]
        command += ["--privacy-audit", str(tree / "examples" / "demo_ser.pt"), "--privacy-aux-data", AUX]
        command += ["--privacy-report", "report"]
        start = time.perf_counter()
        done = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True)
        seconds = time.perf_counter() - start
        if done.returncode not in (0, 1):
            raise SystemExit(f"{tree}: exit {done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
        report = (Path(folder) / "report" / "report.json").read_text()
        if keep is not None:
            keep.mkdir(parents=True, exist_ok=True)
            (keep / "stdout.txt").write_text(done.stdout)
            (keep / "report.json").write_text(report)
        return seconds, Counter(row["status"] for row in json.loads(report)["results"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", default="9a2354d", help="the commit to compare with")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("-n", dest="workers", default="2", help="pytest-xdist workers, as the demo script")
    parser.add_argument("--keep", type=Path, help="copy this tree's last output and report.json here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        before = Path(tmp) / "before"
        subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(before), args.before], check=True)
        try:
            times: dict[str, list[float]] = {"before": [], "after": []}
            for round_ in range(args.rounds):
                for name, tree in (("before", before), ("after", REPO)):
                    seconds, statuses = audit_once(tree, args.workers, args.keep if name == "after" else None)
                    times[name].append(seconds)
                    print(f"round {round_ + 1} {name:6s} {seconds:7.1f} s  {dict(statuses)}", flush=True)
        finally:
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(before)], check=False)
    best_before, best_after = min(times["before"]), min(times["after"])
    print(f"before ({args.before}): {best_before:.1f} s   after (this tree): {best_after:.1f} s")
    print(f"ratio after / before: {best_after / best_before:.2f}x (target <= 1.5x)")


if __name__ == "__main__":
    main()
