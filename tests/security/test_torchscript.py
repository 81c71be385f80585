"""TorchScript archives are programs (issue 13): loading one and checking its outputs runs the code
compiled into it, so the loader refuses them unless --privacy-trust-checkpoint is given. The planted
forward writes a file of the archive's choosing with torch.from_file."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from privacy_checks.config import ModelSettings
from privacy_checks.errors import PrivacyInputError
from privacy_checks.model.loader import load_target

CONFIG = ModelSettings(input={"kind": "logmel", "sample_rate": 16000, "n_mels": 4})


class Writer(nn.Module):
    def __init__(self, target: str):
        super().__init__()
        self.target = target
        self.linear = nn.Linear(4, 2)

    def forward(self, x):
        written = torch.from_file(self.target, True, 16)  # shared=True creates and fills the file
        return self.linear(x) + written.sum() * 0


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch.jit is deprecated, still in use
def test_a_torchscript_archive_is_refused_without_trust(tmp_path):
    marker = tmp_path / "written-by-the-archive"
    path = tmp_path / "model.ts"
    torch.jit.save(torch.jit.script(Writer(str(marker))), str(path))
    assert not marker.exists()
    with pytest.raises(PrivacyInputError) as info:
        load_target(path, CONFIG)
    message = str(info.value)
    assert str(path) in message and "TorchScript archive" in message and "--privacy-trust-checkpoint" in message
    assert "state_dict" in message and ".pt2" in message  # the formats that run no code from the file
    assert not marker.exists()
