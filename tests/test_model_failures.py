"""Model files and model code that fail (issue 13): each failure is a PrivacyInputError that names the
file (or factory), says what is wrong in words and what to do: unreadable checkpoints, formats not
supported, checkpoint keys missing or of the wrong type, .pt2 programs with fixed input shapes, a
factory or a forward pass that raises. Damaged bytes of a valid checkpoint (hypothesis) load or
give a PrivacyInputError, nothing else."""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

from privacy_checks.config import ModelSettings
from privacy_checks.errors import PrivacyInputError
from privacy_checks.features import FeatureSpec
from privacy_checks.model import load_target, zoo
from privacy_checks.model.export_shapes import check_input_shape

SEQUENCE = {"kind": "logmel", "sample_rate": 16000, "n_mels": 8, "layout": "sequence", "duration_s": 0.5}
SPEC = FeatureSpec.from_mapping(SEQUENCE, where="test")  # (26 frames, 8 mel bins) per example


def small_checkpoint() -> bytes:
    torch.manual_seed(0)
    module = zoo.build("small_vgg", num_classes=2, width=0.25, hidden=8)
    buffer = io.BytesIO()
    payload = {
        "format": "privacy-checks.checkpoint",
        "format_version": 1,
        "architecture": "small_vgg",
        "arch_kwargs": {"num_classes": 2, "width": 0.25, "hidden": 8},
        "state_dict": module.state_dict(),
        "input_spec": FeatureSpec(duration_s=0.5).as_dict(),
        "labels": ["a", "b"],
    }
    torch.save(payload, buffer)
    return buffer.getvalue()


GOOD = small_checkpoint()


def refused(path, config=None) -> str:
    with pytest.raises(PrivacyInputError) as info:
        load_target(path, config)
    return str(info.value)


# -- unreadable files -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content, words",
    [
        (b"", ["the file is empty", "0 bytes"]),
        (GOOD[: len(GOOD) // 2], ["zip archive", "truncated or damaged", "copied or downloaded completely"]),
        (GOOD[:100], ["zip archive", "truncated or damaged"]),
        (bytes(range(256)) * 20, ["neither a zip archive", "nor a pickle"]),
        (b"\x80\x02}q\x00", ["pickle", "truncated or damaged"]),
        (b"version https://git-lfs.github.com/spec/v1\noid sha256:ab\nsize 9\n", ["Git LFS pointer", "git lfs pull"]),
        (b"<!DOCTYPE html><html><body>404 Not Found</body></html>", ["text file", "<!DOCTYPE html>", "download"]),
    ],
    ids=["empty", "truncated-zip", "zip-head-only", "random-bytes", "damaged-pickle", "lfs-pointer", "html-page"],
)
def test_unreadable_checkpoint_says_what_the_file_is(tmp_path, content, words):
    path = tmp_path / "model.pt"
    path.write_bytes(content)
    message = refused(path)
    assert str(path) in message and "not a PyTorch checkpoint" in message
    for word in words:
        assert word in message
    for cryptic in ("pop from empty list", "Errno", "EOFError", "Weights only load failed", "miniz"):
        assert cryptic not in message


def test_a_directory_a_symlink_loop_and_a_dangling_link(tmp_path):
    folder = tmp_path / "model.pt"
    folder.mkdir()
    assert "is a directory" in refused(folder) and "the file inside it" in refused(folder)
    loop_a, loop_b = tmp_path / "a.pt", tmp_path / "b.pt"
    loop_a.symlink_to(loop_b)
    loop_b.symlink_to(loop_a)
    message = refused(loop_a)
    assert str(loop_a) in message and "symbolic link loop" in message
    dangling = tmp_path / "c.pt"
    dangling.symlink_to(tmp_path / "nowhere.pt")
    message = refused(dangling)
    assert "symbolic link to" in message and "nowhere.pt" in message and "does not exist" in message
    assert "does not exist" in refused(tmp_path / "missing.pt")


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root reads every file")
def test_a_file_without_read_permission(tmp_path):
    path = tmp_path / "model.pt"
    path.write_bytes(GOOD)
    path.chmod(0)
    try:
        message = refused(path)
    finally:
        path.chmod(0o600)
    assert str(path) in message and "permission denied" in message and "chmod" in message


@pytest.mark.parametrize("suffix", [".tflite", ".mlmodel", ".mlpackage", ".pte"])
def test_formats_not_supported_yet(tmp_path, suffix):
    path = tmp_path / f"model{suffix}"
    if suffix == ".mlpackage":
        path.mkdir()  # a Core ML package is a folder
    else:
        path.write_bytes(b"\x08\x07\x12\x07pytorch")
    message = refused(path)
    assert str(path) in message and "not supported" in message
    assert "export .pt2" in message and "state dict" in message


# -- the project's checkpoint: keys and their types -------------------------------------------------


def payload() -> dict:
    return torch.load(io.BytesIO(GOOD), weights_only=True)


@pytest.mark.parametrize(
    "change, words",
    [
        (lambda p: p.pop("state_dict"), ["'state_dict' is missing", "mapping of names to tensors"]),
        (lambda p: p.pop("input_spec"), ["'input_spec' is missing", "input spec"]),
        (lambda p: p.update(labels=5), ["'labels'", "int 5", "list of label names"]),
        (lambda p: p.update(labels=["a", 3]), ["'labels'", "list of label names"]),
        (lambda p: p.update(state_dict=[1, 2]), ["'state_dict' holds list", "mapping of names to tensors"]),
        (lambda p: p.update(arch_kwargs=5), ["'arch_kwargs' holds int 5", "mapping of keyword arguments"]),
        (lambda p: p.update(arch_kwargs={"colour": "red"}), ["arch_kwargs do not fit", "colour"]),
        (lambda p: p.update(input_spec="logmel"), ["'input_spec' holds str", "input spec"]),
    ],
    ids=["no-state_dict", "no-input_spec", "labels-int", "labels-mixed", "state-list", "kwargs-int", "kwargs-unknown",
         "spec-str"],
)  # fmt: skip
def test_checkpoint_keys_name_what_was_found_and_expected(tmp_path, change, words):
    data = payload()
    change(data)
    path = tmp_path / "model.pt"
    torch.save(data, path)
    message = refused(path)
    assert str(path) in message
    for word in words:
        assert word in message, message


def test_weights_that_are_not_tensors(tmp_path):
    data = payload()
    data["state_dict"] = dict(data["state_dict"], extra=3)
    path = tmp_path / "model.pt"
    torch.save(data, path)
    message = refused(path)
    assert "'extra'" in message and "int 3" in message and "tensors" in message


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    cut=st.one_of(st.none(), st.integers(0, len(GOOD) - 1)),
    flips=st.lists(st.tuples(st.integers(0, len(GOOD) - 1), st.integers(0, 7)), max_size=4),
)
def test_damaged_checkpoint_bytes_load_or_are_a_usage_error(tmp_path, one_torch_thread, cut, flips):
    data = bytearray(GOOD if cut is None else GOOD[:cut])
    for offset, bit in flips:
        if offset < len(data):
            data[offset] ^= 1 << bit
    path = tmp_path / "fuzzed.pt"
    path.write_bytes(bytes(data))
    try:
        load_target(path)
    except PrivacyInputError as exc:
        assert str(path) in str(exc)


