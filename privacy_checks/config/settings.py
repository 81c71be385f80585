"""The settings of one audit: frozen dataclasses, one per thresholds.yaml section.

Each key is declared once, with its default, constraint and doc (see schema.py); ``SECTIONS`` lists
the sections in the order the file and the messages use.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from privacy_checks import validation as checks
from privacy_checks.config.limits import Limits
from privacy_checks.config.model_section import ModelSettings
from privacy_checks.config.schema import Key, keys_of, setting
from privacy_checks.errors import PrivacyInputError
from privacy_checks.threat_model import ACCESS_MODES, ATTACKER_KINDS, BUDGETS, DEFAULT_BUDGET, ENCODER, SCENARIOS
from privacy_checks.validation import Invalid, KeyPath

# Upper bounds far above any sensible value: a typo is a usage error before the run, not an
# overflow in torch.set_num_threads or a MemoryError in the permutation test reported mid-audit.
MAX_SEED = 2**63 - 1  # torch.manual_seed's range
MAX_BATCH = 65_536
MAX_RESAMPLES = 1_000_000  # the p-value's and interval's resolution is far finer than needed at 1e4
MAX_THREADS = 1_024
MAX_EPOCHS = 100_000


@dataclass(frozen=True)
class AuditSettings:
    """What to audit and how: corpus, folds, layers, and the statistics' sample sizes."""

    data: str = setting(
        "synthetic", checks.text, "corpus to audit on, as --privacy-data; a manifest CSV is relative to this file"
    )
    folds: int = setting(5, checks.integer(2, 1000), "speaker-independent folds, 2 to 1,000")
    seed: int = setting(0, checks.integer(0, MAX_SEED), "makes folds, training, bootstrap and permutations repeatable")
    layers: tuple[str, ...] = setting(
        (), checks.texts("layer name patterns"), "globs selecting the layers to audit; [] = every candidate layer"
    )
    batch_size: int = setting(
        32, checks.integer(1, MAX_BATCH), "forward-pass batch size (the most; smaller for large layers)"
    )
    max_map_frames: int = setting(
        256,
        checks.integer(1, MAX_BATCH),
        "longest stored layer map; longer ones are average-pooled over time to this many frames",
        notes=(
            "Whole maps are kept for the budget-capped corpora only. A layer with more frames (wav2vec2's",
            "conv layers: 14,399 on 4.5 s) is pooled over contiguous windows, and its tail-clone and",
            "intercept items skip (they continue T's forward pass on the native map).",
        ),
    )
    bootstrap: int = setting(
        1000, checks.integer(100, MAX_RESAMPLES), "bootstrap resamples over speakers for the interval, 100 to 1,000,000"
    )
    permutations: int = setting(
        1000, checks.integer(100, MAX_RESAMPLES), "speaker->gender permutations for the p-value, 100 to 1,000,000"
    )
    confidence: float = setting(
        0.95,
        checks.real(0.5, 1, low_open=True, high_open=True),
        "confidence level of the interval, between 0.5 and 1",
    )
    aux_data: str | None = setting(
        None, checks.optional_text, "auxiliary corpus for scenarios 1, 3 and 4, as --privacy-aux-data (null: skip them)"
    )
    scenarios: tuple[str, ...] = setting(
        (),
        checks.names(tuple(SCENARIOS), "scenario names"),
        "worst_case, scenario_1 ... scenario_4 (Table 1); [] = all, as --privacy-scenarios",
    )
    attackers: tuple[str, ...] = setting(
        (), checks.names(ATTACKER_KINDS, "attacker kinds"), "generic, application_aware; [] = the budget's"
    )
    budget: str = setting(
        DEFAULT_BUDGET, checks.choice(tuple(BUDGETS)), "quick | standard | thorough, as --privacy-budget"
    )
    access: tuple[str, ...] = setting(
        (ENCODER,),
        checks.names(ACCESS_MODES, "access modes", allow_empty=False),
        "encoder and/or intercept, as --privacy-access",
        notes=(
            "How the attacker reaches h_T: encoder (it runs T's on-device part: the upper bound that",
            "gates CI) and/or intercept (the paper's protocol: its own full model, h_T fed in).",
        ),
    )
    # torch intra-op threads for the forward passes and attackers. CPU kernels split their sums by
    # thread count, so results repeat bit for bit only at the same count: the default 1 gives the
    # same figures (and verdicts) on every machine, serially and under pytest-xdist, whose -n N
    # then uses the cores. None: all cores in one process (each xdist worker its share), which
    # makes the figures depend on the machine's core count and on -n.
    threads: int | None = setting(
        1,
        checks.optional(checks.integer(1, MAX_THREADS)),
        "torch threads; null: all cores, machine-dependent figures",
        notes=(
            "Results repeat bit for bit only at the same count: 1 gives the same figures on every machine",
            "and under pytest-xdist (use -n auto for the cores); null: all cores in one process (each",
            "xdist worker its share), figures that depend on the machine.",
        ),
    )


