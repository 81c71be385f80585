"""Input features for the target model, named by a FeatureSpec stored in every checkpoint.

Kinds:
- ``logmel``: log-mel spectrograms (the paper's CNN input), torch-native (logmel.py).
- ``lld``: the Interspeech 2009 low-level descriptors through opensmile (the paper's LSTM input,
  §3.2): 16 descriptors and their deltas, 32 values every 10 ms (lld.py).
- ``waveform``: the raw audio itself, for end-to-end models (e.g. an SSL-style encoder).
- ``custom``: ``function: "module:callable"`` called as ``f(waveforms, sample_rate)`` (custom.py).

Layout: ``image`` gives a 1-channel (1, D, frames) map for CNNs, ``sequence`` a (frames, D) sequence
for recurrent and transformer models, ``channels`` (D, frames) for a Conv1d front end taking the D
features as its input channels (D = n_mels, or 32 for LLDs); waveforms are (samples,).
spec.py holds FeatureSpec and its validation; extraction.py the ``extract`` dispatcher.
"""

from privacy_checks.features.custom import custom_features
from privacy_checks.features.extraction import extract, fix_length, input_steps, input_time_axis
from privacy_checks.features.lld import lld_frames
from privacy_checks.features.logmel import LogMel, hz_to_mel, mel_filterbank, mel_to_hz
from privacy_checks.features.spec import FEATURE_KINDS, LAYOUTS, LLD_DIMS, LLD_STEP_S, FeatureSpec, frames_per_second

__all__ = [
    "FEATURE_KINDS",
    "LAYOUTS",
    "LLD_DIMS",
    "LLD_STEP_S",
    "FeatureSpec",
    "LogMel",
    "custom_features",
    "extract",
    "fix_length",
    "frames_per_second",
    "hz_to_mel",
    "input_steps",
    "input_time_axis",
    "lld_frames",
    "mel_filterbank",
    "mel_to_hz",
]
