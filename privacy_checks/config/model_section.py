"""The `model` section: how to rebuild a model from a plain state_dict checkpoint, and the layouts of
layers that behaviour cannot settle."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from privacy_checks import validation as checks
from privacy_checks.config.schema import setting
from privacy_checks.config.values import FrozenMapping, freeze, thaw
from privacy_checks.errors import PrivacyInputError
from privacy_checks.validation import Invalid, KeyPath, quoted, shown

if TYPE_CHECKING:
    from privacy_checks.features import FeatureSpec

_FACTORY = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*\Z")


def check_factory_ref(value: Any, path: KeyPath) -> str | None:
    """'module:callable' (dotted on either side), or None."""
    if value is None:
        return None
    if not isinstance(value, str) or not _FACTORY.match(value.strip()):
        hint = ""
        if isinstance(value, str) and ":" not in value:
            hint = "; separate the module from the callable with ':'"
        raise Invalid(
            path,
            f"{quoted(path)} must be 'module:callable' (e.g. 'mypkg.models:build'), got {shown(value)}{hint}",
        )
    return value.strip()


def check_kwargs(value: Any, path: KeyPath) -> tuple[tuple[str, Any], ...]:
    entries = checks.mapping(value, path, "keyword arguments for the factory")
    return tuple((key, freeze(v)) for key, v in entries.items())


def check_labels(value: Any, path: KeyPath) -> tuple[str, ...]:
    """Distinct, non-empty class names."""
    result = checks.texts("class names")(value, path)
    seen: dict[str, int] = {}
    for i, label in enumerate(result):
        if label in seen:
            raise Invalid(
                (*path, i),
                f"{quoted(path)} lists {label!r} twice (items {seen[label]} and {i}); class names must be distinct",
            )
        seen[label] = i
    return result


def check_feature_input(value: Any, path: KeyPath) -> Mapping[str, Any] | None:
    """Keys and value types against FeatureSpec's fields, then FeatureSpec's own checks."""
    if value is None:
        return None
    entries = checks.mapping(value, path, "feature settings")
    from privacy_checks.features import FeatureSpec  # lazy: features imports numpy

    spec_fields = {f.name: _annotation_text(f.type) for f in dataclasses.fields(FeatureSpec)}
    checked = {}
    for key, item in entries.items():
        if key not in spec_fields:
            raise Invalid((*path, key), checks.unknown_key_message(key, path, spec_fields))
        checked[key] = _feature_value(item, (*path, key), spec_fields[key])
    try:
        FeatureSpec.from_mapping(checked, where=quoted(path))
    except PrivacyInputError as exc:
        raise Invalid(path, str(exc)) from None
    return FrozenMapping(checked)


def check_layouts(value: Any, path: KeyPath) -> Mapping[str, str]:
    """Layer name or glob -> 'batch,channels,time' style text, each checked and normalised by
    model.layout_overrides.check_layout_text (whether a layer matches is checked on the model)."""
    entries = checks.mapping(value, path, "layer layouts ('batch,channels,time' per layer name or glob)")
    from privacy_checks.model.layout_overrides import check_layout_text  # lazy: the model package imports torch

    checked = {}
    for key, text in entries.items():
        if not key.strip():
            raise Invalid((*path, key), f"{quoted(path)} has an empty layer name; name a layer or a glob")
        checked[key] = check_layout_text(text, (*path, key))
    return FrozenMapping(checked)


# ForwardCall's fields (model/forward_call.py; tests/test_option_model_forward.py holds them equal),
# named here so that checking thresholds.yaml imports no torch: key -> what it takes.
FORWARD_KEYS = {
    "input": "the keyword that gets the input batch (null: passed positionally)",
    "lengths": "the keyword that gets each example's valid length (int64, B values)",
    "mask": "the keyword that gets the attention mask (B, time): 1 valid, 0 padding",
    "sampling_rate": "the keyword that gets the sampling rate (an int)",
    "output": "where the logits are in what forward returns: a dict key or a tuple index",
    "normalize": "standardise each waveform over its valid samples before the call",
}


def check_forward(value: Any, path: KeyPath) -> Mapping[str, Any] | None:
    """How to call the model: keyword names (strings), `output` (a key or an index), `normalize`
    (true or false); ForwardCall(**value) in the model package."""
    if value is None:
        return None
    entries = checks.mapping(
        value, path, "forward-call settings (input, lengths, mask, sampling_rate, output, normalize)"
    )
    checked: dict[str, Any] = {}
    for key, item in entries.items():
        where = (*path, key)
        if key not in FORWARD_KEYS:
            raise Invalid(where, checks.unknown_key_message(key, path, FORWARD_KEYS))
        if key == "normalize":
            checked[key] = checks.boolean(item, where)
        elif key == "output":
            if item is not None and not (checks.is_integer(item) or (isinstance(item, str) and item.strip())):
                raise Invalid(
                    where,
                    f"{quoted(where)} must be the key (a string) or the index (an integer) of the logits in what "
                    f"the model's forward returns, got {shown(item)}",
                )
            checked[key] = item
        elif item is not None:
            checked[key] = _keyword(item, where)
    return FrozenMapping(checked)


_KEYWORD = re.compile(r"[A-Za-z_]\w*\Z")


def _keyword(value: Any, path: KeyPath) -> str:
    if not isinstance(value, str) or not _KEYWORD.match(value):
        raise Invalid(
            path,
            f"{quoted(path)} must be the name of a keyword argument of the model's forward (e.g. lengths, "
            f"attention_mask), got {shown(value)}",
        )
    return value


def check_state_key(value: Any, path: KeyPath) -> str | None:
    """The key of a training checkpoint's weights, dotted for nesting ('checkpoint.model'), or None."""
    if value is None:
        return None
    name = checks.text(value, path).strip()
    if any(not part for part in name.split(".")):
        raise Invalid(
            path, f"{quoted(path)} must be a key, dotted for nesting (e.g. checkpoint.model), got {shown(value)}"
        )
    return name


