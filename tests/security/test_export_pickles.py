"""A torch.export archive (.pt2) never runs code from the file (issue 13): torch.export.load unpickles
sample inputs, pickled weights and constants without weights_only; the loader allows only
weights-only unpickling and refuses anything else unless --privacy-trust-checkpoint is given."""

from __future__ import annotations

import io
import pathlib
import zipfile

import pytest
import torch
from torch import nn

from privacy_checks.config import ModelSettings
from privacy_checks.errors import PrivacyInputError
from privacy_checks.model.loader import load_target

CONFIG = ModelSettings(input={"kind": "logmel", "sample_rate": 16000, "n_mels": 4, "layout": "sequence"})


class Payload:
    """Unpickling it creates the marker file."""

    def __init__(self, marker: pathlib.Path):
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (self.marker,))


def export(path: pathlib.Path) -> None:
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU())
    batch = torch.export.Dim("batch", min=1, max=4096)  # frames (101) and mel bins (4) as CONFIG gives them
    torch.export.save(torch.export.export(model, (torch.randn(2, 101, 4),), dynamic_shapes=({0: batch},)), str(path))


def plant(clean: pathlib.Path, planted: pathlib.Path, member: str, marker: pathlib.Path) -> None:
    buffer = io.BytesIO()
    torch.save(Payload(marker), buffer)
    with zipfile.ZipFile(clean) as source, zipfile.ZipFile(planted, "w", zipfile.ZIP_STORED) as out:
        names = [info.filename for info in source.infolist()]
        assert any(member in name for name in names), names
        for info in source.infolist():
            out.writestr(info, buffer.getvalue() if member in info.filename else source.read(info.filename))


def test_a_planted_sample_inputs_pickle_does_not_run(tmp_path):
    clean, planted, marker = tmp_path / "ok.pt2", tmp_path / "bad.pt2", tmp_path / "marker"
    export(clean)
    plant(clean, planted, "sample_inputs", marker)
    real_load = torch.load
    with pytest.raises(PrivacyInputError) as info:
        load_target(planted, CONFIG)
    message = str(info.value)
    assert str(planted) in message and "could run code" in message and "--privacy-trust-checkpoint" in message
    assert not marker.exists()
    assert torch.load is real_load  # the guard is lifted after the load
    assert load_target(clean, CONFIG).architecture == "torch.export"  # a plain export still loads
