"""Hugging Face ``save_pretrained`` folders (config.json + model.safetensors) of the audio classifiers
``transformers`` ships (``AutoModelForAudioClassification``), through the optional extra
``privacy-checks[hf]``; the wav2vec2 family (Wav2Vec2, HuBERT, WavLM, Data2VecAudio, ...) fed raw
waveforms.

Nothing in the folder decides what code runs: a config naming custom code (``auto_map``,
``trust_remote_code``) is refused, only architectures transformers itself ships are built, nothing is
fetched (``local_files_only``), and weights are read from safetensors; ``pytorch_model.bin`` is a
pickle, read only with --privacy-trust-checkpoint.

The folder's preprocessor_config.json decides the input (``sampling_rate``, ``do_normalize``,
``return_attention_mask``; without it 16 kHz, normalised, a mask when ``feat_extract_norm`` is
"layer"), config.json's ``id2label`` the labels. Clips are read at their own length (up to 8 s
unless model.input says otherwise): a model taking the mask runs on padded batches, one without it
on batches of clips of one length, so that it never sees padding. The model runs in eval mode (no layer drop, no time
masking) behind a ``ForwardAdapter`` that keeps transformers' module names. Its split points are
its blocks (``hf_blocks``), each read in the layout the behavioural survey finds (a conv layer's
output is (B, C, T))."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from privacy_checks.errors import PrivacyInputError
from privacy_checks.features import FeatureSpec
from privacy_checks.model.forward_call import ForwardAdapter, ForwardCall
from privacy_checks.model.forward_errors import exception_line
from privacy_checks.model.layout import first_tensor
from privacy_checks.model.loading import describe_value
from privacy_checks.model.target import Target

if TYPE_CHECKING:
    from privacy_checks.config import ModelSettings

INSTALL = "pip install 'privacy-checks[hf]'"
CONFIG = "config.json"
PREPROCESSOR = "preprocessor_config.json"
SAFETENSORS, SAFETENSORS_INDEX = "model.safetensors", "model.safetensors.index.json"
PICKLE, PICKLE_INDEX = "pytorch_model.bin", "pytorch_model.bin.index.json"
WAVEFORM_EXTRACTORS = ("Wav2Vec2FeatureExtractor",)  # feature extractors that pass the waveform through
DEFAULT_RATE = 16000
MAX_SECONDS = 8.0  # clips are read at their own length up to this (model.input.duration_s)
_LFS_POINTER = b"version https://git-lfs"
_RESAVE = "model.save_pretrained(folder, safe_serialization=True)"


class HuggingFaceModule(ForwardAdapter):
    """The adapter in front of a transformers model; ``initialise`` completes ``zoo.fresh_copy``'s
    reset (Target.fresh_model) for the parameters no ``reset_parameters`` covers (the weight-normed
    positional conv, the time-mask embedding, WavLM's gate constants), so that an attacker's copy
    keeps none of T's weights."""

    def initialise(self, clone: nn.Module) -> None:
        with torch.no_grad():
            for module in clone.modules():
                if not hasattr(module, "reset_parameters"):
                    for parameter in module.parameters(recurse=False):
                        nn.init.normal_(parameter, std=0.02)


def is_hf_folder(path: Path) -> bool:
    """Whether `path` is a folder holding a config.json (a ``save_pretrained`` folder)."""
    return path.is_dir() and (path / CONFIG).is_file()


def load_hf_folder(path: Path, model_config: ModelSettings | None, trust_checkpoint: bool) -> Target:
    """The Target of a ``save_pretrained`` folder; PrivacyInputError naming the folder (or the file in
    it) and the fix for anything that keeps it from loading."""
    transformers = _import_transformers(path)
    config = _read_json(path / CONFIG, "the model's configuration")
    _refuse_custom_code(path, config)
    weights, safetensors = _weight_files(path, trust_checkpoint)
    rate, normalize, mask = _preprocessing(path, config)
    spec = _input_spec(rate, model_config, path)
    model = _build(transformers, path, safetensors)
    labels = _labels(model, path)
    call = ForwardCall(
        input="input_values", mask="attention_mask" if mask else None, output="logits", normalize=normalize
    )
    adapter = HuggingFaceModule(model, call, rate).eval()
    if model.training:
        raise PrivacyInputError(f"{path}: the model stays in training mode after eval(); it cannot be audited.")
    files = [path / CONFIG, *weights, *([path / PREPROCESSOR] if (path / PREPROCESSOR).is_file() else [])]
    return Target(
        adapter,
        type(model).__name__,
        spec,
        labels,
        _fingerprint(path, files),
        path,
        "huggingface",
        split_points=_without_repeats(adapter, spec, hf_blocks(model)),
        frame_counts=conv_frame_counts(model),
    )


def hf_blocks(model: nn.Module) -> tuple[str, ...]:
    """The model's blocks, named as transformers names them: each conv layer of the feature encoder,
    the feature projection, each transformer layer (and adapter layer), the encoder itself (its
    last hidden state: after a final layer norm, SEW's upsampling), then the model's own heads
    (projector, classifier). Definition order; the survey puts them in execution order."""
    blocks: list[str] = []
    for name, module in model.named_modules():
        if not isinstance(module, nn.ModuleList):
            continue
        parent = name.rpartition(".")[0]
        if name.endswith("feature_extractor.conv_layers") or parent.endswith(("encoder", "adapter")):
            blocks += [f"{name}.{index}" for index in range(len(module))]
        if parent.endswith("encoder") and name == f"{parent}.layers":
            blocks.append(parent)
        if name.endswith("feature_extractor.conv_layers"):
            projection = f"{parent.rpartition('.')[0]}.feature_projection".lstrip(".")
            blocks += [projection] if _has(model, projection) else []
    base = getattr(model, "base_model_prefix", "")
    blocks += [name for name in model._modules if name != base]
    return tuple(dict.fromkeys(blocks))


def _without_repeats(adapter: nn.Module, spec: FeatureSpec, blocks: tuple[str, ...]) -> tuple[str, ...]:
    """`blocks` less each encoder whose output is its last layer's, value for value (wav2vec2-base:
    its layer norm comes first), so that the same representation is not audited twice."""
    encoders = [b for b in blocks if f"{b}.layers.0" in blocks]
    if not encoders:
        return blocks
    last = {encoder: max((b for b in blocks if b.startswith(f"{encoder}.layers.")), key=_index) for encoder in encoders}
    outputs: dict[str, torch.Tensor | None] = {}
    modules = dict(adapter.named_modules())

    def keep(name: str) -> Callable[..., None]:
        def hook(_module: nn.Module, _inputs: Any, output: Any) -> None:  # None: the output stays as it is
            outputs.setdefault(name, first_tensor(output))

        return hook

    handles = [
        modules[name].register_forward_hook(keep(name)) for name in (*encoders, *last.values()) if name in modules
    ]
    try:
        with torch.inference_mode():
            adapter(torch.randn((2, *spec.shape), generator=torch.Generator().manual_seed(0)))
    except Exception:  # the survey runs the model again and reports what fails, in context
        return blocks
    finally:
        for handle in handles:
            handle.remove()
    repeats = set()
    for encoder, layer in last.items():
        mine, theirs = outputs.get(encoder), outputs.get(layer)
        if mine is not None and theirs is not None and mine.shape == theirs.shape and torch.equal(mine, theirs):
            repeats.add(encoder)
    return tuple(b for b in blocks if b not in repeats)


def _index(block: str) -> int:
    return int(block.rpartition(".")[2]) if block.rpartition(".")[2].isdigit() else -1


# Families whose layers after the conv feature encoder run at its frame rate (no squeeze, no adapter)
_CONV_RATE_FAMILIES = ("wav2vec2", "hubert", "wavlm", "data2vec-audio", "unispeech", "unispeech-sat")


def conv_frame_counts(model: Any):
    """(layer, each clip's samples) -> each clip's frames at that layer, as the model counts them:
    each conv layer gives floor((n - kernel) / stride) + 1 (transformers'
    `_get_feat_extract_output_lengths`), and every later layer with a time axis runs at the conv
    encoder's rate. A padded batch's last frames of a short clip see the padding; these counts
    leave them out exactly, where a count in proportion to the samples may keep one. None for a
    family that changes the rate after the encoder (SEW's squeeze, adapters): counted in proportion."""
    config = model.config
    kernels, strides = tuple(getattr(config, "conv_kernel", ())), tuple(getattr(config, "conv_stride", ()))
    family = getattr(config, "model_type", None)
    if family not in _CONV_RATE_FAMILIES or getattr(config, "add_adapter", False) or not kernels:
        return None

    def counts(layer: str, samples: np.ndarray) -> np.ndarray | None:
        found = re.search(r"feature_extractor\.conv_layers\.(\d+)$", layer)
        depth = int(found.group(1)) + 1 if found else len(kernels)
        frames = np.asarray(samples, dtype=np.int64)
        for kernel, stride in zip(kernels[:depth], strides[:depth], strict=True):
            frames = (frames - kernel) // stride + 1
        return np.maximum(frames, 0)

    return counts


def _has(model: nn.Module, name: str) -> bool:
    try:
        model.get_submodule(name)
    except AttributeError:
        return False
    return True


def _import_transformers(path: Path) -> Any:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before huggingface_hub reads it: nothing is fetched
    try:
        import transformers
    except ImportError:
        raise PrivacyInputError(
            f"--privacy-audit: {path} is a Hugging Face model folder (it holds {CONFIG}), which is read with "
            f"transformers, not installed here: {INSTALL}."
        ) from None
    return transformers


def _read_json(file: Path, what: str) -> dict[str, Any]:
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise PrivacyInputError(f"{file} ({what}) cannot be read: {exception_line(exc)}.") from None
    except ValueError as exc:
        raise PrivacyInputError(
            f"{file} ({what}) is not valid JSON: {exc}. Was it written completely? Save the model again "
            "with save_pretrained, or copy the file again."
        ) from None
    if not isinstance(data, dict):
        raise PrivacyInputError(f"{file} ({what}) holds {describe_value(data)}; expected a JSON object.")
    return data


def _refuse_custom_code(path: Path, config: Mapping[str, Any]) -> None:
    named = [key for key in ("auto_map", "trust_remote_code", "custom_pipelines") if config.get(key)]
    if named:
        raise PrivacyInputError(
            f"{path / CONFIG} names custom code ({', '.join(named)}): the model's classes would come from Python "
            "files shipped with it, and a model folder never decides what code the audit runs. Only "
            "architectures transformers itself ships are read; save the model as one of them (e.g. "
            "Wav2Vec2ForSequenceClassification), or export it to ONNX (.onnx) or a .pt2 program."
        )


def _weight_files(path: Path, trusted: bool) -> tuple[list[Path], bool]:
    """The weight files to fingerprint, and whether they are safetensors."""
    for single, index, safe in ((SAFETENSORS, SAFETENSORS_INDEX, True), (PICKLE, PICKLE_INDEX, False)):
        if (path / single).is_file():
            found = [path / single]
        elif (path / index).is_file():
            found = [path / index, *_shards(path, index)]
        else:
            continue
        if not safe and not trusted:
            raise PrivacyInputError(
                f"{found[0]} is a pickle (the older torch.save format): loading it can run code written into the "
                f"file, so it is refused by default, and {path} has no {SAFETENSORS}. Re-save the model with "
                f"{_RESAVE}, or, if you trust this file, pass --privacy-trust-checkpoint."
            )
        for file in found:
            with open(file, "rb") as handle:
                if handle.read(len(_LFS_POINTER)) == _LFS_POINTER:
                    raise PrivacyInputError(
                        f"{file} is a Git LFS pointer, not the model's weights; fetch them with `git lfs pull`."
                    )
        return found, safe
    raise PrivacyInputError(
        f"{path} holds {CONFIG} but no weights: expected {SAFETENSORS} (or {SAFETENSORS_INDEX} with its shards) "
        f"as save_pretrained writes them. Was the folder copied completely? Save it again with {_RESAVE}."
    )


def _shards(path: Path, index: str) -> list[Path]:
    """The shard files an index names, each a plain file name inside the folder."""
    weight_map = _read_json(path / index, "the index of the sharded weights").get("weight_map")
    if not isinstance(weight_map, dict) or not weight_map:
        raise PrivacyInputError(f"{path / index} has no weight_map; save the model again with save_pretrained.")
    names = sorted({str(name) for name in weight_map.values()})
    for name in names:
        if Path(name).name != name or name in ("", ".", "..") or not (path / name).is_file():
            raise PrivacyInputError(
                f"{path / index} names the weight shard {name!r}, which is not a file inside {path}; copy the "
                "whole folder (every shard beside the index)."
            )
    return [path / name for name in names]


def _preprocessing(path: Path, config: Mapping[str, Any]) -> tuple[int, bool, bool]:
    """(sampling rate, normalise each utterance, pass an attention mask) from preprocessor_config.json,
    else transformers' defaults for the model."""
    mask = config.get("feat_extract_norm") == "layer"
    file = path / PREPROCESSOR
    if not file.is_file():
        return DEFAULT_RATE, True, mask
    data = _read_json(file, "how audio becomes the model's input")
    kind = data.get("feature_extractor_type")
    if kind is not None and kind not in WAVEFORM_EXTRACTORS:
        raise PrivacyInputError(
            f"{file}: feature_extractor_type {kind!r} computes features from the audio that this tool does not "
            f"compute (yet); raw-waveform models ({', '.join(WAVEFORM_EXTRACTORS)}) are read from a folder. Export "
            "the model to ONNX with its features as input, and describe them in thresholds.yaml model.input "
            "(kind logmel; layout channels for an input of (mel bins, frames), as Whisper's encoder takes it, "
            "layout sequence for (frames, mel bins), as AST takes it; or kind custom with your own function "
            "where the extractor normalises in its own way)."
        )
    rate = data.get("sampling_rate", DEFAULT_RATE)
    if not isinstance(rate, int) or isinstance(rate, bool) or rate < 1000:
        raise PrivacyInputError(f"{file}: sampling_rate {rate!r} must be an integer >= 1000 (Hz).")
    flags = {key: data.get(key, default) for key, default in (("do_normalize", True), ("return_attention_mask", mask))}
    for key, value in flags.items():
        if not isinstance(value, bool):
            raise PrivacyInputError(f"{file}: {key} {value!r} must be true or false.")
    return rate, flags["do_normalize"], flags["return_attention_mask"]


def _input_spec(rate: int, model_config: ModelSettings | None, path: Path) -> FeatureSpec:
    """Raw waveforms at the folder's rate, each clip at its own length up to MAX_SECONDS (these
    models take an attention mask, or must run unpadded: engine/length_batches.py); thresholds.yaml
    model.input may set the rest (duration_s, the longest clip read; variable_length false: every
    clip padded or cut to duration_s)."""
    given = dict(model_config.input) if model_config is not None and model_config.input is not None else {}
    decided = {"kind": "waveform", "sample_rate": rate}
    clash = {key: given[key] for key in decided if key in given and given[key] != decided[key]}
    if clash:
        shown = ", ".join(f"{key} {value!r}" for key, value in clash.items())
        raise PrivacyInputError(
            f"thresholds.yaml model.input: {shown} contradicts the Hugging Face folder {path}, whose "
            f"{PREPROCESSOR} decides its input (waveform at {rate} Hz); remove the key (duration_s may stay)."
        )
    defaults = {"duration_s": MAX_SECONDS, "variable_length": True}
    return FeatureSpec.from_mapping({**defaults, **given, **decided}, where="thresholds.yaml model.input")


@contextlib.contextmanager
def _quiet(transformers: Any) -> Iterator[None]:
    """transformers' progress bars and load reports off (the message is ours), restored after."""
    logging = transformers.utils.logging
    verbosity, bars = logging.get_verbosity(), logging.is_progress_bar_enabled()
    logging.set_verbosity_error()
    logging.disable_progress_bar()
    try:
        yield
    finally:
        logging.set_verbosity(verbosity)
        if bars:
            logging.enable_progress_bar()


def _build(transformers: Any, path: Path, safetensors: bool) -> nn.Module:
    where = f"{path} (a Hugging Face model folder)"
    with _quiet(transformers):
        try:
            config = transformers.AutoConfig.from_pretrained(str(path), local_files_only=True)
        except Exception as exc:
            raise PrivacyInputError(
                f"{where}: transformers cannot read its {CONFIG}: {_sentence(exc)} Check model_type (an "
                f"architecture transformers {transformers.__version__} ships) or save the model again."
            ) from None
        if not _reads_waveforms(config):  # a config keeps unknown keys: ask its class's defaults
            raise PrivacyInputError(
                f"{where}: model_type {config.model_type!r} is not a raw-waveform audio classifier of the wav2vec2 "
                "family (Wav2Vec2, HuBERT, WavLM, Data2VecAudio, ...), the architectures read from a folder so "
                "far; export it to ONNX (.onnx) with model.input in thresholds.yaml."
            )
        try:  # mismatched shapes are loaded as random weights and reported in `info`: refused below
            model, info = transformers.AutoModelForAudioClassification.from_pretrained(
                str(path),
                config=config,
                local_files_only=True,
                use_safetensors=safetensors,
                output_loading_info=True,
                ignore_mismatched_sizes=True,
            )
        except Exception as exc:
            raise PrivacyInputError(
                f"{where}: cannot build {type(config).__name__.removesuffix('Config')} for audio classification "
                f"from it: {_sentence(exc)} Save the folder again with {_RESAVE}."
            ) from None
    mismatched = sorted(_shown_key(item) for item in info.get("mismatched_keys") or ())
    missing = sorted(info.get("missing_keys") or ())
    problems = (("the shapes of its weights (saved vs config) do not fit", mismatched), ("its weights lack", missing))
    for problem, keys in problems:
        if keys:
            shown = "; ".join(keys[:3]) + (f" and {len(keys) - 3} more" if len(keys) > 3 else "")
            raise PrivacyInputError(
                f"{where}: {problem} the architecture {CONFIG} describes ({len(keys)} parameter(s): "
                f"{shown}); those would be random, not the model's. Does {CONFIG} belong to these weights? Save "
                f"the folder again with {_RESAVE}."
            )
    return model


def _shown_key(item: Any) -> str:
    """A mismatched key as transformers reports it, (name, saved shape, built shape), in words."""
    if isinstance(item, (tuple, list)) and len(item) == 3:
        return f"{item[0]} {tuple(item[1])} vs {tuple(item[2])}"
    return str(item)


def _sentence(exc: BaseException) -> str:
    text = exception_line(exc)
    return text if text.endswith((".", "!", "?")) else text + "."


def _reads_waveforms(config: Any) -> bool:
    """An AutoModelForAudioClassification architecture with a convolutional waveform encoder."""
    from transformers.models.auto.modeling_auto import MODEL_FOR_AUDIO_CLASSIFICATION_MAPPING_NAMES

    if config.model_type not in MODEL_FOR_AUDIO_CLASSIFICATION_MAPPING_NAMES:
        return False
    return getattr(type(config)(), "conv_dim", None) is not None


def _labels(model: nn.Module, path: Path) -> tuple[str, ...]:
    id2label = getattr(model.config, "id2label", None) or {}
    try:
        ordered = sorted((int(key), str(label)) for key, label in dict(id2label).items())
    except (TypeError, ValueError):
        raise PrivacyInputError(
            f"{path / CONFIG}: id2label {describe_value(id2label)} must map class indices to label names."
        ) from None
    return tuple(label for _index, label in ordered)


def _fingerprint(path: Path, files: list[Path]) -> str:
    """sha256 over each file's name and bytes (config, weights, preprocessor config)."""
    digest = hashlib.sha256()
    for file in files:
        digest.update(file.relative_to(path).as_posix().encode() + b"\0")
        with open(file, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
        digest.update(b"\0")
    return digest.hexdigest()
