"""`privacy-checks` command line: train a reference SER model, list a checkpoint's layers."""

from __future__ import annotations

import argparse
import collections
import sys
from pathlib import Path

from privacy_checks.errors import PrivacyInputError

USAGE_ERROR = 4  # pytest's usage exit code, so scripts see the same codes as the plugin


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="privacy-checks", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser("train", help="train a zoo SER model for emotion and write a checkpoint")
    train.add_argument("--arch", default="small_vgg", help="zoo architecture (default small_vgg)")
    train.add_argument(
        "--data", default="synthetic:seed=1000", help="training corpus spec (default synthetic:seed=1000)"
    )
    train.add_argument("--epochs", type=int, default=30)
    train.add_argument("--lr", type=float, default=1e-4, help="Adam learning rate (the paper: 1e-4)")
    train.add_argument("--batch-size", type=int, default=32)
    train.add_argument("--seed", type=int, default=0)
    train.add_argument(
        "--width",
        type=float,
        default=None,
        help="scale every channel and unit count of --arch (saved in the checkpoint's arch_kwargs)",
    )
    train.add_argument(
        "--input",
        default=None,
        metavar="KEY=VALUE,...",
        help="input features (stored in the checkpoint), e.g. kind=lld,layout=sequence for lstm_ser, "
        "kind=waveform for wav_transformer (default: 40-bin log-mel image)",
    )
    train.add_argument(
        "--init",
        type=Path,
        default=None,
        help="start from this checkpoint's weights (pretrained weights of the same --arch)",
    )
    train.add_argument("--format", choices=("checkpoint", "pt2", "torchscript", "state_dict"), default="checkpoint")
    train.add_argument("--out", type=Path, required=True)

    layers = commands.add_parser("layers", help="list the interceptable layers of a checkpoint with output shapes")
    layers.add_argument("checkpoint", type=Path)
    layers.add_argument(
        "--config", type=Path, default=None, help="thresholds.yaml (default: ./thresholds.yaml when there is one)"
    )
    layers.add_argument(
        "--trust-checkpoint",
        "--privacy-trust-checkpoint",  # the plugin's name, which the loaders' refusals name
        dest="trust_checkpoint",
        action="store_true",
        help="read a format that can run code (pickle, TorchScript) from a file you trust",
    )

    report = commands.add_parser(
        "report",
        help="re-render report.md, report.html and the plots from a report.json, or merge the report "
        "folders of an audit's shards (--merge)",
    )
    report.add_argument("report_json", type=Path, nargs="?", help="the report.json to re-render")
    report.add_argument(
        "--merge",
        type=Path,
        nargs="+",
        metavar="DIR",
        default=None,
        help="combine the report folders of one audit split over CI jobs (each shard's --privacy-report DIR) "
        "into one report and verdict; exit 0 only when every item of the audit is in a shard and it passes",
    )
    report.add_argument(
        "--out",
        type=Path,
        default=None,
        help="folder to write into (default: the report's folder; with --merge, privacy-report)",
    )
    report.add_argument(
        "--save-baseline",
        type=Path,
        default=None,
        metavar="FILE",
        help="with --merge: write the merged run's baseline (as --privacy-save-baseline does)",
    )

    study = commands.add_parser(
        "reproduce",
        help="rerun the study: train T, attack it in every scenario, write the "
        "paper's tables (Table 2-4, Fig. 3, spontaneity, attackers' accuracies)",
    )
    study.add_argument(
        "--target", default="synthetic", help="target corpus: iemocap:DIR for the paper's protocol (default synthetic)"
    )
    study.add_argument(
        "--aux",
        default="synthetic:seed=1,emotions=8",
        help="auxiliary corpus: ravdess:DIR for the paper's protocol (default synthetic:seed=1,emotions=8)",
    )
    study.add_argument("--out", type=Path, default=Path("reproduction"), help="results folder; a rerun resumes from it")
    study.add_argument(
        "--budget", default="cpu", help="cpu (default: VGG16 at 1/8 width, 10 clips per speaker) or paper"
    )
    study.add_argument(
        "--pretrain",
        default="synthetic:seed=2000",
        help="corpus for the public weights T and the attacker's copy of T start from (the paper: ImageNet)",
    )
    study.add_argument("--seed", type=int, default=0)

    args = parser.parse_args(argv)
    try:
        if args.command == "train":
            from privacy_checks.study.training import train_command

            return train_command(args)
        if args.command == "report":
            if (args.merge is None) == (args.report_json is None):
                report.error("pass either a report.json to re-render or --merge DIR [DIR ...]")
            if args.save_baseline is not None and args.merge is None:
                report.error("--save-baseline goes with --merge (a pytest run writes its own: --privacy-save-baseline)")
            if args.merge is not None:
                return _merge(args.merge, args.out, args.save_baseline)
            return _report(args)
        if args.command == "reproduce":
            return _reproduce(args)
        return _layers(args)
    except PrivacyInputError as exc:
        print(f"privacy-checks: error: {exc}", file=sys.stderr)
        return USAGE_ERROR


