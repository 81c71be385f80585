"""Where attackers train: rows held in memory once (or streamed when over the budget) and a fixed
trunk computed once give the same heads as reading every batch and recomputing every epoch."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from privacy_checks.attackers import LINEAR_PROBE, build_head, cross_validated_predictions, training, training_rows
from privacy_checks.attackers.heads import VGG_HEAD, fixed_trunk
from privacy_checks.config import AttackerSettings
from privacy_checks.engine.row_files import RowFile
from privacy_checks.model.layout import Layout, per_channel_statistics
from tests.test_attackers import make_data

SETTINGS = AttackerSettings(epochs=12, learning_rate=1e-2, batch_size=16, patience=3)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def stored(tmp_path, x: np.ndarray) -> RowFile:
    np.save(tmp_path / "layer.npy", x)
    return RowFile(tmp_path / "layer.npy")


def predictions(kind: str, x, y, folds, speakers) -> np.ndarray:
    make = lambda: build_head(kind, tuple(x.shape[1:]), lambda: None)
    return cross_validated_predictions(make, x, y, folds, SETTINGS, seed=3, speakers=speakers)


@pytest.mark.parametrize("kind", [LINEAR_PROBE, VGG_HEAD])
def test_resident_and_streamed_rows_train_the_same_heads(tmp_path, monkeypatch, kind):
    x, y, speakers, folds = make_data((12, 6), speakers=10, utterances=4)
    resident = predictions(kind, stored(tmp_path, x), y, folds, speakers)
    assert training_rows.training_rows(stored(tmp_path, x), "cpu").resident is not None
    monkeypatch.setattr(training_rows, "RESIDENT_BYTES_CPU", x.nbytes - 1)  # one byte short: streamed
    assert training_rows.training_rows(stored(tmp_path, x), "cpu").resident is None
    streamed = predictions(kind, stored(tmp_path, x), y, folds, speakers)
    np.testing.assert_array_equal(resident, streamed)
    assert (resident == y).mean() > 0.8  # and they read the planted signal


def test_a_fixed_trunk_computed_once_trains_the_same_probe(monkeypatch):
    """The linear probe's time summary is computed once per fold, not every epoch: its weights and
    predictions are those of training the whole head on the maps."""
    x, y, speakers, _folds = make_data((20, 8), speakers=10, utterances=4)
    head = build_head(LINEAR_PROBE, x.shape[1:], lambda: None)
    assert fixed_trunk(head) is head.trunk
    assert fixed_trunk(build_head(VGG_HEAD, x.shape[1:], lambda: None)) is None  # parameters: trained
    rows = np.arange(len(y))
    once = training.train_attacker(
        lambda: build_head(LINEAR_PROBE, x.shape[1:], lambda: None), x, y, rows, SETTINGS, 5, speakers=speakers
    )
    monkeypatch.setattr(training, "fixed_trunk", lambda head: None)
    every_epoch = training.train_attacker(
        lambda: build_head(LINEAR_PROBE, x.shape[1:], lambda: None), x, y, rows, SETTINGS, 5, speakers=speakers
    )
    for (name, a), (_, b) in zip(once.state_dict().items(), every_epoch.state_dict().items()):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5, msg=name)
    assert not once.training and not every_epoch.training
    np.testing.assert_array_equal(training.predict(once, x, rows, "cpu"), training.predict(every_epoch, x, rows, "cpu"))


@settings(max_examples=40, deadline=None)
@given(
    st.integers(1, 3),
    st.integers(1, 2500),
    st.integers(1, 5),
    st.floats(-1e4, 1e4),
    st.floats(1e-3, 1e3),
)
def test_deviation_over_time_matches_float64(batch, steps, channels, offset, scale):
    """Chunked deviations equal float64 torch.std to float32 precision, with a large mean too."""
    generator = torch.Generator().manual_seed(steps * 7 + channels)
    x = torch.randn(batch, channels, steps, generator=generator) * scale + offset  # a Conv1d's (B, C, T)
    layout = Layout(0, 2, (1,))
    got = per_channel_statistics(x, layout)
    exact = x.double()
    expected = torch.cat([exact.mean(2), exact.std(2, correction=0)], dim=1).float()
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5 * (abs(offset) + scale))
