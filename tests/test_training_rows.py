"""Where attackers train: rows held in memory once (or streamed when over the budget) and a head's
fixed leading part computed once give the same heads as reading every batch and recomputing it at
every step."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from privacy_checks.attackers import LINEAR_PROBE, build_head, cross_validated_predictions, training, training_rows
from privacy_checks.attackers.heads import VGG_HEAD, fixed_part
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


@pytest.mark.parametrize("kind", [LINEAR_PROBE, VGG_HEAD])
def test_a_fixed_leading_part_computed_once_trains_the_same_head(monkeypatch, kind):
    """The linear probe's time summary, or a sequence's move to channels first before a VGG-style
    head's convolutions, is computed once per fold, not at every step: the weights and predictions
    are those of training the whole head on the rows."""
    x, y, speakers, _folds = make_data((20, 8), speakers=10, utterances=4)
    make = lambda: build_head(kind, x.shape[1:], lambda: None)
    head = make()
    fixed = fixed_part(head)
    assert fixed is not None
    assert fixed.prefix is (head.trunk if kind == LINEAR_PROBE else head.trunk[0])
    assert {id(p) for p in fixed.trainable.parameters()} | {id(p) for p in fixed.prefix.parameters()} == {
        id(p) for p in head.parameters()
    }  # shared, not copied: training the rest trains the head
    rows = np.arange(len(y))
    once = training.train_attacker(make, x, y, rows, SETTINGS, 5, speakers=speakers)
    monkeypatch.setattr(training, "fixed_part", lambda head: None)
    every_step = training.train_attacker(make, x, y, rows, SETTINGS, 5, speakers=speakers)
    for (name, a), (_, b) in zip(once.state_dict().items(), every_step.state_dict().items()):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5, msg=name)
    assert not once.training and not every_step.training
    np.testing.assert_array_equal(training.predict(once, x, rows, "cpu"), training.predict(every_step, x, rows, "cpu"))


def test_heads_without_a_fixed_leading_part_train_whole():
    maps = build_head(VGG_HEAD, (2, 6, 12), lambda: None)  # (C, F, T): no layout change before the convolutions
    assert fixed_part(maps) is None
    assert fixed_part(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.LazyLinear(2))) is None  # a user's head


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