@dataclass(frozen=True)
class AttackerSettings:
    """Training of the attacker heads."""

    epochs: int | None = setting(
        None,
        checks.optional(checks.integer(1, MAX_EPOCHS)),
        "most epochs a head trains; null: the budget's (quick 40, standard 60, thorough 100)",
        notes=(
            "A cap: with early stopping (attacker.patience) a head stops once held-out speakers stop",
            "improving, usually well before it.",
        ),
    )
    patience: int = setting(
        5,
        checks.integer(0, MAX_EPOCHS),
        "epochs without a better held-out loss before a head stops; 0: train every epoch",
        notes=(
            "Each head holds out about a fifth of each gender's training speakers, keeps the weights of",
            "its best epoch by their gender loss and stops after this many epochs bring nothing better.",
            "0 trains every epoch up to attacker.epochs on all training speakers (the paper's protocol).",
        ),
    )
    learning_rate: float = setting(1e-3, checks.real(0, low_open=True), "Adam's learning rate, > 0")
    batch_size: int = setting(32, checks.integer(1, MAX_BATCH), "training batch size")
    weight_decay: float = setting(0.0, checks.real(0), "Adam's weight decay, >= 0")
    convex_probe: bool = setting(
        True,
        checks.boolean,
        "a convex probe beside every encoder-access attacker (true/false)",
        notes=(
            "Logistic regression on per-channel statistics of the layer, tuned by inner speaker-disjoint",
            "cross-validation: the item's exposure is the stronger of it and the scenario's head. Turn it",
            "off only to measure the paper's attackers alone (privacy-checks reproduce does).",
        ),
    )


@dataclass(frozen=True)
class ControlSettings:
    """The controls that tell a safe layer from an audit that could not have found anything."""

    positive_min_excess: float = setting(
        0.10,
        checks.real(0, 1),
        "the positive control's least excess (0..1)",
        notes=(
            "The same attacker on T's input features must beat chance by this much, its interval above",
            "chance; otherwise the audit had no power and its items are inconclusive rather than passed.",
        ),
    )
    fail_on_inconclusive: bool = setting(
        True,
        checks.boolean,
        "inconclusive items fail the run (exit 1); false: they are skipped",
        notes=(
            "An item is inconclusive when its interval straddles the limit (limits.rule: interval) or",
            "its attacker had no power; the summary verdict is INCONCLUSIVE either way. false reports",
            "such items as pytest skips, so a run whose only open questions are inconclusive exits 0.",
        ),
    )


@dataclass(frozen=True)
class BaselineSettings:
    """Comparison with the last accepted model's report (--privacy-baseline FILE)."""

    margin: float | None = setting(
        None,
        checks.optional(checks.real(0, 1)),
        "rise of L over the baseline that fails an item even under its limit",
        notes=(
            "null: the combined uncertainty of the two measurements (their 95 % half-widths in",
            "quadrature).",
        ),
    )


# The sections in the order they are documented and listed in messages.
SECTIONS: dict[str, type] = {
    "limits": Limits,
    "audit": AuditSettings,
    "attacker": AttackerSettings,
    "controls": ControlSettings,
    "model": ModelSettings,
    "baseline": BaselineSettings,
}
SECTION_KEYS: dict[str, dict[str, Key]] = {
    name: {key.name: key for key in keys_of(section)} for name, section in SECTIONS.items()
}


@dataclass(frozen=True)
class PrivacyConfig:
    limits: Limits = field(default_factory=Limits)
    audit: AuditSettings = field(default_factory=AuditSettings)
    attacker: AttackerSettings = field(default_factory=AttackerSettings)
    controls: ControlSettings = field(default_factory=ControlSettings)
    model: ModelSettings = field(default_factory=ModelSettings)
    baseline: BaselineSettings = field(default_factory=BaselineSettings)
    source: Path | None = None  # the file read; None = defaults, no file

    def with_overrides(self, origin: str = "override", **sections: Any) -> PrivacyConfig:
        """A copy with some settings replaced, validated like the file's values.

        ``cfg.with_overrides("--privacy-seed", audit={"seed": 3})``. Each section is a mapping of
        field -> value (None values are skipped, so unset command-line options can be passed
        straight through) or a whole section object. Bad values raise PrivacyInputError prefixed
        with ``origin``; unknown section or field names are programming errors (TypeError).
        """
        replaced: dict[str, Any] = {}
        for name, values in sections.items():
            if name not in SECTIONS:
                raise TypeError(f"with_overrides: unknown section {name!r}; valid: {', '.join(SECTIONS)}")
            if isinstance(values, SECTIONS[name]):
                replaced[name] = values
                continue
            keys = SECTION_KEYS[name]
            changes = {}
            for key, value in dict(values).items():
                if key not in keys:
                    raise TypeError(f"with_overrides: unknown field {name}.{key}; valid: {', '.join(keys)}")
                if value is not None:
                    changes[key] = _check_override(origin, keys[key], value, (name, key))
            replaced[name] = dataclasses.replace(getattr(self, name), **changes)
        return dataclasses.replace(self, **replaced)


def _check_override(origin: str, key: Key, value: Any, path: KeyPath) -> Any:
    try:
        return key.check(value, path)
    except Invalid as exc:
        raise PrivacyInputError(f"{origin}: {exc.message}") from None
