"""How to call a model whose forward is not ``forward(features)`` returning logits: which keyword gets
the features, the lengths / attention mask / sampling-rate arguments it needs, and where the logits
sit in what it returns (a tensor, a tuple, a dict or a Hugging Face ``ModelOutput``).

``ForwardAdapter`` is a thin module in front of the user's model. It shares the model's own
submodules, parameters and buffers (the same dicts, not copies), so every layer keeps the name the
user's code gives it (``wav2vec2.encoder.layers.3``, not ``model.wav2vec2...``): audit.layers globs,
model.layouts, reports and ``model.get_submodule`` all speak the model's names, and its state_dict is
the model's."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from privacy_checks.errors import PrivacyInputError
from privacy_checks.model.layout import first_tensor

if TYPE_CHECKING:
    from privacy_checks.config import ModelSettings
    from privacy_checks.features import FeatureSpec

DEFAULT_OUTPUT = "logits"  # what Hugging Face models and most dict-returning models call their logits


@dataclass(frozen=True)
class ForwardCall:
    """The arguments a model's forward takes (thresholds.yaml ``model.forward``).

    input: the keyword that gets the input batch; None passes it positionally.
    lengths: the keyword that gets each example's valid length along the input's time axis
        (an int64 tensor of B values: samples for waveforms, frames for features).
    mask: the keyword that gets an attention mask (B, input time) of 1 for valid, 0 for padding.
    sampling_rate: the keyword that gets the input's sampling rate (an int).
    output: where the logits are in what forward returns: a key of a dict/ModelOutput or an index
        of a tuple; None takes 'logits' when the output has it, else a dict's only tensor or a
        tuple's first tensor.
    normalize: standardise each waveform over its valid samples before the call (zero mean, unit
        variance), as Hugging Face feature extractors with ``do_normalize`` do.
    """

    input: str | None = None
    lengths: str | None = None
    mask: str | None = None
    sampling_rate: str | None = None
    output: str | int | None = None
    normalize: bool = False

    @property
    def is_plain(self) -> bool:
        """Whether the model is called as forward(batch) and returns its logits as they are."""
        return self == ForwardCall()


Logits = torch.Tensor | tuple[torch.Tensor, ...]  # a tuple: one tensor per task (model/multitask.py's heads)


def _is_logits(value: Any) -> bool:
    return isinstance(value, torch.Tensor) or (
        isinstance(value, tuple) and bool(value) and all(isinstance(v, torch.Tensor) for v in value)
    )


def logits_of(output: Any, where: str | int | None, model: str = "the model") -> Logits:
    """The logits in a forward's `output` (see ForwardCall.output): a tensor, or a tuple of them where
    the model's classifier was replaced by per-task outputs (the intercept attacker's copy of T);
    PrivacyInputError naming what the output holds when `where` does not find them."""
    if isinstance(output, torch.Tensor) and where is None:
        return output
    found: Any = None
    if isinstance(output, Mapping):
        if where is not None:
            found = output.get(where)
        elif DEFAULT_OUTPUT in output:
            found = output[DEFAULT_OUTPUT]
        else:  # no 'logits': a lone tensor is unambiguous, several are not
            tensors = [value for value in output.values() if isinstance(value, torch.Tensor)]
            found = tensors[0] if len(tensors) == 1 else None
        held = f"a mapping with keys {list(output)}"
    elif isinstance(output, (tuple, list)):
        index = where if isinstance(where, int) else None
        found = (output[index] if -len(output) <= index < len(output) else None) if index is not None else None
        if where is None:
            found = first_tensor(output)
        held = f"a {type(output).__name__} of {len(output)} items"
    else:
        held = type(output).__name__
    if not _is_logits(found):
        if where is not None:
            named = f"model.forward.output {where!r} does not name a tensor in it"
        elif isinstance(output, Mapping) and DEFAULT_OUTPUT in output:
            named = f"its {DEFAULT_OUTPUT!r} holds {type(output[DEFAULT_OUTPUT]).__name__}, not a tensor"
        elif isinstance(output, Mapping):
            named = f"model.forward.output is not set, and it has no {DEFAULT_OUTPUT!r} key and not exactly one tensor"
        else:
            named = "model.forward.output is not set, and it holds no tensor"
        raise PrivacyInputError(
            f"the forward of {model} returned {held}; {named}. "
            "Set model.forward.output in thresholds.yaml to the key (dict, ModelOutput) or index (tuple) of the logits."
        )
    return found


def valid_mask(lengths: torch.Tensor, steps: int) -> torch.Tensor:
    """(B, steps) int64 mask: 1 on each example's first lengths[b] steps, 0 on its padding."""
    positions = torch.arange(steps, device=lengths.device)
    return (positions[None, :] < lengths[:, None]).long()


