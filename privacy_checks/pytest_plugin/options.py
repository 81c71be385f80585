"""Command-line options parsed into one typed object at configure time (no torch here)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from privacy_checks.validation import did_you_mean

DEVICES = ("auto", "cpu", "cuda")


@dataclass(frozen=True)
class AuditOptions:
    checkpoint: Path  # resolved: what is loaded
    # The checkpoint as given, absolute but links kept (os.path.abspath, as pytest makes its arguments):
    # what pytest collects and names the items after. A link to a file outside the rootdir, resolved,
    # gave the items no file name ("::worst_case[...]").
    collected: Path
    data: str | None  # None: thresholds.yaml audit.data, else the built-in synthetic corpus
    aux_data: str | None  # None: thresholds.yaml audit.aux_data; none at all skips scenarios 1, 3, 4
    scenarios: tuple[str, ...] | None  # None: thresholds.yaml audit.scenarios (all five by default)
    budget: str | None  # None: thresholds.yaml audit.budget
    access: tuple[str, ...] | None  # None: thresholds.yaml audit.access (encoder by default)
    config_path: Path
    config_required: bool  # an explicit --privacy-config must exist; the default may be absent
    report_dir: Path | None
    seed: int | None
    trust_checkpoint: bool
    device: str
    baseline: Path | None = None  # compare every item with this stored baseline
    save_baseline: Path | None = None  # write this run's results as the new baseline

    @classmethod
    def from_pytest(cls, config) -> AuditOptions | None:
        """None when the audit is off; pytest.UsageError for a malformed option."""
        import pytest

        opt = config.option
        if not opt.privacy_audit:
            for name in (
                "privacy_data",
                "privacy_aux_data",
                "privacy_report",
                "privacy_seed",
                "privacy_scenarios",
                "privacy_budget",
                "privacy_access",
                "privacy_baseline",
                "privacy_save_baseline",
            ):
                if getattr(opt, name) is not None:
                    flag = "--" + name.replace("_", "-")
                    raise pytest.UsageError(f"{flag} needs --privacy-audit CHECKPOINT to say which model to audit.")
            return None
        here = Path(config.invocation_params.dir)
        explicit_config = opt.privacy_config is not None
        config_path = here / opt.privacy_config if explicit_config else default_config_path(here, config.rootpath)
        if opt.privacy_device not in DEVICES:  # argparse's choices catch it first; kept for direct callers
            raise pytest.UsageError(
                f"--privacy-device must be one of {', '.join(DEVICES)}, "
                f"got {opt.privacy_device!r}{did_you_mean(opt.privacy_device, DEVICES)}."
            )
        # Where reports and baselines go is probed by session.check_outputs, before anything loads.
        report_dir = (here / opt.privacy_report) if opt.privacy_report else None
        save_baseline = (here / opt.privacy_save_baseline) if opt.privacy_save_baseline else None
        if save_baseline is not None:
            _check_not_a_folder("--privacy-save-baseline", save_baseline)
            _check_replaceable_baseline(save_baseline)
        given = here / opt.privacy_audit
        return cls(
            checkpoint=_absolute(given),
            collected=Path(os.path.abspath(given)),
            data=opt.privacy_data,
            aux_data=opt.privacy_aux_data,
            scenarios=_name_list("--privacy-scenarios", opt.privacy_scenarios, "scenario"),
            access=_name_list("--privacy-access", opt.privacy_access, "access mode"),
            budget=opt.privacy_budget,
            config_path=config_path,
            config_required=explicit_config,
            report_dir=report_dir,
            seed=opt.privacy_seed,
            trust_checkpoint=bool(opt.privacy_trust_checkpoint),
            device=opt.privacy_device,
            baseline=(here / opt.privacy_baseline) if opt.privacy_baseline else None,
            save_baseline=save_baseline,
        )


def default_config_path(here: Path, rootdir: Path) -> Path:
    """thresholds.yaml where pytest was invoked, else in the rootdir (else that path, absent: the
    built-in defaults). The invocation folder first: pytest takes the rootdir from path-like
    arguments, so a model outside the project (`--privacy-audit ../models/m.pt`) moves the rootdir
    to a common ancestor, and the project's own limits would be dropped without a word."""
    for folder in (here, Path(rootdir)):
        candidate = folder / "thresholds.yaml"
        if os.path.lexists(candidate):  # a dangling link or a folder there is reported, not skipped
            return candidate
    return Path(rootdir) / "thresholds.yaml"


def _name_list(flag: str, text: str | None, what: str) -> tuple[str, ...] | None:
    """`worst_case,scenario_2` -> names, checked against the threat model's catalog (a usage error
    lists the valid ones)."""
    if text is None:
        return None
    import pytest

    from privacy_checks.threat_model import ACCESS_MODES, SCENARIOS

    valid = tuple(SCENARIOS) if what == "scenario" else ACCESS_MODES
    names = tuple(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
    unknown = [n for n in names if n not in valid]
    if unknown or not names:
        hint = did_you_mean(unknown[0], valid) if len(unknown) == 1 else ""
        raise pytest.UsageError(
            f"{flag}: unknown {what}(s) {', '.join(unknown) or '(none given)'}; valid: {', '.join(valid)}{hint}"
        )
    return names


def _check_not_a_folder(flag: str, path: Path) -> None:
    import pytest

    if path.is_dir():
        raise pytest.UsageError(f"{flag} {path}: is a folder; pass a file path, e.g. privacy-baseline.json.")


def _check_replaceable_baseline(path: Path) -> None:
    """--privacy-save-baseline replaces an earlier baseline, never another file (a checkpoint, a
    report): a typo must not overwrite the model under audit."""
    import pytest

    from privacy_checks.engine.baseline import is_baseline_file

    if path.exists() and not is_baseline_file(path):
        raise pytest.UsageError(
            f"--privacy-save-baseline {path}: the file exists and is not a privacy-checks baseline; refusing to "
            "overwrite it. Pass a new path (e.g. privacy-baseline.json) or remove that file yourself."
        )


def non_negative_int(text: str) -> int:
    import argparse

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {value}")
    return value


def _absolute(path: Path) -> Path:
    """`path` resolved; as given (absolute) when it cannot be (a symlink loop): the loader then
    names the problem, where Path.resolve would raise before it."""
    try:
        return path.resolve()
    except (RuntimeError, OSError):
        return path.absolute()
