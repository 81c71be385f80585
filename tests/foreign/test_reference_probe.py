"""The yardstick is calibrated: the reference probe sees gender where the synthetic corpus puts it
(early layers of every foreign model) and reads chance where it does not (gender_effect=0)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from privacy_checks.data import load_corpus
from tests.foreign.models import FOREIGN_MODELS
from tests.foreign.reference_probe import LayerView, channel_statistics, probe, reference_probe, summary

DURATION = 1.0
CORPUS = "synthetic:speakers=16,utterances=6,duration={duration},gender_effect={effect}"
# Early split points of each model, at least one per layout the model has.
EARLY_LAYERS = {
    "channels_first_cnn": ("conv1.2", "conv2.2"),  # the layers issue 12 saw pass
    "time_first_transformer": ("embed", "encoder.layers.0"),
    "waveform_frontend": ("feature_encoder.0.activation", "feature_encoder.1.layer_norm"),
    "packed_gru": ("frontend.1", "gru"),
}


@pytest.fixture(scope="module")
def corpora(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpora")
    return {effect: load_corpus(CORPUS.format(duration=DURATION, effect=effect), root) for effect in (0, 1)}


def _early_scores(name: str, corpus):
    model = FOREIGN_MODELS[name]
    views = [v for v in model.views if v.key in EARLY_LAYERS[name]]
    assert [v.key for v in views] == list(EARLY_LAYERS[name])
    with _one_thread():
        return reference_probe(model.build(), model.input_spec(DURATION), corpus, views)


@contextlib.contextmanager
def _one_thread() -> Iterator[None]:
    """Tiny models on a busy machine: a second OpenMP thread only waits on its peer."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("name", list(EARLY_LAYERS))
def test_probe_reads_gender_at_early_layers_and_chance_without_it(name, corpora):
    leaky = _early_scores(name, corpora[1])
    assert all(s.balanced_accuracy >= 0.85 for s in leaky.values()), summary(leaky)
    null = _early_scores(name, corpora[0])
    for score in null.values():
        assert score.balanced_accuracy <= 0.65 and score.ci_low <= 0.5 <= score.ci_high, summary(null)


def test_time_axis_is_read_where_declared():
    batch_time = torch.randn(3, 7, 5)
    as_declared = channel_statistics(batch_time, LayerView("x", batch_axis=0, time_axis=1))
    time_first = channel_statistics(batch_time.permute(1, 0, 2), LayerView("x", batch_axis=1, time_axis=0))
    channels_first = channel_statistics(batch_time.transpose(1, 2), LayerView("x", batch_axis=0, time_axis=2))
    np.testing.assert_allclose(time_first, as_declared)
    np.testing.assert_allclose(channels_first, as_declared)
    assert as_declared.shape == (3, 10)  # mean and std of 5 channels
    np.testing.assert_allclose(as_declared[:, :5], batch_time.double().mean(dim=1).numpy())


def test_probe_is_deterministic_and_perfect_on_a_separable_feature():
    rng = np.random.default_rng(0)
    speakers = [f"s{i // 4}" for i in range(48)]  # 12 speakers x 4
    genders = np.array([(i // 4) % 2 for i in range(48)])
    features = rng.normal(size=(48, 6))
    features[:, 0] += 10.0 * genders
    first = probe(features, genders, speakers, seed=3)
    assert first == probe(features, genders, speakers, seed=3)
    assert first.balanced_accuracy == 1.0


def test_every_declared_view_names_a_module_of_its_model():
    for name, model in FOREIGN_MODELS.items():
        if model.needs:
            pytest.importorskip(model.needs)
        modules = dict(model.build().named_modules())
        assert {v.module for v in model.views} <= set(modules), name


def test_factories_are_deterministic_and_leave_the_global_generator_alone():
    before = torch.random.get_rng_state()
    first = FOREIGN_MODELS["channels_first_cnn"].build().state_dict()
    second = FOREIGN_MODELS["channels_first_cnn"].build().state_dict()
    assert all(torch.equal(first[key], second[key]) for key in first)
    assert torch.equal(torch.random.get_rng_state(), before)


def test_corpus_path_is_unused_by_the_synthetic_corpus(tmp_path: Path, corpora):
    # The audit test loads the same spec from another folder and must get the same corpus.
    again = load_corpus(CORPUS.format(duration=DURATION, effect=1), tmp_path)
    assert again.fingerprint == corpora[1].fingerprint