def _layers(args) -> int:
    from privacy_checks.config import load_config
    from privacy_checks.config.loading import DEFAULT_CONFIG_NAME
    from privacy_checks.model import load_target

    # as an audit run in this folder would read it: the model's input, factory and layouts live there
    config = load_config(args.config or Path(DEFAULT_CONFIG_NAME), required=args.config is not None)
    target = load_target(args.checkpoint, config.model, args.trust_checkpoint)
    shapes = target.layer_shapes()
    candidates = set(target.candidate_layers())
    layouts = target.layouts()
    excluded = target.excluded_layers()
    print(
        f"{target.path.name}: {target.architecture} ({target.format}), "
        f"input {target.input_spec.kind} {target.input_spec.shape}"
    )
    width = max(len(n) for n in [*shapes, *excluded])
    shape_width = max((len(str(tuple(shape))) for shape in shapes.values()), default=0)
    # a model taking one input duration refuses the survey's other durations at every layer: said once
    refusals = collections.Counter(layout.refusal for layout in layouts.values() if layout.refusal)
    common = {refusal for refusal, count in refusals.items() if count >= _GROUPED}
    for name, shape in shapes.items():
        mark = "*" if name in candidates else " "
        layout = layouts.get(name)
        evidence = layout.evidence if layout else ""
        if layout and layout.refusal in common:
            evidence = evidence.replace(f"({layout.refusal})", "(the refusal below)")
        described = f"  {layout}" + (f"  ({evidence})" if evidence else "") if layout else ""
        print(f"  {mark} {name.ljust(width)}  {str(tuple(shape)).ljust(shape_width)}{described}".rstrip())
    print("  (* = audited by default; shapes per example; axes of the whole output, batch included)")
    for refusal in common:
        print(f"the model refused the survey's longer and shorter inputs: {refusal}")
    if any(layout.time_unknown for layout in layouts.values()):
        print(
            "layers with more than one axis besides the batch and no time axis shown: an item there that would "
            "pass is INCONCLUSIVE until model.layouts in thresholds.yaml declares their axes"
        )
    if excluded:
        print("not split points (model.layouts in thresholds.yaml settles those about axes):")
        by_reason: dict[str, list[str]] = {}
        for name, reason in excluded.items():
            by_reason.setdefault(reason, []).append(name)
        for name, reason in excluded.items():
            shared = by_reason[reason]
            if len(shared) < _GROUPED:
                print(f"  - {name.ljust(width)}  {reason}")
            elif name == shared[0]:  # a reason many modules share: said once, the modules listed under it
                print(f"  - {len(shared)} modules: {reason}:")
                for each in shared:
                    print(f"      {each}")
    return 0


_GROUPED = 4  # modules excluded for one reason (or layers sharing a refusal) from which it is said once


def _reproduce(args) -> int:
    from privacy_checks.study.reproduce import check_budget, run

    check_budget(args.budget)
    tables = run(args.target, args.aux, args.out, args.budget, args.seed, pretrain_spec=args.pretrain)
    print(f"wrote {tables} (results.json, figure3.png and the finished cells beside it)")
    return 0


def _report(args) -> int:
    import json

    from privacy_checks.reporting.folder import check_report_folder, write_report_folder
    from privacy_checks.reporting.report import AuditReport

    try:
        data = json.loads(args.report_json.read_text(encoding="utf-8"))
        if data.get("schema_version") != 1 or not isinstance(data.get("results"), list):
            raise ValueError("not a privacy-checks report.json (schema_version 1 with results)")
        report = AuditReport.from_dict(data)
    except (OSError, ValueError, AttributeError) as exc:
        raise PrivacyInputError(f"{args.report_json}: cannot read the report: {exc}") from None
    except (KeyError, TypeError) as exc:
        raise PrivacyInputError(f"{args.report_json}: cannot read the report: missing or malformed {exc}") from None
    folder = args.out or args.report_json.parent
    same_folder = folder.resolve() == args.report_json.parent.resolve()
    label = "privacy-checks report --out" if args.out else "privacy-checks report: the report's folder"
    check_report_folder(folder, label)
    try:  # the input is never rewritten: without --out its report.json is carried over unchanged
        written = write_report_folder(folder, report, include_json=not same_folder, label=label)
    except OSError as exc:
        raise PrivacyInputError(f"{label} {folder}: cannot write the report: {exc}") from None
    for path in written:
        print(f"wrote {path}")
    return 0


