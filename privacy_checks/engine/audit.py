"""The audit engine, free of pytest: target x corpora x config -> one result per audit case.

The pytest layer (plugin.py, items.py) only asks this object for cases and results, so the same
engine serves the CLI and users' own scripts.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fnmatch
import hashlib
from pathlib import Path
from typing import Any

import numpy as np

from privacy_checks import progress, stats
from privacy_checks.attackers import build_head, cross_validated_predictions, transfer_predictions
from privacy_checks.attackers.heads import LINEAR_PROBE, TAIL_CLONE
from privacy_checks.attackers.intercept import (
    Adapter,
    Injected,
    ModelCache,
    Moments,
    insertion_points,
    matching_point,
    own_moments,
    source_moments,
)
from privacy_checks.attackers.training import predict, train_attacker
from privacy_checks.config import PrivacyConfig
from privacy_checks.data import Corpus
from privacy_checks.engine.baseline import Baseline, check_comparable, comparable_settings
from privacy_checks.engine.custom import CustomAttacker
from privacy_checks.engine.plan import AuditCase, plan_cases
from privacy_checks.engine.representations import INPUT_LAYER, EmbeddingStore, layer_outputs
from privacy_checks.engine.results import FAILED, INCONCLUSIVE, PASSED, SKIPPED, CaseResult, ControlResult
from privacy_checks.engine.threat_model import (
    APPLICATION_AWARE,
    BUDGETS,
    ENCODER,
    INTERCEPT,
    SCENARIOS,
    Budget,
    Scenario,
)
from privacy_checks.errors import PrivacyInputError
from privacy_checks.model.target import Target, load_target
from privacy_checks.seeds import derived_seed, fold_seed


@contextlib.contextmanager
def torch_threads(count: int | None):
    """torch's intra-op thread count set to `count` (audit.threads) for the block, then restored."""
    import torch

    if count is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def cap_utterances(corpus: Corpus, per_speaker: int | None) -> Corpus:
    """The first `per_speaker` utterances of every speaker, in corpus order (the budget's cap)."""
    if per_speaker is None:
        return corpus
    counts: dict[str, int] = {}
    kept = []
    for utterance in corpus.utterances:
        counts[utterance.speaker] = counts.get(utterance.speaker, 0) + 1
        if counts[utterance.speaker] <= per_speaker:
            kept.append(utterance)
    if len(kept) == len(corpus):
        return corpus
    return dataclasses.replace(
        corpus,
        utterances=tuple(kept),
        name=f"{corpus.name}[{per_speaker}/speaker]",
        fingerprint=hashlib.sha256(f"{corpus.fingerprint}|cap={per_speaker}".encode()).hexdigest(),
    )


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
    ):
        self.target = target
        self.config = config
        self.budget = budget or BUDGETS[config.audit.budget]  # a Budget of one's own: `privacy-checks reproduce`
        cap = self.budget.utterances_per_speaker
        self.corpus = cap_utterances(corpus, cap)
        self.aux = cap_utterances(aux, cap) if aux is not None else None
        self.attacker_settings = config.attacker
        if config.attacker.epochs is None:
            self.attacker_settings = dataclasses.replace(config.attacker, epochs=self.budget.epochs)
        self.store = EmbeddingStore(cache_dir)
        self.device = device
        self.labels = self.corpus.gender_labels
        # Fold validity (both genders, enough speakers) is a usage error, so check it up front.
        self.folds = self._folds(self.corpus)
        # The auxiliary attacker trains on k-1 of k speaker folds of its corpus, as a cross-validated
        # attacker does on the target's: scenario 1 vs worst case then compares corpora, not their sizes.
        self.aux_train_rows = np.flatnonzero(self._folds(self.aux) != 0) if self.aux is not None else None
        if self.aux is not None and set(self.aux.speakers) & set(self.corpus.speakers):
            shared = sorted(set(self.aux.speakers) & set(self.corpus.speakers))
            raise PrivacyInputError(
                f"{self.aux.name}: the auxiliary corpus shares speakers with the target corpus "
                f"({', '.join(shared[:5])}); its attacker must never have heard the audited speakers."
            )
        self.layers = self._select_layers()
        self.has_tail = {layer: target.tail_from(layer) is not None for layer in self.layers}
        scenarios = list(config.audit.scenarios) or list(SCENARIOS)
        kinds = list(config.audit.attackers) or list(self.budget.kinds)
        self.cases = plan_cases(
            self.layers, self.has_tail, target.family, scenarios, kinds, self.budget, tuple(config.audit.access)
        )
        self.base_checkpoint = _base_checkpoint(base_checkpoint, target) if base_checkpoint else None
        self._intercept_cache = ModelCache(cache_dir.parent / "intercept-attackers")
        self._intercept_models: dict[str, Any] = {}
        self._moments: dict[tuple, Moments] = {}
        self._architectures: dict[tuple, Any] = {}  # intercept heads: repr and insertion points
        self.baseline = baseline
        if baseline is not None:
            check_comparable(baseline, target.architecture, self.comparable())
        self.scenarios = dict(SCENARIOS)
        self.custom_heads: dict[str, CustomAttacker] = {}
        for custom in custom_attackers:
            self.add_attacker(custom)
        self._results: dict[AuditCase, CaseResult] = {}
        self._controls: dict[tuple, ControlResult] = {}
        self._outputs: dict[str, dict[str, np.ndarray]] = {}

    def add_attacker(self, custom: CustomAttacker) -> list[AuditCase]:
        """A user's attacker as its own scenario over every audited layer; returns its cases."""
        if custom.name in self.scenarios:
            raise PrivacyInputError(f"custom attacker {custom.name!r}: the name is taken; choose another")
        self.scenarios[custom.name] = Scenario(custom.name, False, False, custom.training_data == "aux")
        self.custom_heads[custom.name] = custom
        added = [
            AuditCase(custom.name, kind, ENCODER, custom.name, layer, custom.name)
            for kind in custom.kinds
            for layer in self.layers
        ]
        self.cases.extend(added)
        return added

    def evaluate(self, custom: CustomAttacker, layer: str, kind: str | None = None) -> CaseResult:
        """One attacker at one layer on the same engine, data and thresholds as the audit (the
        `privacy_audit` fixture's entry point for teams writing their own audit tests)."""
        if layer not in self.layers:
            raise PrivacyInputError(f"layer {layer!r} is not audited; audited layers: {', '.join(self.layers)}")
        if custom.name not in self.custom_heads:
            self.add_attacker(custom)
        name = custom.name
        return self.result(AuditCase(name, kind or custom.kinds[0], ENCODER, name, layer, name))

    def _folds(self, corpus: Corpus) -> np.ndarray:
        """Speaker-independent folds; leave-one-group-out where the corpus defines its folds
        (IEMOCAP's sessions, as the paper does)."""
        try:
            if corpus.fold_groups:
                groups = [getattr(u, corpus.fold_groups) for u in corpus.utterances]
                return stats.group_folds(groups, corpus.speakers, corpus.gender_labels)
            return stats.speaker_folds(
                corpus.speakers, corpus.gender_labels, self.config.audit.folds, self.config.audit.seed
            )
        except PrivacyInputError as exc:
            raise PrivacyInputError(f"{corpus.name}: {exc}") from None

    def _select_layers(self) -> list[str]:
        candidates = self.target.candidate_layers()
        patterns = self.config.audit.layers
        if not patterns:
            return candidates
        for pattern in patterns:
            if not any(fnmatch.fnmatchcase(layer, pattern) for layer in candidates):
                raise PrivacyInputError(
                    f"audit.layers: {pattern!r} matches no candidate layer of {self.target.path.name}; "
                    f"candidates: {', '.join(candidates)}"
                )
        return [layer for layer in candidates if any(fnmatch.fnmatchcase(layer, p) for p in patterns)]

    # -- representations --------------------------------------------------------------------

    def _needs_aux(self) -> bool:
        return self.aux is not None and any(self.scenarios[c.scenario].aux_corpus for c in self.cases)

    def prepare(self) -> None:
        """Every layer (and the input) from one forward pass per corpus, or from the disk cache."""
        with torch_threads(self.config.audit.threads):
            self._prepare()

    def _prepare(self) -> None:
        corpora = [("target", self.corpus)] + ([("aux", self.aux)] if self._needs_aux() else [])
        for role, corpus in corpora:
            if role not in self._outputs:
                with progress.step(f"{role} corpus"):
                    self._outputs[role] = layer_outputs(
                        self.target,
                        corpus,
                        [INPUT_LAYER, *self.layers],
                        self.store,
                        batch_size=self.config.audit.batch_size,
                        device=self.device,
                    )

    # -- results ----------------------------------------------------------------------------

    def result(self, case: AuditCase) -> CaseResult:
        if case not in self._results:
            with torch_threads(self.config.audit.threads), progress.step(case.name):
                self._results[case] = self._run(case)
        return self._results[case]

    def computed(self, case: AuditCase) -> CaseResult | None:
        """The case's result if it has been computed (never trains)."""
        return self._results.get(case)

    def results(self) -> list[CaseResult]:
        """Results computed so far, in case order."""
        return [self._results[c] for c in self.cases if c in self._results]

    def skip_reason(self, case: AuditCase) -> str | None:
        scenario = self.scenarios[case.scenario]
        if scenario.aux_corpus and self.aux is None:
            return (
                f"{case.scenario} trains the attacker on an auxiliary corpus: pass --privacy-aux-data SPEC "
                "(or set audit.aux_data in thresholds.yaml)"
            )
        if case.access == INTERCEPT and case.architecture == TAIL_CLONE:
            if self.target.fresh_model() is None:
                return (
                    f"intercept access needs T's architecture to build the attacker's own copy, and "
                    f"{self.target.path.name} ({self.target.format}) does not say what it is"
                )
            if not self.has_tail[case.layer]:
                return (
                    f"{case.layer} is T's output layer: in the attacker's own copy of T it is the gender "
                    "output, so there is no later layer to feed h_T into"
                )
        training = self.aux if scenario.aux_corpus else self.corpus
        if case.attacker == APPLICATION_AWARE and not _has_emotions(training):
            return (
                f"the application-aware attacker learns the emotions of its training corpus, and "
                f"{training.name} has no emotion label for every utterance"
            )
        return None

    def _run(self, case: AuditCase) -> CaseResult:
        reason = self.skip_reason(case)
        if reason:
            return CaseResult(case, SKIPPED, reason=reason)
        self.prepare()
        seed = derived_seed(self.config.audit.seed, case.name)
        predictions = _gender(self._attack(case, case.layer, seed))
        estimate = self._estimate(predictions, seed)
        limits = self.config.limits
        max_excess, key = limits.lookup(case.scenario, case.attacker, case.layer)
        decision = stats.decide(estimate, max_excess, limits.rule)
        control = self.control(case)
        status, why = decision.status, ""
        # A significant leak proves the attacker's power; only a pass needs the positive control.
        if status == PASSED and not control.has_power:
            status = INCONCLUSIVE
            why = (
                f"the same attacker on T's input features reaches only L={control.positive.leakage:.3f} "
                f"(chance {control.positive.chance:.3f}; controls.positive_min_excess {control.min_excess}): "
                "the audit could not have found leakage here"
            )
        regression = None
        if self.baseline is not None:
            regression = self.baseline.compare(
                case.name, estimate.leakage, estimate.ci_low, estimate.ci_high, self.config.baseline.margin
            )
            if regression is not None and regression.regressed and status != FAILED:
                status = FAILED
                why = (
                    f"leakage rose from {regression.before:.3f} to {regression.after:.3f} against the baseline "
                    f"{self.baseline.path.name} (+{regression.rise:.3f} > {regression.allowed:.3f}, the {regression.basis})"
                )
        return CaseResult(
            case, status, estimate, decision, key, why, control, self._breakdowns(predictions, seed), regression
        )

    def _estimate(self, predictions: np.ndarray, seed: int) -> stats.LeakageEstimate:
        audit = self.config.audit
        return stats.estimate_leakage(
            self.labels,
            predictions,
            self.corpus.speakers,
            self.folds,
            seed=seed,
            n_bootstrap=audit.bootstrap,
            n_permutations=audit.permutations,
            confidence=audit.confidence,
        )

    def _attack(
        self, case: AuditCase, layer: str, seed: int, shuffle_genders: bool = False, architecture: str | None = None
    ) -> np.ndarray:
        """Gender prediction per target utterance (an (N, 2) array with the emotion prediction when
        an application-aware attacker is cross-validated on the target corpus)."""
        if case.access == INTERCEPT:
            return self._intercepted(case, layer, shuffle_genders)
        scenario = self.scenarios[case.scenario]
        role, corpus = ("aux", self.aux) if scenario.aux_corpus else ("target", self.corpus)
        train_x = self._outputs[role][layer]
        genders = corpus.gender_labels
        if shuffle_genders:
            genders = corpus.shuffled_gender_labels(seed)
        emotions = _emotion_labels(corpus) if case.attacker == APPLICATION_AWARE else None
        outputs = (2,) if emotions is None else (2, len(corpus.emotions))
        make_head = self._head_factory(architecture or case.architecture, tuple(train_x.shape[1:]), layer, outputs)
        if scenario.aux_corpus:
            return transfer_predictions(
                make_head,
                train_x,
                genders,
                self._outputs["target"][layer],
                self.attacker_settings,
                seed,
                self.device,
                train_emotions=emotions,
                train_rows=self.aux_train_rows,
            )
        return cross_validated_predictions(
            make_head, train_x, genders, self.folds, self.attacker_settings, seed, self.device, emotions=emotions
        )

    def _head_factory(self, architecture: str, shape: tuple[int, ...], layer: str, outputs: tuple[int, ...]):
        if architecture in self.custom_heads:
            return lambda: self.custom_heads[architecture].build(shape, outputs)
        return lambda: build_head(architecture, shape, lambda: self.target.tail_from(layer), outputs=outputs)

    # -- intercept access ---------------------------------------------------------------------

    def _intercepted(self, case: AuditCase, layer: str, shuffle_genders: bool = False) -> np.ndarray:
        """Intercept access: the attacker's own full model, trained on raw input features of its
        corpus (per fold on the target corpus, once on the auxiliary one), reads T's h_T at the
        matching layer; at INPUT_LAYER it reads raw features (its positive control). One trained
        model per fold serves every layer, so the seed is the attack's, not the case's."""
        scenario = self.scenarios[case.scenario]
        role, corpus = ("aux", self.aux) if scenario.aux_corpus else ("target", self.corpus)
        raw = self._outputs[role][INPUT_LAYER]
        genders = corpus.shuffled_gender_labels(self.config.audit.seed) if shuffle_genders else corpus.gender_labels
        emotions = _emotion_labels(corpus) if case.attacker == APPLICATION_AWARE else None
        outputs = (2,) if emotions is None else (2, len(corpus.emotions))
        head, input_shape = case.attack[3], tuple(raw.shape[1:])
        if head == TAIL_CLONE:
            base = self.base_checkpoint
            make_head = lambda: self.target.fresh_model(outputs, base.module.state_dict() if base else None)
        else:
            make_head = lambda: build_head(head, input_shape, lambda: None, outputs)
        seed = derived_seed(
            self.config.audit.seed, "intercept:" + "/".join(case.attack) + ("/shuffled" if shuffle_genders else "")
        )
        if scenario.aux_corpus:
            splits = [(self.aux_train_rows, np.arange(len(self.corpus)))]
        else:
            splits = [(np.flatnonzero(self.folds != f), np.flatnonzero(self.folds == f)) for f in np.unique(self.folds)]
        columns = 2 if emotions is not None and not scenario.aux_corpus else 1
        predictions = np.full((len(self.corpus), columns), -1, dtype=np.int64)
        targets = genders if emotions is None else (genders, emotions)
        # The architecture (its repr keys the cache) and its insertion points are the same for every
        # fold and layer: built once per head and output set, not once per (fold, layer).
        if (head, outputs) not in self._architectures:
            self._architectures[head, outputs] = repr(make_head())
        architecture = self._architectures[head, outputs]
        base_sha = self.base_checkpoint.fingerprint if self.base_checkpoint and head == TAIL_CLONE else None
        for index, (train, test) in enumerate(splits):
            key = ModelCache.key(
                head=head,
                architecture=architecture,
                input=self.target.input_spec.as_dict(),
                base=base_sha,
                corpus=corpus.fingerprint,
                rows=train,
                genders=genders,
                emotions=emotions,
                settings=dataclasses.asdict(self.attacker_settings),
                seed=fold_seed(seed, index),
            )
            with progress.step(f"fold {index + 1}/{len(splits)}" if len(splits) > 1 else "auxiliary corpus"):
                model = self._intercept_model(key, head, make_head, raw, targets, train, fold_seed(seed, index))
            if layer == INPUT_LAYER:
                reader, x = model, self._outputs["target"][INPUT_LAYER]
            else:
                point, shape = self._insertion(head, outputs, model, layer, input_shape)
                own = self._own_moments(key, model, raw, train, point)
                source = self._source_moments(layer, shape)
                reader = Injected(model, point, Adapter(shape, source, own), input_shape).to(self.device)
                x = self._outputs["target"][layer]
            predicted = predict(reader, x, test, self.device)
            predicted = np.stack(predicted, axis=1) if isinstance(predicted, tuple) else predicted[:, None]
            predictions[test] = predicted[:, :columns]
        return predictions[:, 0] if columns == 1 else predictions

    def _intercept_model(self, key: str, head: str, make_head, raw, targets, train, seed: int):
        """Trained once per key: from memory, else the disk cache (across runs), else trained."""
        if key not in self._intercept_models:
            model = self._intercept_cache.load(key, make_head)
            if model is None:
                # T's own architecture sees raw features as T does (from the same public weights).
                model = train_attacker(
                    make_head,
                    raw,
                    targets,
                    train,
                    self.attacker_settings,
                    seed,
                    self.device,
                    standardize=head != TAIL_CLONE,
                )
                self._intercept_cache.save(key, model)
            self._intercept_models[key] = model.to(self.device).eval()
        return self._intercept_models[key]

    def _insertion(
        self, head: str, outputs: tuple[int, ...], model, layer: str, input_shape: tuple[int, ...]
    ) -> tuple[str, tuple[int, ...]]:
        shapes = self.target.layer_shapes()
        if head == TAIL_CLONE:  # the same layer of the attacker's own copy of T
            return layer, tuple(shapes[layer])
        if (head, outputs, "points") not in self._architectures:  # traced once per architecture
            self._architectures[head, outputs, "points"] = insertion_points(model[1], input_shape)
        target_shapes = {name: tuple(shapes[name]) for name in self.target.candidate_layers() if name in shapes}
        point = matching_point(layer, target_shapes, self._architectures[head, outputs, "points"])
        return point.module, point.shape

    def _own_moments(self, key: str, model, raw, train, point: str) -> Moments:
        if (key, point) not in self._moments:
            self._moments[key, point] = own_moments(model, raw, train, [point], self.device)[point]
        return self._moments[key, point]

    def _source_moments(self, layer: str, shape: tuple[int, ...]) -> Moments:
        if (layer, shape) not in self._moments:
            self._moments[layer, shape] = source_moments(self._outputs["target"][layer], shape)
        return self._moments[layer, shape]

    def control(self, case: AuditCase) -> ControlResult:
        """Positive and negative controls of the case's attacker, on T's input features (memoised
        per attacker: every layer of one attack shares them)."""
        if case.attack not in self._controls:
            with progress.step("controls"):
                self._controls[case.attack] = self._control(case)
        return self._controls[case.attack]

    def _control(self, case: AuditCase) -> ControlResult:
        """The attacker on the input: its power, and with genders shuffled over speakers."""
        seed = derived_seed(self.config.audit.seed, "control:" + "/".join(case.attack))
        architecture = case.attack[3]
        if case.access == ENCODER and architecture == TAIL_CLONE and self.target.tail_from(INPUT_LAYER) is None:
            architecture = LINEAR_PROBE  # T cannot rebuild itself from the input
        predicted = self._attack(case, INPUT_LAYER, seed, architecture=architecture)
        gender = _gender(predicted)
        emotion_accuracy = None
        if predicted.ndim == 2:
            emotion_accuracy = float(np.mean(predicted[:, 1] == _emotion_labels(self.corpus)))
        negative = None
        if self.budget.negative_control:
            shuffled = self._attack(case, INPUT_LAYER, seed, shuffle_genders=True, architecture=architecture)
            negative = self._estimate(_gender(shuffled), seed)
        return ControlResult(
            architecture,
            self._estimate(gender, seed),
            negative,
            emotion_accuracy,
            self.config.controls.positive_min_excess,
        )

    def _breakdowns(self, predictions: np.ndarray, seed: int) -> dict[str, Any]:
        """Leakage per emotion (Table 3) and improvised vs scripted, each with a test of equality."""
        gender = predictions
        out: dict[str, Any] = {}
        for name, values in (
            ("emotion", [u.emotion for u in self.corpus.utterances]),
            ("spontaneity", [u.spontaneity for u in self.corpus.utterances]),
        ):
            if sum(v is not None for v in values) == 0:
                continue
            groups = stats.leakage_by_group(
                self.labels, gender, self.corpus.speakers, values, seed=seed, n_bootstrap=self.config.audit.bootstrap
            )
            comparison = stats.compare_groups(
                self.labels,
                gender,
                self.corpus.speakers,
                values,
                seed=seed,
                n_permutations=self.config.audit.permutations,
            )
            out[name] = {"groups": [g.as_dict() for g in groups], "comparison": comparison.as_dict()}
        return out

    # -- summaries --------------------------------------------------------------------------

    def safe_split(
        self, case: AuditCase, among: set[AuditCase] | None = None, computed_only: bool = False
    ) -> str | None:
        """The earliest layer from which every later layer passes for this attack: the split point
        to move to. Only cases in `among` are considered (default: all), so a run narrowed with -k
        trains no attacker it was not asked for; with `computed_only` nothing new is trained and a
        layer not yet measured ends the search (its safety is unknown)."""
        siblings = [c for c in self.cases if c.attack == case.attack and (among is None or c in among)]
        earliest = None
        for sibling in reversed(siblings):
            if computed_only and sibling not in self._results:
                break
            if self.result(sibling).status != PASSED:
                break
            earliest = sibling.layer
        return earliest

    def describe_settings(self) -> dict[str, Any]:
        config = self.config
        return {
            "config_file": str(config.source) if config.source else None,
            "limits": {
                "max_excess": config.limits.max_excess,
                "rule": config.limits.rule,
                "layers": {p: v for p, v in config.limits.layers},
                "overrides": [dataclasses.asdict(o) for o in config.limits.overrides],
            },
            "audit": {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(config.audit).items()},
            "attacker": dataclasses.asdict(config.attacker),
            "controls": dataclasses.asdict(config.controls),
            "baseline": dataclasses.asdict(config.baseline),
        }

    def comparable(self) -> dict[str, Any]:
        """What a baseline must share with this audit (corpora, result-shaping settings)."""
        aux = self.describe_corpus(self.aux) if self.aux is not None else None
        return comparable_settings(self.describe_corpus(), aux, self.describe_settings())

    def describe_corpus(self, corpus: Corpus | None = None) -> dict[str, Any]:
        corpus = corpus or self.corpus
        return {
            "name": corpus.name,
            "fingerprint": corpus.fingerprint,
            "utterances": len(corpus),
            "speakers": len(set(corpus.speakers)),
            "female_speakers": corpus.speaker_count("female"),
            "male_speakers": corpus.speaker_count("male"),
            "emotions": list(corpus.emotions),
            "folds": self.config.audit.folds,
        }