def standardised(waves: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Each (B, samples) waveform minus its mean over its valid samples, over sqrt(variance + 1e-7)
    (Hugging Face's zero-mean unit-variance normalisation); padding stays 0."""
    mask = valid_mask(lengths, waves.shape[-1]).to(waves.dtype)
    count = mask.sum(dim=-1, keepdim=True).clamp(min=1)
    mean = (waves * mask).sum(dim=-1, keepdim=True) / count
    variance = (((waves - mean) * mask) ** 2).sum(dim=-1, keepdim=True) / count
    return (waves - mean) / torch.sqrt(variance + 1e-7) * mask


class ForwardAdapter(nn.Module):
    """`model` called as `call` says, from ``forward(batch, lengths=None)`` returning logits.

    `time_axis` is the input's time axis (1 for (B, samples) waveforms and (B, frames, D) sequences,
    -1 for (B, 1, D, frames) images); `lengths` None means every example fills the whole batch."""

    wrapped: nn.Module  # the user's model, kept outside the module registry (see __init__)

    def __init__(self, model: nn.Module, call: ForwardCall, sample_rate: int, time_axis: int = 1, name: str = ""):
        super().__init__()
        object.__setattr__(self, "wrapped", model)  # not a registered child: its children are ours
        # The model's own registries: the same dicts, so names, hooks and weights are the model's.
        self._modules = model._modules
        self._parameters = model._parameters
        self._buffers = model._buffers
        self.call = call
        self.sample_rate = sample_rate
        self.time_axis = time_axis
        self.model_name = name or type(model).__name__

    def train(self, mode: bool = True) -> ForwardAdapter:
        super().train(mode)
        self.wrapped.train(mode)  # the model's own flag too: its forward may read self.training
        return self

    def forward(self, batch: torch.Tensor, lengths: torch.Tensor | None = None) -> Logits:
        steps = batch.shape[self.time_axis]
        if lengths is None:
            lengths = torch.full((batch.shape[0],), steps, dtype=torch.long, device=batch.device)
        call = self.call
        if call.normalize:
            batch = standardised(batch, lengths)
        kwargs: dict[str, Any] = {}
        if call.lengths:
            kwargs[call.lengths] = lengths
        if call.mask:
            kwargs[call.mask] = valid_mask(lengths, steps)
        if call.sampling_rate:
            kwargs[call.sampling_rate] = self.sample_rate
        output = self.wrapped(**{call.input: batch}, **kwargs) if call.input else self.wrapped(batch, **kwargs)
        return logits_of(output, call.output, self.model_name)


def called_as_configured(
    module: nn.Module, model_config: ModelSettings | None, spec: FeatureSpec, path: Path
) -> nn.Module:
    """`module` in a ForwardAdapter when thresholds.yaml's model.forward says how to call it; the
    input's time axis from the spec (samples and sequence frames: 1; image and channels frames: last)."""
    forward = model_config.forward if model_config is not None else None
    if forward is None:
        return module
    call = ForwardCall(**dict(forward))
    if call.is_plain:
        return module
    if call.normalize and spec.kind != "waveform":
        raise PrivacyInputError(
            f"thresholds.yaml model.forward.normalize standardises waveforms, but model.input.kind is {spec.kind!r}: "
            "remove normalize (or feed the model waveforms: model.input.kind waveform)."
        )
    time_axis = 1 if spec.kind == "waveform" or spec.layout == "sequence" else -1
    return ForwardAdapter(module, call, spec.sample_rate, time_axis, name=f"{type(module).__name__} ({path})")


def takes_lengths(module: nn.Module) -> bool:
    """Whether `module` passes each example's length (or an attention mask) on to the model it
    wraps, so that it may be called as ``module(batch, lengths)`` on a zero-padded batch."""
    return isinstance(module, ForwardAdapter) and bool(module.call.lengths or module.call.mask)
