"""Feature kinds beyond log-mel: opensmile IS09 LLDs (the paper's LSTM input), raw waveforms,
a user's `module:callable`, and the image/sequence layouts."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from privacy_checks.errors import PrivacyInputError
from privacy_checks.features import FeatureSpec, extract, input_time_axis
from privacy_checks.features.lld import is09_extractors
from privacy_checks.model.target import Target

SR = 16000
IS09_ORDER = (
    ["pcm_RMSenergy_sma"]
    + [f"pcm_fftMag_mfcc_sma[{i}]" for i in range(1, 13)]
    + ["pcm_zcr_sma", "voiceProb_sma", "F0_sma"]
)


def tone(freq: float, seconds: float = 1.0) -> np.ndarray:
    t = np.arange(int(SR * seconds)) / SR
    return (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def test_lld_columns_are_the_16_is09_descriptors_then_their_deltas_in_the_papers_order():
    lld, delta = is09_extractors()
    assert list(lld.feature_names) == IS09_ORDER
    assert list(delta.feature_names) == [name.replace("_sma", "_sma_de") for name in IS09_ORDER]


def test_lld_frames_every_10ms_32_columns_and_layouts():
    spec = FeatureSpec(kind="lld", duration_s=1.0, layout="sequence")
    assert spec.n_frames == 101 and spec.shape == (101, 32)
    waves = np.stack([tone(150.0), tone(300.0)])
    seq = extract(spec, waves).numpy()
    assert seq.shape == (2, 101, 32) and np.isfinite(seq).all()
    # F0 (column 15) of a steady tone: its frequency in the voiced frames
    for row, freq in ((0, 150.0), (1, 300.0)):
        voiced = seq[row, 10:-10, 15]
        voiced = voiced[voiced > 0]
        assert len(voiced) > 50 and abs(np.median(voiced) - freq) < 0.05 * freq
    image = extract(FeatureSpec(kind="lld", duration_s=1.0), waves).numpy()
    assert image.shape == (2, 1, 32, 101)
    np.testing.assert_array_equal(image[:, 0], seq.transpose(0, 2, 1))


def test_lld_extraction_is_deterministic_and_pads_short_clips():
    spec = FeatureSpec(kind="lld", duration_s=1.0, layout="sequence")
    short = tone(200.0, 0.5)[None]
    first, second = extract(spec, short).numpy(), extract(spec, short).numpy()
    np.testing.assert_array_equal(first, second)
    assert first.shape == (1, 101, 32)


def test_logmel_sequence_layout_is_the_image_transposed():
    waves = np.stack([tone(440.0)])
    image = extract(FeatureSpec(duration_s=1.0), waves).numpy()
    seq = extract(FeatureSpec(duration_s=1.0, layout="sequence"), waves).numpy()
    assert FeatureSpec(duration_s=1.0, layout="sequence").shape == (51, 40)
    np.testing.assert_array_equal(seq, image[:, 0].transpose(0, 2, 1))


def test_waveform_input_is_the_clip_fixed_to_duration():
    spec = FeatureSpec(kind="waveform", duration_s=0.5)
    assert spec.shape == (8000,)
    out = extract(spec, tone(100.0)[None]).numpy()
    np.testing.assert_array_equal(out[0], tone(100.0)[:8000])


@pytest.fixture
def feature_module(tmp_path, monkeypatch):
    (tmp_path / "myfeatures.py").write_text(
        "import numpy as np\n"
        "def frames(waves, sample_rate):\n"
        "    return waves.reshape(len(waves), -1, 160)[:, :, :20] * 2\n"
        "def broken(waves, sample_rate):\n"
        "    return np.zeros(3)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    yield
    sys.modules.pop("myfeatures", None)


def test_custom_feature_function(feature_module):
    spec = FeatureSpec.from_mapping({"kind": "custom", "function": "myfeatures:frames", "duration_s": 0.5})
    assert spec.shape == (50, 20)
    waves = np.stack([tone(100.0, 0.5), tone(200.0, 0.5)])
    np.testing.assert_allclose(extract(spec, waves).numpy(), waves.reshape(2, 50, 160)[:, :, :20] * 2)


@pytest.mark.parametrize(
    ("layout", "rank", "time"),
    [("channels", 3, 2), ("sequence", 3, 1), ("image", 4, 3), ("image", 3, 1), ("channels", 4, 3)],
)
def test_a_custom_functions_time_axis_follows_its_declared_layout_where_the_rank_fits(layout, rank, time):
    # Found by a new-user trial: (D, frames) features declared `layout: channels` were read with D
    # as time, and the control on T's input read 0.525 where an independent probe reads 0.975.
    spec = FeatureSpec(kind="custom", function="myfeatures:frames", layout=layout)
    assert input_time_axis(spec, rank) == time  # a rank the layout does not fit: the conventional axis


def test_the_input_layout_of_custom_channels_features_has_time_last():
    spec = FeatureSpec(kind="custom", function="myfeatures:frames", layout="channels")
    target = Target(torch.nn.Identity(), "user", spec, ("a", "b"), "0" * 64, Path("m.pt"), "state_dict")
    layout = target.input_layout(3)
    assert (layout.batch_axis, layout.time_axis, layout.feature_axes) == (0, 2, (1,))


def test_custom_feature_function_errors_name_the_function(feature_module):
    with pytest.raises(PrivacyInputError, match="'myfeatures:broken' returned an array of shape"):
        _ = FeatureSpec(kind="custom", function="myfeatures:broken").shape
    with pytest.raises(PrivacyInputError, match="'myfeatures:nothing' cannot be imported"):
        _ = FeatureSpec(kind="custom", function="myfeatures:nothing").shape
    with pytest.raises(PrivacyInputError, match="kind custom needs function"):
        FeatureSpec.from_mapping({"kind": "custom"})
    with pytest.raises(PrivacyInputError, match="layout 'grid' is not one of image, sequence"):
        FeatureSpec.from_mapping({"layout": "grid"})


def test_lld_features_are_cached_per_file(tmp_path, monkeypatch):
    import soundfile

    from privacy_checks.data import load_corpus
    from privacy_checks.engine.representations import feature_batches
    from privacy_checks.features import lld

    for i in range(2):
        soundfile.write(tmp_path / f"{i}.wav", tone(150.0 + 100 * i), SR)
    (tmp_path / "m.csv").write_text("path,speaker,gender\n0.wav,s1,f\n1.wav,s2,m\n")
    corpus = load_corpus("m.csv", tmp_path)
    spec = FeatureSpec(kind="lld", duration_s=1.0, layout="sequence")
    cache = tmp_path / "cache"
    first = np.concatenate([b.numpy() for _, b in feature_batches(corpus, spec, 1, cache)])
    assert len(list(cache.glob("*.npy"))) == 2
    np.testing.assert_array_equal(first, np.concatenate([b.numpy() for _, b in feature_batches(corpus, spec, 2)]))

    def no_opensmile(*args):
        raise AssertionError("cached LLDs were recomputed")

    monkeypatch.setattr(lld, "lld_frames", no_opensmile)
    again = np.concatenate([b.numpy() for _, b in feature_batches(corpus, spec, 2, cache)])
    np.testing.assert_array_equal(again, first)
