"""The audit's corpora and settings as the report (and a baseline's comparability check) records them."""

from __future__ import annotations

import dataclasses
from typing import Any

from privacy_checks import stats
from privacy_checks.config import PrivacyConfig
from privacy_checks.data import Corpus

# The measurement protocol's version: 5 stretches intervals for few speakers, keeps every interval
# at least as wide as the binomial one over the utterances, raises an upper end by its reading's
# distance below chance, and asks a positive control's interval to lie above chance; 4 has the
# convex probe read every utterance whatever the budget's per-speaker cap (its intervals and
# controls too); 3 stops neural heads early on held-out speakers under the budget's epoch cap; 2
# decided on balanced accuracy, with a convex probe on per-channel statistics in every
# encoder-access item; 1: plain accuracy, neural heads only, fixed epochs.
PROTOCOL_VERSION = 5


def describe_corpus(corpus: Corpus, config: PrivacyConfig) -> dict[str, Any]:
    return {
        "name": corpus.name,
        "fingerprint": corpus.fingerprint,
        "utterances": len(corpus),
        "speakers": len(set(corpus.speakers)),
        "female_speakers": corpus.speaker_count("female"),
        "male_speakers": corpus.speaker_count("male"),
        "emotions": list(corpus.emotions),
        "folds": config.audit.folds,
    }


def describe_settings(config: PrivacyConfig) -> dict[str, Any]:
    return {
        "config_file": str(config.source) if config.source else None,
        # What L measures and how: a baseline measured otherwise is not comparable.
        "metric": stats.METRIC_BALANCED,
        "protocol": PROTOCOL_VERSION,
        "limits": {
            "max_excess": config.limits.max_excess,
            "rule": config.limits.rule,
            "layers": dict(config.limits.layers),
            "overrides": [dataclasses.asdict(o) for o in config.limits.overrides],
        },
        "audit": {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(config.audit).items()},
        "attacker": dataclasses.asdict(config.attacker),
        "controls": dataclasses.asdict(config.controls),
        "baseline": dataclasses.asdict(config.baseline),
    }
