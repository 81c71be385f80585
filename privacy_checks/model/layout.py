"""Which axis of a layer's output is the batch, which is time and which are features, found from
behaviour rather than rank, plus the per-layer overrides for what behaviour cannot settle.

``infer_layouts`` runs the model on inputs that differ only in batch size (2 vs 3) and only in
duration (d vs 1.5·d) and watches each named module's output: the batch axis is the one axis whose
size equals the batch size and follows it, the time axis the one axis that changes with the
duration, the rest are feature axes. So a Conv1d output (B, C, T) has time axis 2, a
``batch_first=False`` transformer layer (T, B, D) batch axis 1, an RNN on packed input (its
PackedSequence unpacked to (B, T, H)) time axis 1, and a module emitting a weight has no batch
axis at all (``Excluded``).
Per-layer overrides for what behaviour cannot settle: ``model.layout_overrides``.

Readings fixed here, on purpose:

* The output read is the tensor the engine intercepts: the output itself, else the first tensor of a
  tuple/list (an RNN on packed input: its PackedSequence, padded to (B, T, H)), else the first
  tensor of a mapping (a HF ``ModelOutput``).
* A module called more than once per forward (one ``nn.ReLU`` reused after every conv) is Excluded:
  its name does not identify one split point, and the engine's hook would keep only its last call.
* An output whose only non-batch axis grows with duration (a waveform, a flattened channels·time
  vector) is read as flat features, not as a one-channel sequence: the audit feeds fixed-duration
  clips, and flat features lose nothing where a single channel's mean and deviation would.
* Where a longer input cannot run (a head sized for one input length), the modules the longer run
  did not reach are tried on a shorter input; modules reached by neither are read without a time
  axis (behind a fixed-size layer, time is already folded into features). ``Layout.evidence`` says so.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.nn.utils.rnn import PackedSequence, pad_packed_sequence

from privacy_checks.errors import PrivacyInputError

__all__ = [
    "NOT_CALLED",
    "Excluded",
    "Layout",
    "LayoutResult",
    "MakeInput",
    "first_tensor",
    "infer_layouts",
    "per_channel_statistics",
]

MakeInput = Callable[[int, float], Any]  # (batch size, seconds) -> the model's input
BASE_BATCH, OTHER_BATCH, TIEBREAK_BATCH = 2, 3, 5
LONGER, SHORTER = 1.5, 1 / 1.5  # duration factors; the shorter one only when the longer fails
NOT_CALLED = "not called by the model's forward pass"


@dataclass(frozen=True)
class Layout:
    """Axes of a layer's whole output tensor (batch included): one batch axis, at most one time axis,
    the remaining axes features, kept in their original order."""

    batch_axis: int
    time_axis: int | None
    feature_axes: tuple[int, ...]
    evidence: str = field(default="", compare=False)  # how it was found, for `privacy-checks layers`
    # Why a longer or shorter input did not reach the layer (the model refused it), when none did
    refusal: str | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        axes = [self.batch_axis, *([] if self.time_axis is None else [self.time_axis]), *self.feature_axes]
        if sorted(axes) != list(range(len(axes))):
            raise ValueError(f"layout axes {axes} must name each axis 0..{len(axes) - 1} exactly once")

    @property
    def time_unknown(self) -> bool:
        """Behaviour could not show which of several non-batch axes is time (every other duration was
        refused): read as features, the layer may look less revealing than it is over time."""
        return self.refusal is not None and self.time_axis is None and len(self.feature_axes) > 1

    @property
    def rank(self) -> int:
        return 1 + (self.time_axis is not None) + len(self.feature_axes)

    @property
    def canonical_order(self) -> tuple[int, ...]:
        """The permutation to (B, T, *features), or (B, *features) without a time axis."""
        time = () if self.time_axis is None else (self.time_axis,)
        return (self.batch_axis, *time, *self.feature_axes)

    def canonical(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` moved to (B, T, *features) / (B, *features) order (a view, no copy)."""
        self._check_rank(x)
        return x.permute(self.canonical_order)

    def canonical_shape(self, shape: Iterable[int]) -> tuple[int, ...]:
        dims = tuple(shape)
        return tuple(dims[axis] for axis in self.canonical_order)

    def roles(self) -> tuple[str, ...]:
        """One word per axis, the override syntax: ('batch', 'features', 'time') for a Conv1d output."""
        words = ["features"] * self.rank
        words[self.batch_axis] = "batch"
        if self.time_axis is not None:
            words[self.time_axis] = "time"
        return tuple(words)

    def __str__(self) -> str:
        return ",".join(self.roles())

    def _check_rank(self, x: torch.Tensor) -> None:
        if x.dim() != self.rank:
            raise ValueError(f"layout {self} has {self.rank} axes but the tensor has shape {tuple(x.shape)}")