TESTS_FAILED, INTERNAL_ERROR = 1, 3  # pytest's codes, as a shard's own run would exit


def _merge(folders: list[Path], out: Path | None, baseline: Path | None) -> int:
    """`privacy-checks report --merge DIR...`: the shards' reports as one folder, verdict and
    baseline. Exit 0 pass; 1 FAIL or INCONCLUSIVE (as pytest would); 3 an item raised (error rows);
    4 items of the audit in no shard's report (the report is written, INCOMPLETE; no baseline)."""
    from privacy_checks.engine.baseline import is_baseline_file, save_baseline
    from privacy_checks.reporting.folder import check_report_folder, probe_folder, write_report_folder
    from privacy_checks.reporting.merge import merge_shards, read_shard, unclaimed
    from privacy_checks.reporting.report import missing_phrase

    shards = [read_shard(folder) for folder in folders]
    target = out or Path("privacy-report")
    label = "privacy-checks report --merge --out"
    if target.resolve() in {shard.folder.resolve() for shard in shards}:
        raise PrivacyInputError(
            f"{label} {target}: is one of the shards' folders, which the merged report would replace; pass a new "
            "folder, e.g. --out privacy-report."
        )
    check_report_folder(target, label)
    if baseline is not None:
        if baseline.is_dir() or (baseline.exists() and not is_baseline_file(baseline)):
            raise PrivacyInputError(
                f"--save-baseline {baseline}: exists and is not a privacy-checks baseline; refusing to overwrite "
                "it. Pass a new path (e.g. privacy-baseline.json)."
            )
        parent = baseline.parent if str(baseline.parent) else Path(".")
        if not parent.is_dir():
            raise PrivacyInputError(f"--save-baseline {baseline}: no folder {parent}; create it or pass another path.")
        probe_folder("--save-baseline", baseline, parent)
    merged = merge_shards(shards)
    try:
        written = write_report_folder(target, merged, label=label)
    except OSError as exc:
        raise PrivacyInputError(f"{label} {target}: cannot write the report: {exc}") from None
    covered = merged.coverage.planned if merged.coverage else ()
    print(f"merged {len(shards)} shard reports: {len(merged.results)} of the audit's {len(covered)} items")
    for line in merged.lines():
        print(line)
    for path in written:
        print(f"wrote {path}")
    missing = merged.coverage.missing if merged.coverage else ()
    if missing:
        nobody, stopped = unclaimed(shards, missing)
        why = []
        if nobody:
            why.append(
                f"{len(nobody)} in no shard's selection ({missing_phrase(nobody)}): a shard's report folder was not "
                "passed; pass every shard's --privacy-report folder"
            )
        why += [
            f"{len(items)} selected by {folder} but not in its report ({missing_phrase(items)}): that shard stopped "
            "early (-x, a timeout, Ctrl-C); re-run it"
            for folder, items in stopped.items()
        ]
        print(
            f"privacy-checks: error: the merged audit is INCOMPLETE: {len(missing)} of its "
            f"{len(merged.coverage.planned) if merged.coverage else 0} items are in no shard's report: "
            + "; ".join(why)
            + (". No baseline was written." if baseline is not None else "."),
            file=sys.stderr,
        )
        return USAGE_ERROR
    if baseline is not None:
        try:
            save_baseline(baseline, merged.as_dict())
        except OSError as exc:
            raise PrivacyInputError(f"--save-baseline {baseline}: cannot write: {exc}") from None
        print(f"wrote {baseline}")
    tally = merged.tally
    if tally.errors:
        return INTERNAL_ERROR
    relaxed = merged.settings.get("controls", {}).get("fail_on_inconclusive") is False
    return TESTS_FAILED if tally.failed or (tally.inconclusive and not relaxed) else 0


if __name__ == "__main__":
    sys.exit(main())
