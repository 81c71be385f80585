"""Issue 2's acceptance at full size: the demo model on the default synthetic corpus (400
utterances) with gender_effect=1 and gender_effect=0, every layer, the worst-case generic attacker
(5 folds, 15 epochs, all utterances, 1000 bootstrap resamples and permutations).

    .venv/bin/python benchmarks/acceptance_full.py

Prints the per-layer table for both corpora and checks: the first conv block (features.3) leaks by
at least 0.25 over chance at gender_effect=1; at gender_effect=0 every layer's CI contains chance and
nothing fails. Takes several minutes on 2 cores.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from privacy_checks.engine import open_audit

DEMO = Path(__file__).resolve().parent.parent / "examples" / "demo_ser.pt"
# thorough = every utterance; it also adds a linear-probe baseline, left out of this table
CONFIG = {
    "audit": {"scenarios": ["worst_case"], "attackers": ["generic"], "budget": "thorough"},
    "attacker": {"epochs": 15},
}


def audit(data: str, cache: Path) -> dict:
    engine = open_audit(DEMO, data, config=CONFIG, cache_dir=cache, base_dir=Path.cwd())
    results = {case.layer: engine.result(case) for case in engine.cases if case.planned_head == "tail_clone"}
    print(f"\n{engine.corpus.name}")
    for layer, r in results.items():
        e = r.estimate
        print(
            f"  {layer:13s} L={e.leakage:.3f} CI=[{e.ci_low:.3f}, {e.ci_high:.3f}] chance={e.chance:.3f} "
            f"p={e.p_value:.4f} {r.status}"
        )
    return results


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        leaky = audit("synthetic:gender_effect=1", Path(tmp))
        null = audit("synthetic:gender_effect=0", Path(tmp))
    first = leaky["features.3"].estimate
    checks = {
        "features.3 leaks >= chance + 0.25 at gender_effect=1": first.leakage >= first.chance + 0.25,
        "every CI contains chance at gender_effect=0": all(
            r.estimate.ci_low <= r.estimate.chance <= r.estimate.ci_high for r in null.values()
        ),
        "no item fails at gender_effect=0": all(r.status != "failed" for r in null.values()),
    }
    print()
    for name, ok in checks.items():
        print(f"{'ok  ' if ok else 'FAIL'} {name}")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