@dataclass(frozen=True)
class Excluded:
    """A module that is not a split point, with the reason in words a user can act on. ``rank`` is the
    output's number of axes when the exclusion is about axes (a layout override can then settle it)."""

    reason: str
    rank: int | None = None


LayoutResult = Layout | Excluded


def first_tensor(output: Any) -> torch.Tensor | None:
    """The tensor an attacker intercepts: the output, the first tensor of a tuple/list, or the first
    tensor value of a mapping (HF ModelOutput). Not recursive, like ``model.layers.representation``.

    A PackedSequence counts as its padded (B, T, ...) tensor: an RNN on packed input returns
    (PackedSequence, h_n), and its per-frame outputs are what the next layer reads (and what a
    device would send); h_n alone (the last frame) would audit less than is there."""
    if (tensor := _tensor_of(output)) is not None:  # before tuple: a PackedSequence is a NamedTuple
        return tensor
    if isinstance(output, (tuple, list)):
        return next((t for o in output if (t := _tensor_of(o)) is not None), None)
    if isinstance(output, Mapping):
        return next((o for o in output.values() if isinstance(o, torch.Tensor)), None)
    return None


def _tensor_of(value: Any) -> torch.Tensor | None:
    if isinstance(value, PackedSequence):
        return pad_packed_sequence(value, batch_first=True)[0]
    return value if isinstance(value, torch.Tensor) else None


# ------------------------------------------------------------------------------------------------
# Observing the model


@dataclass
class _Seen:
    order: int  # when its first call completed, among the watched modules
    calls: int = 0
    shape: tuple[int, ...] | None = None  # the last call's intercepted tensor shape
    problem: str | None = None  # why the last call's output cannot be read, if it cannot


@dataclass
class _Run:
    seen: dict[str, _Seen]
    error: str | None  # the exception that stopped the forward pass early, if any


def _observe(model: nn.Module, make_input: MakeInput, modules: Mapping[str, nn.Module], batch: int, seconds: float):
    seen: dict[str, _Seen] = {}

    def recorder(name: str) -> Callable[..., None]:
        def hook(_module: nn.Module, _inputs: Any, output: Any) -> None:
            record = seen.setdefault(name, _Seen(order=len(seen)))
            record.calls += 1
            tensor = first_tensor(output)
            record.shape = None if tensor is None else tuple(tensor.shape)
            if tensor is None:
                record.problem = f"its output is not a tensor (got {type(output).__name__})"
            elif not (tensor.is_floating_point() or tensor.is_complex()):
                record.problem = f"its output holds {tensor.dtype} values (indices or a mask), not activations"
            else:
                record.problem = None

        return hook

    handles = [module.register_forward_hook(recorder(name)) for name, module in modules.items()]
    error = None
    try:
        with torch.no_grad():
            model(make_input(batch, seconds))
    except PrivacyInputError:  # a user's mistake found by the call itself (model.forward.output naming nothing)
        raise
    except Exception as exc:  # a model that rejects a batch size or duration: read what ran
        error = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
    finally:
        for handle in handles:
            handle.remove()
    return _Run(seen, error)


