"""The convex probe in every encoder-access item (docs/design.md §3): a strong, deterministic attacker
beside the scenario's neural head.

It reads per-channel statistics of a layer over its resolved time axis (mean and standard deviation
per channel; flat features without a time axis) with an L2 logistic regression whose C is chosen by
inner speaker-disjoint cross-validation and which is solved to convergence (attackers/probe.py). It
trains on what the scenario's attacker trains on: the target corpus's speaker folds, or the
auxiliary corpus (its training rows) applied to the target's utterances. Its power is shown on a
reference representation that carries gender in real speech whatever T's input is: log-mel
statistics of the same audio (T's input may be raw samples, where a probe sees nothing).

It reads every utterance of the corpora at every budget, not the budget's per-speaker cap: it is
cheap (a forward pass keeping a few KB of statistics per utterance, a convex fit), and only the
neural heads need the cap. Its predictions, intervals and controls are over the uncapped corpora
(`AuditCorpora.everything`).

Results are memoised per (corpus role, layer, shuffle): every scenario and head of an access mode
that trains on the same corpus shares them, pytest-xdist workers too (engine/shared_results.py).
Intercept access has no probe: that attacker never holds labelled h_T.
"""

from __future__ import annotations

import numpy as np
import torch

from privacy_checks import progress
from privacy_checks.attackers.probe import ProbeFeatureError, cross_validated_probe, transfer_probe
from privacy_checks.engine.corpora import AUX, TARGET, AuditCorpora, TrainingData
from privacy_checks.engine.heap import release_free_memory
from privacy_checks.engine.length_batches import clip_batches
from privacy_checks.engine.representations import LayerOutputs, feature_batches
from privacy_checks.engine.shared_results import SharedArrays
from privacy_checks.features.spec import FeatureSpec
from privacy_checks.model.layout import Layout
from privacy_checks.model.spectra import BANDS, probe_statistics, probe_views
from privacy_checks.seeds import derived_seed
from privacy_checks.threat_model import CONVEX_PROBE

REFERENCE = "log-mel statistics"  # the reference representation of the probe's positive control
_CHUNK = 256  # rows read from a layer's file at a time
# Audio samples featurised at a time for the reference: 256 clips of 4.5 s raised the peak RSS by
# ~620 MB (the STFT's intermediates; W at IEMOCAP's size peaked in this loop), 2**20 samples (14 such
# clips) by ~120 MB, for ~25 % more time in a loop of a few minutes.
_REFERENCE_SAMPLES = 2**20


def reference_spec(sample_rate: int, duration_s: float, variable_length: bool = False) -> FeatureSpec:
    """40 log-mel bands of T's own audio (its rate and clip length), frames first."""
    return FeatureSpec(
        kind="logmel",
        sample_rate=sample_rate,
        duration_s=duration_s,
        layout="sequence",
        variable_length=variable_length,
    )