def _annotation_text(annotation: Any) -> str:
    # 'float | None' under postponed annotations; a class (int) otherwise
    return annotation.__name__ if isinstance(annotation, type) else str(annotation)


def _feature_value(value: Any, path: KeyPath, annotation: str) -> Any:
    """Type-check one FeatureSpec value from its annotation ('int', 'float', 'float | None', 'str', 'bool')."""
    names = [part.strip() for part in annotation.split("|")]
    if value is None and "None" in names:
        return None
    if "bool" in names and isinstance(value, bool):
        return value
    if "float" in names and checks.is_number(value):
        return float(value)
    if "int" in names and checks.is_integer(value):
        return value
    if "str" in names and isinstance(value, str):
        return value
    wanted = {"int": "an integer", "float": "a number", "str": "a string", "bool": "true or false"}
    expected = " or ".join(wanted[n] for n in names if n in wanted) or annotation
    if "None" in names:
        expected += " or null"
    raise Invalid(path, f"{quoted(path)} must be {expected}, got {shown(value)}")


@dataclass(frozen=True)
class ModelSettings:
    """Only needed for a plain state_dict or a training checkpoint (and base_checkpoint for intercept access)."""

    factory: str | None = setting(
        None, check_factory_ref, "'module:callable' returning the nn.Module, e.g. mypkg.models:build"
    )
    # frozen (see values.freeze); use kwargs_dict()
    kwargs: tuple[tuple[str, Any], ...] = setting((), check_kwargs, "keyword arguments for the factory", written={})
    # FeatureSpec fields as written (FrozenMapping); None = not given
    input: Mapping[str, Any] | None = setting(
        None, check_feature_input, "feature settings, e.g. {kind: logmel, sample_rate: 16000, n_mels: 40}"
    )
    labels: tuple[str, ...] = setting(
        (), check_labels, "the model's output classes in order, e.g. [neutral, happy, angry, sad]"
    )
    # FrozenMapping of layer name or glob -> normalised roles ('batch,features,time')
    layouts: Mapping[str, str] = setting(
        FrozenMapping(),
        check_layouts,
        "per-layer axis roles where behaviour cannot settle them: layer name or glob -> 'batch,channels,time'",
        notes=(
            "One word per axis of the layer's whole output, batch included: batch (exactly one), time",
            "(at most one), channels or features (the others). An exact name beats a glob; the batch axis",
            "must be the one that follows the batch size. `privacy-checks layers` shows what behaviour",
            "found. For example:",
            "  layouts:",
            '    "encoder.layers.*": "time,batch,features"',
            '    "frontend.conv.*": "batch,channels,time"',
        ),
        written={},
    )
    base_checkpoint: str | None = setting(
        None,
        checks.optional_text,
        "intercept access: public pretrained weights of T's architecture the attacker starts from",
        notes=("A privacy-checks checkpoint, relative to this file; null: a fresh initialisation.",),
    )

    state_key: str | None = setting(
        None,
        check_state_key,
        "training checkpoint: the key of the model's weights, e.g. ema (dotted for nesting)",
        notes=("null: the one entry holding a state_dict (optimizer, scheduler and epoch entries beside it).",),
    )
    # FrozenMapping of ForwardCall's fields as written; None = the model is called as forward(features)
    forward: Mapping[str, Any] | None = setting(
        None,
        check_forward,
        "how to call forward, e.g. {input: input_values, mask: attention_mask, output: logits}",
        notes=(
            "Keys: input (the keyword of the features; null: positional), lengths and mask (keywords",
            "getting each example's valid length / a (batch, time) 1-valid 0-padding mask), sampling_rate",
            "(keyword getting the rate), output (the logits' key in a returned dict or index in a tuple;",
            "null: 'logits', else a lone tensor), normalize (standardise each waveform first).",
        ),
    )

    def kwargs_dict(self) -> dict[str, Any]:
        """Keyword arguments for the factory, as fresh plain dicts and lists."""
        return {key: thaw(value) for key, value in self.kwargs}

    def feature_spec(self) -> FeatureSpec | None:
        """The input as a ``FeatureSpec`` (defaults for keys not written), or None when not given."""
        if self.input is None:
            return None
        from privacy_checks.features import FeatureSpec

        return FeatureSpec.from_mapping(dict(self.input), where="'model.input'")
