"""The budget's per-speaker cap (engine/corpora.py) checks the whole corpus before it drops rows."""

from __future__ import annotations

import numpy as np
import pytest

from privacy_checks.data import Corpus, Utterance
from privacy_checks.engine.corpora import cap_utterances
from privacy_checks.errors import PrivacyInputError


def corpus(rows: list[tuple[str, str]]) -> Corpus:
    utterances = tuple(Utterance(id=f"u{i}", speaker=s, gender=g) for i, (s, g) in enumerate(rows))
    return Corpus("listed", utterances, "fp", read_audio=lambda utt, rate: np.zeros(1, dtype=np.float32))


def test_cap_keeps_the_first_utterances_of_each_speaker():
    capped = cap_utterances(corpus([("a", "female")] * 3 + [("b", "male")] * 3), 2)
    assert [u.id for u in capped.utterances] == ["u0", "u1", "u3", "u4"]
    assert capped.fingerprint != "fp" and capped.name == "listed[2/speaker]"


@pytest.mark.parametrize("per_speaker", [None, 1, 2])
def test_a_speaker_with_two_genders_beyond_the_cap_is_a_usage_error(per_speaker):
    # The male row of `a` is its third: a cap of 1 or 2 would drop it and hide the mislabel.
    mixed = corpus([("a", "female"), ("a", "female"), ("b", "male"), ("a", "male")])
    with pytest.raises(PrivacyInputError) as info:
        cap_utterances(mixed, per_speaker)
    message = str(info.value)
    assert message.startswith("listed: speaker 'a' has utterances labelled both female and male")
    assert "fix the gender labels of that speaker" in message
