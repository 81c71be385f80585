"""A model file never decides what code runs (issue 13): an input spec naming a feature function
inside a checkpoint or an archive's metadata is refused unless the user's own thresholds.yaml names
the same function. The planted function would write a marker file if it were ever imported."""

from __future__ import annotations

import sys

import pytest

from privacy_checks.config import ModelSettings
from privacy_checks.errors import PrivacyInputError
from privacy_checks.features import FeatureSpec
from privacy_checks.model import zoo
from privacy_checks.model.checkpoint import save_checkpoint
from privacy_checks.model.loader import load_target

PLANTED = "planted_features"


@pytest.fixture
def planted(tmp_path, monkeypatch):
    """A module whose import writes a marker; the spec names its function."""
    marker = tmp_path / "marker"
    (tmp_path / f"{PLANTED}.py").write_text(
        f"from pathlib import Path\nPath({str(marker)!r}).write_text('ran')\n"
        "def frames(waveforms, sample_rate):\n    return waveforms[:, None, :]\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    yield marker
    sys.modules.pop(PLANTED, None)


def checkpoint_naming(tmp_path, function: str):
    spec = FeatureSpec(kind="custom", function=function, duration_s=0.5)
    path = tmp_path / "model.pt"
    save_checkpoint(path, zoo.build("small_vgg"), "small_vgg", {}, spec, ("a", "b", "c", "d"))
    return path


@pytest.mark.parametrize("function", [f"{PLANTED}:frames", "os:system"])
def test_a_checkpoint_naming_a_function_is_refused(tmp_path, planted, function):
    path = checkpoint_naming(tmp_path, function)
    with pytest.raises(PrivacyInputError) as info:
        load_target(path)
    message = str(info.value)
    assert str(path) in message and "names code to run" in message and repr(function) in message
    assert "thresholds.yaml" in message and f"function: {function!r}" in message
    assert not planted.exists() and PLANTED not in sys.modules


def test_the_users_own_config_may_name_it(tmp_path, planted):
    path = checkpoint_naming(tmp_path, f"{PLANTED}:frames")
    other = ModelSettings(input={"kind": "custom", "function": "somewhere:else"})
    with pytest.raises(PrivacyInputError, match="names code to run"):
        load_target(path, other)
    assert not planted.exists()
    same = ModelSettings(input={"kind": "custom", "function": f"{PLANTED}:frames"})
    target = load_target(path, same)
    assert target.input_spec.function == f"{PLANTED}:frames"


def test_archive_metadata_naming_a_function_is_refused(tmp_path, planted):
    """.pt2 and TorchScript archives carry the spec in privacy_checks.json: the same rule."""
    from privacy_checks.model import metadata_spec_and_labels

    meta = {"input_spec": {"kind": "custom", "function": f"{PLANTED}:frames", "duration_s": 0.5}, "labels": ["a"]}
    with pytest.raises(PrivacyInputError, match="privacy_checks.json names code to run"):
        metadata_spec_and_labels(meta, None, tmp_path / "model.pt2")
    assert not planted.exists() and PLANTED not in sys.modules
