"""The standard budget end to end: demo model, a 400-utterance target corpus and a 400-utterance
auxiliary corpus (other speakers, 8 emotions), every scenario, both attacker kinds, every layer.

    .venv/bin/python benchmarks/standard_budget.py [--budget standard] [--aux/--no-aux]

Prints the wall time per phase, the number of items per status, and the time per attacker head
(the figures to compare when tuning budgets; issue 3's target is under 3 minutes on 2 cores), then
the encoder-mode ordering per layer: training on the target corpus leaks at least as much as on the
auxiliary one for the same head (worst_case >= scenario_1, scenario_2 >= scenario_3) "within the
CIs": the order of the point estimates holds, or the two 95 % intervals overlap.
"""

from __future__ import annotations

import argparse
import collections
import tempfile
import time
from pathlib import Path

from privacy_checks.data import load_corpus
from privacy_checks.engine import Audit, open_audit
from privacy_checks.model import load_target

DEMO = Path(__file__).resolve().parent.parent / "examples" / "demo_ser.pt"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--budget", default="standard")
    parser.add_argument("--no-aux", action="store_true")
    parser.add_argument("--threads", default="1", help="audit.threads (default 1, as thresholds.yaml; null: all cores)")
    parser.add_argument("--verbose", action="store_true", help="print every item's time as it finishes")
    args = parser.parse_args()
    start = time.perf_counter()
    target = load_target(DEMO)
    corpus = load_corpus("synthetic", Path.cwd())
    aux = None if args.no_aux else load_corpus("synthetic:seed=1,emotions=8", Path.cwd())
    with tempfile.TemporaryDirectory() as tmp:
        audit = open_audit(
            target,
            corpus,
            config={"audit": {"budget": args.budget, "threads": args.threads}},
            aux=aux,
            cache_dir=Path(tmp),
        )
        audit.prepare()
        prepared = time.perf_counter()
        per_head: dict[str, float] = collections.defaultdict(float)
        statuses = collections.Counter()
        for case in audit.cases:
            t0 = time.perf_counter()
            statuses[audit.result(case).status] += 1
            per_head[f"{case.attacker}/{case.architecture}"] += time.perf_counter() - t0
            if args.verbose:
                print(f"{time.perf_counter() - t0:7.1f} s  {case.name}", flush=True)
    end = time.perf_counter()
    total = end - start
    print(
        f"budget {args.budget}: {len(audit.cases)} items ({dict(statuses)}) on {audit.corpus.name}"
        f"{'' if aux is None else ' + ' + audit.aux.name}"
    )
    print(f"forward passes (all layers, both corpora): {prepared - start:6.1f} s")
    print(f"attackers, controls and statistics:        {end - prepared:6.1f} s")
    print(f"total:                                     {total:6.1f} s   ({total / 180:.2f} x the 3-minute target)")
    for head, seconds in sorted(per_head.items(), key=lambda kv: -kv[1]):
        print(f"  {head:32s} {seconds:6.1f} s")
    if aux is not None:
        print_ordering(audit)


def print_ordering(audit: Audit) -> None:
    results = {
        (r.case.scenario, r.case.attacker, r.case.architecture, r.case.layer): r.estimate
        for r in audit.results()
        if r.estimate is not None
    }
    for own, other in (("worst_case", "scenario_1"), ("scenario_2", "scenario_3")):
        held = strict = total = 0
        for (scenario, kind, head, layer), estimate in results.items():
            rival = results.get((other, kind, head, layer))
            if scenario != own or rival is None:
                continue
            ordered = estimate.leakage >= rival.leakage
            ok = ordered or estimate.ci_high >= rival.ci_low
            held, strict, total = held + ok, strict + ordered, total + 1
            print(
                f"  {kind:17s} {head:12s} {layer:13s} {own} {estimate.leakage:.3f} [{estimate.ci_low:.3f}, "
                f"{estimate.ci_high:.3f}]  {other} {rival.leakage:.3f} [{rival.ci_low:.3f}, {rival.ci_high:.3f}]  "
                f"{'ordered' if ordered else 'within CIs' if ok else 'VIOLATED'}"
            )
        print(
            f"{own} >= {other}: point estimates ordered at {strict}/{total} (kind, head, layer) cells, "
            f"within the CIs at {held}/{total}"
        )


if __name__ == "__main__":
    main()
