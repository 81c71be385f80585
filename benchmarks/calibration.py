"""Calibration of the instrument at full size (the test suite runs the fast versions:
tests/test_calibration.py).

    .venv/bin/python benchmarks/calibration.py [--seeds 40] [--only null,power,dose,processing]

null: gender_effect=0 over --seeds seeds, 40 speakers x 8 clips, standard budget (generic and
application-aware linear probes at four layers, 1000 bootstrap resamples and permutations): the
share of items flagged at the default rule, with p < 0.05, and whose 95 % CI misses chance, each
with its binomial p against the nominal 5 % (and the share wholly above chance against 2.5 %).
dose-response: the null's settings over six gender effects. power and data processing: the same
corpus size with a CNN head (scenario_2) beside the probe (~4 minutes each). Prints figures, not
verdicts.
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from pathlib import Path

from privacy_checks.study import calibration


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=40)
    parser.add_argument("--only", default="null,power,dose,processing")
    args = parser.parse_args()
    wanted = set(args.only.split(","))
    null_settings = dataclasses.replace(calibration.FULL, scenarios=("worst_case",))
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp)
        checks = {
            "null": lambda: calibration.null_check(range(args.seeds), null_settings, cache=cache),
            "power": lambda: calibration.power_check(settings=calibration.FULL, cache=cache),
            "dose": lambda: calibration.dose_response(
                (0.0, 0.125, 0.25, 0.5, 0.75, 1.0), settings=null_settings, cache=cache
            ),
            "processing": lambda: calibration.processing_check(settings=calibration.FULL, cache=cache),
        }
        for name, run in checks.items():
            if name not in wanted:
                continue
            start = time.perf_counter()
            result = run()
            for line in result.lines():
                print(line)
            print(f"  ({time.perf_counter() - start:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