def infer_layouts(
    model: nn.Module, make_input: MakeInput, names: Iterable[str], seconds: float = 1.0
) -> dict[str, LayoutResult]:
    """Each named module's output layout, found by running ``model`` (eval mode, no grad) on
    ``make_input(batch, seconds)`` for batch 2 and 3 and for durations ``seconds`` and 1.5×; in
    execution order (when each output is produced), modules the forward pass never calls last.

    Raises ValueError for a name that is not a module of ``model``, and RuntimeError when the model
    cannot run on the base input at all (nothing can be read then)."""
    by_name = dict(model.named_modules())
    wanted = list(dict.fromkeys(names))
    unknown = [name for name in wanted if name not in by_name]
    if unknown:
        raise ValueError(f"no module named {', '.join(map(repr, unknown))} in {type(model).__name__}")
    modules = {name: by_name[name] for name in wanted}
    was_training = model.training
    model.eval()
    try:
        runs = _Runs(model, make_input, modules, seconds)
        return {name: runs.layout(name) for name in runs.execution_order(wanted)}
    finally:
        model.train(was_training)


class _Runs:
    """The forward passes one inference needs, each run once and only when some module needs it."""

    def __init__(self, model: nn.Module, make_input: MakeInput, modules: Mapping[str, nn.Module], seconds: float):
        self._observe = lambda batch, secs: _observe(model, make_input, modules, batch, secs)
        self._seconds = seconds
        self._cache: dict[tuple[int, float], _Run] = {}
        base = self.run(BASE_BATCH, 1.0)
        if base.error is not None and not base.seen:
            raise RuntimeError(f"the model cannot run on a batch of {BASE_BATCH} × {seconds:g} s inputs: {base.error}")

    def execution_order(self, names: Iterable[str]) -> list[str]:
        """``names`` in the order their outputs appear in the base run; modules that never ran last."""
        seen = self.run(BASE_BATCH, 1.0).seen
        never = len(seen)
        return sorted(names, key=lambda name: seen[name].order if name in seen else never)

    def run(self, batch: int, factor: float) -> _Run:
        key = (batch, factor)
        if key not in self._cache:
            self._cache[key] = self._observe(batch, self._seconds * factor)
        return self._cache[key]

    def layout(self, name: str) -> LayoutResult:
        base = self.run(BASE_BATCH, 1.0).seen.get(name)
        if base is None:
            return Excluded(NOT_CALLED + _stopped(self.run(BASE_BATCH, 1.0)))
        if base.calls > 1:
            return Excluded(
                f"called {base.calls} times per forward pass (a module reused at several places), so its name "
                "does not identify one split point; the modules before each use are candidates"
            )
        if base.problem is not None or base.shape is None:
            return Excluded(base.problem or "its output is not a tensor")
        batch = self._batch_axis(name, base.shape)
        if isinstance(batch, Excluded):
            return batch
        return self._time_axis(name, base.shape, batch)

    def _batch_axis(self, name: str, shape: tuple[int, ...]) -> int | Excluded:
        sizes = {BASE_BATCH: shape}
        found: list[int] = []
        for batch in (OTHER_BATCH, TIEBREAK_BATCH):
            run = self.run(batch, 1.0)
            other = run.seen.get(name)
            if other is None or other.shape is None:
                return Excluded(f"could not be observed at batch size {batch}" + _stopped(run))
            if len(other.shape) != len(shape):
                return Excluded(f"its output's rank changes with the batch size ({_shapes(sizes)} vs {other.shape})")
            sizes[batch] = other.shape
            found = [axis for axis in range(len(shape)) if all(dims[axis] == b for b, dims in sizes.items())]
            if len(found) <= 1:  # a third batch size only to break a tie
                break
        if len(found) == 1:
            return found[0]
        if not found:
            return Excluded(
                f"no batch axis: no axis of its output follows the batch size ({_shapes(sizes)}); a weight, a "
                "position table or a batch folded into another axis is not a per-example representation",
                rank=len(shape),
            )
        return Excluded(
            f"ambiguous batch axis: axes {found} all follow the batch size ({_shapes(sizes)}); declare its layout",
            rank=len(shape),
        )

    def _time_axis(self, name: str, shape: tuple[int, ...], batch: int) -> LayoutResult:
        others = [axis for axis in range(len(shape)) if axis != batch]
        batch_note = f"batch axis {batch} ({BASE_BATCH}→{OTHER_BATCH} with the batch)"
        runs = [self.run(BASE_BATCH, LONGER)]
        if runs[0].seen.get(name) is None:
            runs.append(self.run(BASE_BATCH, SHORTER))
        varied = next((run.seen[name] for run in runs if name in run.seen), None)
        if varied is None or varied.shape is None:
            reason = next((run.error for run in runs if run.error), "not reached")
            note = f"no time axis: a longer or shorter input did not reach it ({reason})"
            return Layout(batch, None, tuple(others), evidence=f"{batch_note}; {note}", refusal=reason)
        if len(varied.shape) != len(shape):
            return Excluded(f"its output's rank changes with the input duration ({shape} vs {varied.shape})")
        growing = [axis for axis in others if varied.shape[axis] != shape[axis]]
        if not growing:
            note = f"no time axis (no axis changes with the duration: {shape} vs {varied.shape})"
            return Layout(batch, None, tuple(others), evidence=f"{batch_note}; {note}")
        if len(growing) > 1:
            return Excluded(
                f"several axes {growing} change with the input duration ({shape} vs {varied.shape}: an attention "
                "map?); declare its layout to read it",
                rank=len(shape),
            )
        (time,) = growing
        features = tuple(axis for axis in others if axis != time)
        time_note = f"axis {time} ({shape[time]}→{varied.shape[time]} with the duration)"
        if not features:  # a waveform or a flattened channels·time vector: flat features lose nothing
            return Layout(batch, None, (time,), evidence=f"{batch_note}; {time_note} read as flat features")
        return Layout(batch, time, features, evidence=f"{batch_note}; time {time_note}")


