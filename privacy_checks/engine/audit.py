"""The audit engine, free of pytest: target x corpora x config -> one result per audit case.

The orchestrator: it plans the cases and runs each on demand (representations, the attack, its
controls, the verdict, the breakdowns), memoising every result. The pytest layer only asks it for
cases and results, so the same engine serves the CLI and users' own scripts; build one with
:func:`privacy_checks.engine.open_audit`.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from privacy_checks import progress
from privacy_checks.cache_sweep import sweep_once
from privacy_checks.config import PrivacyConfig
from privacy_checks.data import Corpus
from privacy_checks.engine.attacks import Attacks
from privacy_checks.engine.base_checkpoint import load_base_checkpoint
from privacy_checks.engine.baseline import Baseline, check_comparable, comparable_settings
from privacy_checks.engine.breakdowns import breakdowns
from privacy_checks.engine.controls import Controls
from privacy_checks.engine.corpora import AUX, TARGET, AuditCorpora, cap_utterances
from privacy_checks.engine.custom import CustomAttacker
from privacy_checks.engine.describe import describe_corpus, describe_settings
from privacy_checks.engine.domain import Attack, AuditCase
from privacy_checks.engine.encoder_attack import EncoderAttack
from privacy_checks.engine.heap import release_free_memory
from privacy_checks.engine.intercept_attack import InterceptAttack
from privacy_checks.engine.layer_checks import LayerChecks
from privacy_checks.engine.plan import check_labels, check_limit_patterns, custom_cases, plan_cases, select_layers
from privacy_checks.engine.probe_attack import ProbeAttack
from privacy_checks.engine.readings import Readings
from privacy_checks.engine.representations import INPUT_LAYER, EmbeddingStore, LayerOutputs
from privacy_checks.engine.results import ERROR, FAILED, INCONCLUSIVE, PASSED, SKIPPED, CaseResult, ControlResult
from privacy_checks.engine.safe_split import earliest_safe_layer
from privacy_checks.engine.shared_results import SharedArrays
from privacy_checks.engine.skips import skip_reason
from privacy_checks.engine.threads import torch_threads
from privacy_checks.engine.verdict import judge
from privacy_checks.errors import PrivacyInputError
from privacy_checks.model.target import Target
from privacy_checks.seeds import derived_seed
from privacy_checks.threat_model import BUDGETS, SCENARIOS, Access, AttackerKind, Budget, Scenario

# Also importable from here, as before the split (tests, study code, the pytest session).
__all__ = [
    "ERROR",
    "FAILED",
    "INCONCLUSIVE",
    "PASSED",
    "SKIPPED",
    "Audit",
    "CaseResult",
    "ControlResult",
    "cap_utterances",
    "torch_threads",
]


class Audit:
    def __init__(
        self,
        target: Target,
        corpus: Corpus,
        config: PrivacyConfig,
        cache_dir: Path,
        *,
        aux: Corpus | None = None,
        device: str = "cpu",
        custom_attackers: tuple[CustomAttacker, ...] = (),
        base_checkpoint: Path | None = None,
        baseline: Baseline | None = None,
        budget: Budget | None = None,
        shared_dir: Path | None = None,
    ):
        self.target = target
        self.config = config
        self.budget = budget or BUDGETS[config.audit.budget]  # a Budget of one's own: `privacy-checks reproduce`
        self.corpora = AuditCorpora(corpus, aux, self.budget.utterances_per_speaker, config.audit)
        settings = config.attacker
        if settings.epochs is None:
            settings = dataclasses.replace(settings, epochs=self.budget.epochs)
        config_file = str(config.source or "thresholds.yaml")
        candidates = target.candidate_layers()
        self.layers = select_layers(
            candidates, config.audit.layers, target.path.name, f"{config_file}: audit.layers", target.excluded_layers
        )
        check_limit_patterns(candidates, config.limits, target.path.name, config_file)
        if config.model.labels:  # the user's list; a checkpoint's own labels come with its outputs
            check_labels(target, config_file)
        self.has_tail = {layer: target.tail_from(layer) is not None for layer in self.layers}
        scenarios = list(config.audit.scenarios) or list(SCENARIOS)
        kinds = list(config.audit.attackers) or list(self.budget.kinds)
        accesses = tuple(config.audit.access)
        self.cases = plan_cases(self.layers, self.has_tail, target.family, scenarios, kinds, self.budget, accesses)
        base = load_base_checkpoint(base_checkpoint, target) if base_checkpoint else None
        self.baseline = baseline
        if baseline is not None:
            check_comparable(baseline, target.architecture, self.comparable())
        self.scenarios: dict[str, Scenario] = dict(SCENARIOS)
        self.custom_heads: dict[str, CustomAttacker] = {}
        batch_size = config.audit.batch_size
        sweep_once(Path(cache_dir).parent)  # what a killed run left: temporaries, locks
        self.outputs = LayerOutputs(
            target, self.layers, EmbeddingStore(cache_dir), batch_size, device, config.audit.max_map_frames
        )
        self.layer_checks = LayerChecks(self.outputs)
        encoder = EncoderAttack(target, self.corpora, self.outputs, settings, device, self.custom_heads)
        intercept_cache = cache_dir.parent / "intercept-attackers"
        intercept = InterceptAttack(target, self.corpora, self.outputs, settings, device, intercept_cache, base)
        shared = SharedArrays(shared_dir)  # predictions other pytest-xdist workers of the run also need
        self.attacks = Attacks(self.scenarios, self.corpora, encoder, intercept, config.audit.seed, shared)
        self.probe = ProbeAttack(self.corpora, self.outputs, config.audit.seed, target.input_spec, shared)
        self.controls = Controls(self.attacks, self.probe, target, self.corpora, self.budget, config)
        self.readings = Readings(self.attacks, self.probe, self.controls, self.corpora, config, self.budget)
        for custom in custom_attackers:
            self.add_attacker(custom)
        self._results: dict[AuditCase, CaseResult] = {}

    @property
    def corpus(self) -> Corpus:
        return self.corpora.target

    @property
    def aux(self) -> Corpus | None:
        return self.corpora.aux

    def add_attacker(self, custom: CustomAttacker) -> list[AuditCase]:
        """A user's attacker as its own scenario over every audited layer; returns its cases."""
        if custom.name in self.scenarios:
            raise PrivacyInputError(f"custom attacker {custom.name!r}: the name is taken; choose another")
        self.scenarios[custom.name] = Scenario(custom.name, False, False, custom.training_data == "aux")
        self.custom_heads[custom.name] = custom
        added = custom_cases(custom, self.layers)
        self.cases.extend(added)
        return added

    def evaluate(self, custom: CustomAttacker, layer: str, kind: str | None = None) -> CaseResult:
        """One attacker at one layer on the same engine, data and thresholds as the audit."""
        if layer not in self.layers:
            raise PrivacyInputError(f"layer {layer!r} is not audited; audited layers: {', '.join(self.layers)}")
        if custom.name not in self.custom_heads:
            self.add_attacker(custom)
        attack = Attack(custom.name, AttackerKind(kind or custom.kinds[0]), Access.ENCODER, custom.name)
        return self.result(AuditCase(attack, layer, custom.name))

    def prepare(self) -> None:
        """Every layer (and the input) from one forward pass per corpus, or from the disk cache."""
        needs_aux = self.aux is not None and any(self.scenarios[c.scenario].aux_corpus for c in self.cases)
        corpora = [(TARGET, self.corpus)] + ([(AUX, self.aux)] if needs_aux and self.aux is not None else [])
        with torch_threads(self.config.audit.threads):
            self.outputs.prepare(corpora)
            if self.config.attacker.convex_probe and Access.ENCODER in self.config.audit.access:
                self.probe.prepare([role for role, _corpus in corpora])
        release_free_memory()  # the forward passes' freed batches, before the attackers allocate theirs

    def result(self, case: AuditCase) -> CaseResult:
        if case not in self._results:
            with torch_threads(self.config.audit.threads), progress.step(case.name):
                self._results[case] = self._run(case)
            release_free_memory()  # what the item's attackers freed, before the next item allocates
        return self._results[case]

    def computed(self, case: AuditCase) -> CaseResult | None:
        """The case's result if it has been computed (never trains)."""
        return self._results.get(case)

    def results(self) -> list[CaseResult]:
        """Results computed so far, in case order."""
        return [self._results[c] for c in self.cases if c in self._results]

    def skip_reason(self, case: AuditCase) -> str | None:
        return skip_reason(case, self.scenarios[case.scenario], self.corpora, self.target, self.outputs)

    def control(self, case: AuditCase) -> ControlResult:
        """The positive and negative controls of the case's attack (shared by all its layers)."""
        return self.controls.of(case.attack)

    def _run(self, case: AuditCase) -> CaseResult:
        reason = self.skip_reason(case)
        if reason:
            return CaseResult(case, SKIPPED, reason=reason)
        self.prepare()
        # A layer the forward pass could not read, one that emits NaN/inf or one that is constant:
        # its own items are errors naming it (never trained on, never a pass); the other layers go on.
        unreadable = [p for p in (self.outputs.problem(layer) for layer in (case.layer, INPUT_LAYER)) if p]
        if unreadable:
            return CaseResult(case, ERROR, reason="; ".join(unreadable))
        roles = (TARGET, AUX) if self.scenarios[case.scenario].aux_corpus else (TARGET,)
        problem = self.layer_checks.problem(case.layer, roles)
        if problem:
            return CaseResult(case, ERROR, reason=problem)
        seed = derived_seed(self.config.audit.seed, case.name)
        readings = self.readings.of(case, seed)
        verdict = judge(case, readings, self.config, self.baseline)
        unknown = self.target.unknown_time_axis(case.layer) if verdict.status in (PASSED, INCONCLUSIVE) else None
        if unknown:
            axes = self.target.axis_sizes(case.layer)
            if verdict.status == PASSED:  # a pass could understate what a reading over time finds
                reason = unknown_time_reason(case.layer, unknown, axes)
                verdict = dataclasses.replace(verdict, status=INCONCLUSIVE, reason=reason)
            else:  # more speakers is not the only way to decide it
                reason = f"{verdict.reason}. {declare_time_axis(case.layer, unknown, axes)}"
                verdict = dataclasses.replace(verdict, reason=reason)
        exposure = verdict.reading
        assert exposure.predictions is not None
        view = exposure.corpora or self.corpora  # the probe's reading is over every utterance
        by_group = breakdowns(view.target, view.labels, exposure.predictions, seed, self.config.audit)
        return CaseResult(
            case,
            verdict.status,
            exposure.estimate,
            verdict.decision,
            verdict.limit_key,
            verdict.reason,
            readings[0].control,
            by_group,
            verdict.regression,
            tuple(readings),
        )

    def safe_split(
        self, case: AuditCase, among: set[AuditCase] | None = None, computed_only: bool = False
    ) -> str | None:
        """The earliest layer from which every later layer passes for this attack: the split point
        to move to. Only cases in `among` are considered (default: all), so a run narrowed with -k
        trains no attacker it was not asked for; with `computed_only` nothing new is trained and a
        layer not yet measured ends the search (its safety is unknown)."""
        siblings = [c for c in self.cases if c.attack == case.attack and (among is None or c in among)]

        def latest_first():
            for sibling in reversed(siblings):
                unknown = computed_only and sibling not in self._results
                yield sibling.layer, None if unknown else self.result(sibling).status

        return earliest_safe_layer(latest_first())

    def describe_settings(self) -> dict[str, Any]:
        return describe_settings(self.config)

    def describe_corpus(self, corpus: Corpus | None = None) -> dict[str, Any]:
        return describe_corpus(corpus or self.corpus, self.config)

    def comparable(self) -> dict[str, Any]:
        """What a baseline must share with this audit (corpora, result-shaping settings)."""
        aux = self.describe_corpus(self.aux) if self.aux is not None else None
        return comparable_settings(self.describe_corpus(), aux, self.describe_settings())


