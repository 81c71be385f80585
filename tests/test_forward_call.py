"""ForwardAdapter: a model called by keyword, with lengths / mask / sampling rate, its logits found in
what it returns, and its layers under the model's own names."""

from __future__ import annotations

import copy
from collections import OrderedDict

import pytest
import torch
from torch import nn

from privacy_checks.errors import PrivacyInputError
from privacy_checks.model.forward_call import ForwardAdapter, ForwardCall, logits_of, standardised, valid_mask


class MaskedPool(nn.Module):
    """forward(waveform=..., lengths=..., sr=...) -> {"embedding", "logits"}; pools valid frames only."""

    def __init__(self):
        super().__init__()
        self.frontend = nn.Sequential(nn.Conv1d(1, 8, 5, stride=5), nn.ReLU())
        self.head = nn.Linear(8, 3)
        self.seen: dict[str, object] = {}

    def forward(self, waveform, lengths, sr):
        self.seen = {"lengths": lengths.tolist(), "sr": sr}
        frames = self.frontend(waveform[:, None])  # (B, 8, T/5)
        valid = valid_mask(lengths // 5, frames.shape[-1]).to(frames.dtype)[:, None]
        embedding = (frames * valid).sum(-1) / valid.sum(-1)
        return {"embedding": embedding, "logits": self.head(embedding)}


def test_keywords_lengths_and_sampling_rate_reach_the_model() -> None:
    model = MaskedPool().eval()
    adapter = ForwardAdapter(model, ForwardCall(input="waveform", lengths="lengths", sampling_rate="sr"), 8000)
    out = adapter(torch.randn(2, 100), torch.tensor([100, 40]))
    assert out.shape == (2, 3)
    assert model.seen == {"lengths": [100, 40], "sr": 8000}
    adapter(torch.randn(3, 50))  # no lengths: every example fills the batch
    assert model.seen["lengths"] == [50, 50, 50]


def test_padding_does_not_change_a_masked_models_output() -> None:
    adapter = ForwardAdapter(
        MaskedPool().eval(), ForwardCall(input="waveform", lengths="lengths", sampling_rate="sr"), 16000
    )
    clip = torch.randn(1, 60)
    padded = torch.cat([clip, torch.zeros(1, 90)], dim=1)
    with torch.inference_mode():
        torch.testing.assert_close(adapter(clip), adapter(padded, torch.tensor([60])), atol=1e-6, rtol=0)


def test_layer_names_weights_and_copies_are_the_models_own() -> None:
    model = MaskedPool()
    adapter = ForwardAdapter(model, ForwardCall(input="waveform", lengths="lengths", sampling_rate="sr"), 16000)
    assert [name for name, _ in adapter.named_modules()] == [name for name, _ in model.named_modules()]
    assert adapter.state_dict().keys() == model.state_dict().keys()
    assert adapter.get_submodule("frontend.0") is model.frontend[0]
    adapter.eval()
    assert not model.training and not model.frontend[0].training
    clone = copy.deepcopy(adapter)  # the intercept attacker's fresh copy keeps the sharing
    assert clone._modules is clone.wrapped._modules and clone.wrapped is not model
    assert clone.frontend[0] is not model.frontend[0]


def test_logits_are_found_in_tensors_tuples_dicts_and_model_outputs() -> None:
    logits, other = torch.ones(2, 4), torch.zeros(2, 7)
    assert logits_of(logits, None) is logits
    assert logits_of((logits, other), None) is logits
    assert logits_of((other, logits), 1) is logits
    assert logits_of({"hidden": other, "logits": logits}, None) is logits
    assert logits_of(OrderedDict(pooled=other, scores=logits), "scores") is logits
    assert logits_of({"hidden": other}, None) is other  # no 'logits' key: the first tensor


@pytest.mark.parametrize(
    ("output", "where", "held"),
    [
        ({"hidden": torch.ones(1)}, "logits", "a mapping with keys ['hidden']"),
        ((torch.ones(1),), 3, "a tuple of 1 items"),
        ("text", None, "str"),
    ],
)
def test_a_wrong_output_key_names_the_setting(output, where, held) -> None:
    with pytest.raises(PrivacyInputError) as caught:
        logits_of(output, where, "model.pt")
    assert held in str(caught.value) and "model.forward.output" in str(caught.value)


def test_standardised_waves_ignore_padding() -> None:
    wave = torch.randn(1, 50) * 3 + 2
    padded = torch.cat([wave, torch.zeros(1, 30)], dim=1)
    alone = standardised(wave, torch.tensor([50]))
    both = standardised(padded, torch.tensor([50]))
    torch.testing.assert_close(both[:, :50], alone)
    assert both[:, 50:].abs().max() == 0
    assert abs(float(alone.mean())) < 1e-5 and abs(float(alone.std(correction=0)) - 1) < 1e-3