def _base_checkpoint(path: Path, target: Target) -> Target:
    """The public pretrained weights (model.base_checkpoint) that an intercept attacker's copy of T
    starts from: a checkpoint of T's own architecture."""
    if not path.is_file():
        raise PrivacyInputError(
            f"model.base_checkpoint: {path} does not exist; give the path to the pretrained "
            "weights (a privacy-checks checkpoint), relative to thresholds.yaml."
        )
    try:
        base = load_target(path)
    except PrivacyInputError as exc:
        raise PrivacyInputError(f"model.base_checkpoint: {exc}") from None
    if base.architecture != target.architecture:
        raise PrivacyInputError(
            f"model.base_checkpoint {path}: architecture {base.architecture!r} is not the audited model's "
            f"{target.architecture!r}; name the pretrained weights T was fine-tuned from."
        )
    return base


def _gender(predictions: np.ndarray) -> np.ndarray:
    """The gender column of a multi-task attacker's (gender, emotion) predictions."""
    return predictions[:, 0] if predictions.ndim == 2 else predictions


def _has_emotions(corpus: Corpus) -> bool:
    return bool(corpus.emotions) and all(u.emotion is not None for u in corpus.utterances)


def _emotion_labels(corpus: Corpus) -> np.ndarray:
    return np.array([corpus.emotions.index(u.emotion) for u in corpus.utterances], dtype=np.int64)
