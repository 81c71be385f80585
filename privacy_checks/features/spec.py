"""FeatureSpec: how audio becomes the model's input tensor, stored in every checkpoint."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

from privacy_checks.errors import PrivacyInputError
from privacy_checks.validation import did_you_mean, is_finite_number, is_integer

FEATURE_KINDS = ("logmel", "lld", "waveform", "custom")
LAYOUTS = ("image", "sequence", "channels")
LLD_DIMS = 32  # IS09: 16 LLDs and their deltas
LLD_STEP_S = 0.010

_INTEGER_FIELDS = ("sample_rate", "n_mels", "n_fft")
_NUMBER_FIELDS = ("win_ms", "hop_ms", "f_min", "f_max", "duration_s", "log_offset")  # f_max may be None


@dataclass(frozen=True)
class FeatureSpec:
    """How audio becomes the model's input tensor; stored in every checkpoint."""

    kind: str = "logmel"
    sample_rate: int = 16000
    n_mels: int = 40
    win_ms: float = 30.0  # the paper: 30 ms STFT window ...
    hop_ms: float = 20.0  # ... with 10 ms overlap
    n_fft: int = 512
    f_min: float = 0.0
    f_max: float | None = None  # None: sample_rate / 2
    duration_s: float = 2.0  # every clip padded or cropped to this length (variable_length: the longest read)
    log_offset: float = 1e-6
    # image: (1, D, frames) for 2-D CNNs; sequence: (frames, D); channels: (D, frames), the features as
    # a Conv1d's input channels (a 1-D CNN front end, Whisper's encoder)
    layout: str = "image"
    function: str | None = None  # kind custom: 'module:callable'
    # True: each clip is read at its own length up to duration_s, batched by length, and every layer
    # read over its valid frames only (engine/length_batches.py); False: every clip cut or padded to
    # duration_s, as before the key existed.
    variable_length: bool = False

    @property
    def win_length(self) -> int:
        return round(self.sample_rate * self.win_ms / 1000)

    @property
    def hop_length(self) -> int:
        return round(self.sample_rate * self.hop_ms / 1000)

    @property
    def n_samples(self) -> int:
        return round(self.sample_rate * self.duration_s)

    @property
    def n_frames(self) -> int:
        if self.kind == "lld":
            return round(self.duration_s / LLD_STEP_S) + 1
        return self.n_samples // self.hop_length + 1

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of one example's input: (1, D, frames), (frames, D) or (D, frames); (samples,) for waveforms."""
        if self.kind == "waveform":
            return (self.n_samples,)
        if self.kind == "custom":
            from privacy_checks.features.custom import custom_shape  # runs the user's function

            return custom_shape(self)
        dims = LLD_DIMS if self.kind == "lld" else self.n_mels
        return {"image": (1, dims, self.n_frames), "channels": (dims, self.n_frames)}.get(
            self.layout, (self.n_frames, dims)
        )

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def key_dict(self) -> dict[str, Any]:
        """as_dict for cache keys: variable_length only when set, so that the caches written before
        the key existed stay valid (their rows are what variable_length false computes)."""
        data = self.as_dict()
        if not self.variable_length:
            del data["variable_length"]
        return data

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], where: str = "input spec") -> FeatureSpec:
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise PrivacyInputError(f"{where}: unknown key(s) {', '.join(unknown)}; valid keys: {', '.join(known)}")
        spec = cls(**dict(data))
        spec.validate(where)
        return spec

    def validate(self, where: str = "input spec") -> None:
        """Raise PrivacyInputError naming ``where`` and every problem at once."""
        # Types first: a checkpoint's input_spec reaches here unchecked, and the range checks
        # below would raise TypeError on strings.
        wrong = [f"{name} must be an integer" for name in _INTEGER_FIELDS if not is_integer(getattr(self, name))]
        wrong += [
            f"{name} must be a number"
            for name in _NUMBER_FIELDS
            if not (name == "f_max" and self.f_max is None) and not is_finite_number(getattr(self, name))
        ]
        if not isinstance(self.variable_length, bool):
            wrong.append("variable_length must be true or false")
        if wrong:
            raise PrivacyInputError(f"{where}: " + "; ".join(wrong))
        problems = [*self._choice_problems(), *self._range_problems()]
        if problems:
            raise PrivacyInputError(f"{where}: " + "; ".join(problems))

    def _choice_problems(self) -> list[str]:
        problems = []
        for name, value, options in (("kind", self.kind, FEATURE_KINDS), ("layout", self.layout, LAYOUTS)):
            if value not in options:
                hint = did_you_mean(value, options) if isinstance(value, str) else ""
                problems.append(f"{name} {value!r} is not one of {', '.join(options)}{hint}")
        if self.kind == "custom" and not (isinstance(self.function, str) and ":" in self.function):
            problems.append("kind custom needs function: 'module:callable' (called with (waveforms, sample_rate))")
        if self.kind != "custom" and self.function is not None:
            problems.append(f"function is only for kind custom, not {self.kind}")
        return problems

    def _range_problems(self) -> list[str]:
        problems = []
        if self.sample_rate < 1000:
            problems.append("sample_rate must be an integer >= 1000 (Hz)")
        if self.n_mels < 1:
            problems.append("n_mels must be a positive integer")
        if self.n_fft < 1:
            problems.append("n_fft must be a positive integer")
        elif not 0 < self.win_ms <= 1000 or not 0 < self.hop_ms <= 1000:
            problems.append("win_ms and hop_ms must be in (0, 1000]")
        elif min(self.win_length, self.hop_length) < 1:
            problems.append("win_ms and hop_ms must each span at least one sample")
        elif self.win_length > self.n_fft:
            problems.append(f"win_ms={self.win_ms} gives {self.win_length} samples > n_fft={self.n_fft}")
        if self.duration_s <= 0:
            problems.append("duration_s must be > 0")
        elif self.n_fft >= 1 and self.n_samples <= self.n_fft // 2:
            # torch.stft(center=True) reflect-pads n_fft // 2 samples, which needs a longer clip.
            problems.append(
                f"duration_s={self.duration_s} gives {self.n_samples} samples; need more than "
                f"n_fft // 2 = {self.n_fft // 2} (lengthen duration_s or lower n_fft)"
            )
        if self.log_offset <= 0:
            problems.append("log_offset must be > 0 (log of silent frames)")
        nyquist = self.sample_rate / 2
        f_max = nyquist if self.f_max is None else self.f_max
        if not 0 <= self.f_min < f_max <= nyquist:
            problems.append(f"need 0 <= f_min < f_max <= {nyquist:g} (Nyquist)")
        return problems


def frames_per_second(spec: FeatureSpec) -> float:
    return spec.sample_rate / spec.hop_length
