"""A Hugging Face folder never decides what code runs (issue 14): a pickled pytorch_model.bin is not
loaded without --privacy-trust-checkpoint, a config naming custom code (auto_map) is refused even
with it, and Python files inside the folder (modeling code, a conftest.py, a test file) are never
imported, by the loader or by pytest's collection of the folder. Each planted file would write a
marker if it ran."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

pytest.importorskip("transformers")

from transformers import Wav2Vec2Config, Wav2Vec2ForSequenceClassification

from privacy_checks.errors import PrivacyInputError
from privacy_checks.model.loader import load_target

TINY = {
    "hidden_size": 16,
    "num_hidden_layers": 1,
    "num_attention_heads": 2,
    "intermediate_size": 32,
    "conv_dim": (8,),
    "conv_kernel": (320,),  # 50 frames a second, as the real models (clips are read up to 8 s)
    "conv_stride": (320,),
    "num_conv_pos_embeddings": 8,
    "num_conv_pos_embedding_groups": 2,
    "classifier_proj_size": 8,
}


class Planted:
    """Unpickling this writes the marker (what a malicious pytorch_model.bin would do)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (self.marker, "ran"))


def planted_python(path: Path, name: str, marker: Path) -> None:
    (path / name).write_text(f"from pathlib import Path\nPath({str(marker)!r}).write_text('ran')\n")


@pytest.fixture
def folder(tmp_path) -> Path:
    path = tmp_path / "model"
    Wav2Vec2ForSequenceClassification(Wav2Vec2Config(**TINY)).save_pretrained(path)
    return path


def test_a_pickled_bin_never_runs_without_the_trust_flag(folder, tmp_path):
    marker = tmp_path / "marker"
    (folder / "model.safetensors").unlink()
    torch.save({"payload": Planted(marker)}, folder / "pytorch_model.bin")
    with pytest.raises(PrivacyInputError, match="pytorch_model.bin is a pickle"):
        load_target(folder)
    assert not marker.exists()


def test_custom_code_is_refused_even_when_trusted_and_never_imported(folder, tmp_path):
    marker = tmp_path / "marker"
    planted_python(folder, "modeling_planted.py", marker)
    config = json.loads((folder / "config.json").read_text())
    config["auto_map"] = {"AutoModelForAudioClassification": "modeling_planted.PlantedModel"}
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(PrivacyInputError, match="names custom code"):
        load_target(folder, trust_checkpoint=True)
    assert not marker.exists()


def test_pytest_never_imports_python_files_inside_the_folder(folder, tmp_path, pytester, monkeypatch):
    markers = {name: tmp_path / f"marker-{name}" for name in ("conftest.py", "test_planted.py")}
    for name, marker in markers.items():
        planted_python(folder, name, marker)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "-p", "no:xdist", "--privacy-audit", str(folder), "--privacy-scenarios",
        "worst_case", "--privacy-data", "synthetic:speakers=8,utterances=2,duration=0.5", "--collect-only", "-q",
    )  # fmt: skip
    output = result.stdout.str() + result.stderr.str()
    assert result.ret == pytest.ExitCode.OK, output
    assert "model::worst_case[" in output and "test_planted" not in output
    assert not [name for name, marker in markers.items() if marker.exists()], os.listdir(tmp_path)