def _stopped(run: _Run) -> str:
    return f" (the forward pass stopped early: {run.error})" if run.error else ""


def _shapes(sizes: Mapping[int, tuple[int, ...]]) -> str:
    return ", ".join(f"{shape} at batch {batch}" for batch, shape in sizes.items())


# ------------------------------------------------------------------------------------------------
# What the convex probe reads


def per_channel_statistics(x: torch.Tensor, layout: Layout, frames: torch.Tensor | None = None) -> torch.Tensor:
    """Per-example statistics of a layer's output ``x`` (whole tensor, batch included), float32.

    With a time axis: (B, 2·C), the mean of each channel over time, then each channel's standard
    deviation over time (population form, so one frame gives 0, not NaN). Channels are ALL feature
    axes flattened together (a 2-D CNN's (C, F) gives C·F channels): averaging the frequency axis
    away would discard where pitch and formants, hence gender, live. Without a time axis: (B, F),
    the flattened features.

    `frames`: each example's valid frames, the first frames[b] along the time axis (a padded batch
    of clips of several lengths); the statistics are over those only. None: every frame is valid."""
    canonical = layout.canonical(x).float()
    batch = canonical.shape[0]
    if layout.time_axis is None:
        return canonical.reshape(batch, -1)
    steps = canonical.shape[1]
    channels = math.prod(canonical.shape[2:])
    sequence = canonical.reshape(batch, steps, channels)
    if frames is not None and bool((frames >= steps).all()):
        frames = None  # every frame valid: the unmasked form, without its masked temporaries
    if frames is None:
        mean = sequence.mean(dim=1)
        return torch.cat([mean, _deviation_over_time(sequence, mean)], dim=1)
    positions = torch.arange(steps, device=sequence.device)[None, :]
    valid = (positions < frames.to(sequence.device).reshape(-1, 1)).to(sequence.dtype)[:, :, None]
    count = valid.sum(dim=1).clamp(min=1)
    mean = (sequence * valid).sum(dim=1) / count
    variance = (((sequence - mean[:, None]) * valid) ** 2).sum(dim=1) / count
    return torch.cat([mean, variance.sqrt()], dim=1)


def _deviation_over_time(sequence: torch.Tensor, mean: torch.Tensor, chunk: int = 1024) -> torch.Tensor:
    """(B, T, C), its (B, C) mean -> (B, C) population standard deviation over T. Summed in chunks
    of frames as float64 norms: 7x torch.std's speed on a wav2vec2 conv layer's 14,400 frames, no
    temporary as large as the layer, and as accurate (centred first, so a large mean costs nothing)."""
    steps = sequence.shape[1]
    total = torch.zeros(mean.shape, dtype=torch.float64, device=mean.device)
    for start in range(0, steps, chunk):
        part = sequence[:, start : start + chunk] - mean[:, None]
        total += torch.linalg.vector_norm(part, dim=1).double() ** 2
    return (total / max(steps, 1)).sqrt().to(mean.dtype)