def unknown_time_reason(layer: str, evidence: str, axes: tuple[int | str, ...]) -> str:
    """Why a layer under the limit is not a pass when its time axis could not be found."""
    return (
        f"{layer} is under the limit as read, but the model accepts one input duration only, so its time axis "
        f"could not be found ({evidence}): read without it (flat, and each axis in turn as time), a layer can "
        f"look less revealing than it is over time; {_declare(layer, axes)}"
    )


def declare_time_axis(layer: str, evidence: str, axes: tuple[int | str, ...]) -> str:
    """The other way to decide an inconclusive item on a layer whose time axis could not be found."""
    return (
        f"Its time axis could not be found (the model accepts one input duration only: {evidence}), and a "
        f"reading over its declared time axis may decide it: {_declare(layer, axes)}"
    )


def _declare(layer: str, axes: tuple[int | str, ...]) -> str:
    """How to declare `layer`'s axes, given its output's (`axes`: sizes, "batch" where the batch is):
    which axis is time is the user's to say, so the example is conditional (a fixed template once
    read a Conv1d's (B, 32, 101) with its channels as time when copied)."""
    sizes = [axis for axis in axes if axis != "batch"]
    longest = max((axis for axis in sizes if isinstance(axis, int)), default=None)
    example = []
    for axis in axes:
        if axis == "batch":
            example.append("batch")
        else:
            example.append("time" if axis == longest and "time" not in example else "features")
    shape = ", ".join(str(axis) for axis in axes)
    return (
        f"declare its axes in thresholds.yaml, one word per axis of its output ({shape}): 'batch' where the "
        "batch is, 'time' for the axis that runs along the clip, 'features' for the others; e.g. "
        f'model: {{layouts: {{"{layer}": "{",".join(example)}"}}}} if its axis of {longest} is time'
    )