# -- .pt2 programs with fixed input shapes ----------------------------------------------------------


def program(dynamic_shapes=None, frames: int = 26):
    model = nn.Sequential(nn.Linear(8, 4), nn.ReLU())
    return torch.export.export(model, (torch.randn(2, frames, 8),), dynamic_shapes=dynamic_shapes)


def test_a_static_batch_is_refused_with_the_re_export_line(tmp_path):
    path = tmp_path / "model.pt2"
    torch.export.save(program(), str(path))
    message = refused(path, ModelSettings(input=SEQUENCE))
    assert str(path) in message and "fixes the batch size at 2" in message
    assert 'dynamic_shapes=({0: torch.export.Dim("batch", min=1, max=4096)},)' in message


def test_a_fixed_time_axis_must_be_the_input_specs():
    dynamic = ({0: torch.export.Dim("batch", min=1, max=4096)},)
    check_input_shape(program(dynamic), SPEC, Path("m.pt2"))  # exported on 0.5 s clips: fits
    with pytest.raises(PrivacyInputError) as info:
        check_input_shape(program(dynamic, frames=51), SPEC, Path("m.pt2"))
    message = str(info.value)
    assert "fixes input axis 1 at 51" in message and "gives 26" in message and "duration_s" in message
    with pytest.raises(PrivacyInputError, match="batches of 1 to 3 only"):
        check_input_shape(program(({0: torch.export.Dim("batch", min=1, max=3)},)), SPEC, Path("m.pt2"))
    both = ({0: torch.export.Dim.DYNAMIC, 1: torch.export.Dim.DYNAMIC},)
    check_input_shape(program(both, frames=51), SPEC, Path("m.pt2"))  # a dynamic time axis takes any duration


# -- a factory or a forward pass that raises --------------------------------------------------------

FACTORIES = """
import torch
from torch import nn

class Raising(nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(8, 4)

    def forward(self, x):
        raise ValueError("this model needs a speaker id\\nsecond line")

def raising_model():
    return Raising()

def broken_factory(size=3):
    raise TypeError(f"size {size} is not a valid size")
"""


@pytest.fixture
def factories(tmp_path, monkeypatch):
    (tmp_path / "m13_factories.py").write_text(FACTORIES)
    (tmp_path / "m13_import_fails.py").write_text("raise RuntimeError('needs a GPU driver')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    weights = tmp_path / "weights.pt"
    torch.save({f"proj.{k}": v for k, v in nn.Linear(8, 4).state_dict().items()}, weights)
    yield weights
    for name in ("m13_factories", "m13_import_fails"):
        sys.modules.pop(name, None)


def settings_for(factory: str) -> ModelSettings:
    return ModelSettings(factory=factory, kwargs=(("size", 7),), input=SEQUENCE)


def test_a_factory_that_raises(factories):
    message = refused(factories, settings_for("m13_factories:broken_factory"))
    assert "model.factory 'm13_factories:broken_factory'" in message
    assert "TypeError: size 7 is not a valid size" in message and "model.kwargs" in message
    message = refused(factories, settings_for("m13_import_fails:build"))
    assert "importing 'm13_import_fails' raised RuntimeError: needs a GPU driver" in message
    message = refused(factories, settings_for("m13_factories:nothing_here"))
    assert "has no attribute 'nothing_here'" in message


def test_a_factory_not_on_the_import_path_says_what_puts_it_there(factories):
    message = refused(factories, settings_for("not_on_the_path_m13:build"))
    assert "No module named 'not_on_the_path_m13'" in message
    assert "pythonpath = ." in message and "PYTHONPATH=." in message and "[tool.pytest.ini_options]" in message
    assert "run pytest from your project root)" not in message


def test_a_forward_that_raises_names_the_file_and_the_exception(factories, one_torch_thread):
    config = ModelSettings(factory="m13_factories:raising_model", input=SEQUENCE)
    target = load_target(factories, config)
    with pytest.raises(PrivacyInputError) as info:
        target.candidate_layers()
    message = str(info.value)
    assert str(factories) in message and "ValueError: this model needs a speaker id" in message
    assert "second line" not in message and "model.input" in message