class ProbeAttack:
    def __init__(
        self,
        corpora: AuditCorpora,
        outputs: LayerOutputs,
        audit_seed: int,
        spec: FeatureSpec,
        shared: SharedArrays | None = None,
    ):
        self.shared = shared or SharedArrays(None)
        self.corpora = corpora.everything  # every utterance, whatever the budget's cap
        # From the statistics pass, not the maps: when the budget's cap left utterances out, at
        # variable length (the maps hold zero padding; the statistics are over valid frames only),
        # and when a layer's maps are pooled (their spread over time is not the native map's).
        self._cap_or_padding = self.corpora is not corpora or spec.variable_length
        self.outputs = outputs
        self.audit_seed = audit_seed
        self.reference = reference_spec(spec.sample_rate, spec.duration_s, spec.variable_length)
        self._reference_rows: dict[str, np.ndarray] = {}  # role -> the reference's statistics
        self._predictions: dict[tuple[str, str, int | None], np.ndarray] = {}

    @property
    def _own_statistics(self) -> bool:
        return self._cap_or_padding or any(self.outputs.pooled(layer) for layer in self.outputs.layers[1:])

    def prepare(self, outputs_roles: list[str]) -> None:
        """The statistics pass over the uncapped corpora of `outputs_roles` (TARGET, AUX), when the
        budget's cap left utterances out; nothing otherwise (the maps give the statistics)."""
        if self._own_statistics:
            roles = [(role, self.corpora.target if role == TARGET else self.corpora.aux) for role in outputs_roles]
            self.outputs.prepare([(role, corpus) for role, corpus in roles if corpus is not None], statistics=True)

    def predictions(self, aux: bool, layer: str | None, shuffle_seed: int | None = None) -> np.ndarray:
        """Gender prediction per target utterance (uncapped: `self.corpora.target`) from `layer`'s
        statistics (None: the reference representation, the positive control), trained on the
        auxiliary corpus or the target's folds; with `shuffle_seed` its genders permuted over
        speakers (the negative control)."""
        data = self.corpora.gender_data(aux, shuffle_seed)
        name = layer if layer is not None else REFERENCE
        key = (data.role, name, shuffle_seed)
        if key not in self._predictions:
            with progress.step(f"convex probe on {name}"):
                shared_key = f"convex probe:{data.role}:{name}:{shuffle_seed}"
                self._predictions[key] = self.shared.get(shared_key, lambda: self._predict(data, name, layer))
        return self._predictions[key]

    def _predict(self, data: TrainingData, name: str, layer: str | None) -> np.ndarray:
        seed = derived_seed(self.audit_seed, f"{CONVEX_PROBE}:{data.role}:{name}")
        try:
            target_x = self._statistics(TARGET, layer)
            views = self._views(layer, target_x.shape[1])
            if data.role == TARGET:
                speakers, folds = self.corpora.target.speakers, self.corpora.folds
                return cross_validated_probe(
                    target_x, data.genders, speakers, folds, seed=seed, views=views
                ).predictions
            rows = self.corpora.aux_train_rows
            assert rows is not None  # an auxiliary corpus has its training rows
            aux_x = self._statistics(AUX, layer)
            aux_speakers = [data.corpus.speakers[row] for row in rows]
            return transfer_probe(
                aux_x[rows], data.genders[rows], aux_speakers, target_x, seed=seed, views=views
            ).predictions
        except ProbeFeatureError:
            # The statistics are the same for every utterance (non-finite layers are errors before
            # any attacker runs): nothing tells the utterances apart, so the probe reads chance.
            return np.zeros(len(self.corpora.target), dtype=np.int64)

    def _views(self, layer: str | None, columns: int) -> list[np.ndarray] | None:
        """The probe's column sets for a layer whose time axis is unknown (model/spectra.py), when
        they cover its statistics' `columns` exactly; None (every column) otherwise."""
        views = None if layer is None else probe_views(self.outputs.layout(layer), self.outputs.stored_shape(layer))
        covered = views is not None and sum(len(view) for view in views) == columns
        return views if covered else None

    def _statistics(self, role: str, layer: str | None) -> np.ndarray:
        """(utterances, features) statistics of `layer` on the `role` corpus, or of the reference.
        Only the reference is kept (it is computed from the audio); a layer's are read from the cache
        when needed, so memory does not grow with the layers (28 MB a 768-wide layer at 4,490 clips)."""
        if layer is not None:
            return self._layer_statistics(role, layer)
        if role not in self._reference_rows:
            self._reference_rows[role] = self._reference(role)
            release_free_memory()  # the clips' synthesis and features, freed batch by batch
        return self._reference_rows[role]

    def _layer_statistics(self, role: str, layer: str) -> np.ndarray:
        if self._own_statistics:
            statistics = self.outputs.statistics(role, layer)
            assert statistics is not None, f"{layer}: the statistics pass over the {role} corpus has not run"
            return np.asarray(statistics)
        stored, layout = self.outputs[role][layer], self.outputs.layout(layer)
        chunks = [
            _statistics(np.asarray(stored[start : start + _CHUNK]), layout) for start in range(0, len(stored), _CHUNK)
        ]
        return np.concatenate(chunks)

    def _reference(self, role: str) -> np.ndarray:
        corpus = self.corpora.target if role == TARGET else self.corpora.aux
        assert corpus is not None
        sequence = Layout(0, 1, (2,))
        clips = max(1, min(_CHUNK, _REFERENCE_SAMPLES // self.reference.n_samples))
        if self.reference.variable_length:  # over each clip's own frames, rows at their corpus index
            rows = np.zeros((len(corpus), 2 * self.reference.n_mels + BANDS), dtype=np.float32)
            for batch in clip_batches(corpus, self.reference, clips, equal_lengths=False, warn=False):
                rows[batch.indices] = probe_statistics(batch.inputs, sequence, batch.steps).numpy()
            return rows
        batches = feature_batches(corpus, self.reference, clips)
        return np.concatenate([probe_statistics(batch, sequence).numpy() for _, batch in batches])


def _statistics(rows: np.ndarray, layout: Layout) -> np.ndarray:
    return probe_statistics(torch.from_numpy(np.ascontiguousarray(rows)), layout).numpy()
