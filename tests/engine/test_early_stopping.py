"""Early stopping as the audit wires it: every neural head of an encoder-access case holds out
speakers of its own training rows (the target's other folds, or the auxiliary corpus's training
speakers), never a speaker it is scored on."""

from __future__ import annotations

import numpy as np

from privacy_checks.attackers import training
from privacy_checks.engine import open_audit
from tests.conftest import DEMO

DATA = "synthetic:speakers=10,utterances=2,duration=0.5"
AUX = "synthetic:seed=1,speakers=10,utterances=2,duration=0.5"
CONFIG = {
    "audit": {
        "budget": "quick",
        "scenarios": ["worst_case", "scenario_1"],
        "layers": ["pool"],
        "bootstrap": 100,
        "permutations": 100,
    },
    "attacker": {"epochs": 3, "patience": 2, "convex_probe": False},
}


def test_every_head_holds_out_speakers_of_its_own_training_rows(tmp_path, monkeypatch, one_torch_thread):
    audit = open_audit(DEMO, DATA, config=CONFIG, aux=AUX, cache_dir=tmp_path / "embeddings", base_dir=tmp_path)
    splits: list[tuple[set, set]] = []
    split = training.validation_split

    def spy(rows, speakers, genders, seed):
        fit, held = split(rows, speakers, genders, seed)
        splits.append((set(speakers[fit]), set(speakers[held])))
        return fit, held

    monkeypatch.setattr(training, "validation_split", spy)
    target_speakers = set(audit.corpora.target.speakers)
    aux_speakers = set(audit.corpora.aux.speakers)
    for case in audit.cases:
        assert audit.result(case).status in ("failed", "passed", "inconclusive")
    # worst case: 5 folds of the target (its head, then its control on T's input); scenario 1: one
    # head on the auxiliary corpus (and its control)
    assert len(splits) == 5 + 5 + 1 + 1
    folds = audit.corpora.folds
    speakers = np.array(audit.corpora.target.speakers)
    fold_speakers = [set(speakers[folds == f]) for f in np.unique(folds)]
    for fit, held in splits[:5]:
        assert held and fit.isdisjoint(held) and (fit | held) <= target_speakers
        # the held-out speakers come from the training folds: one fold (the test fold) is untouched
        assert sum((fit | held).isdisjoint(test) for test in fold_speakers) == 1
    aux_fit, aux_held = splits[-1]
    assert aux_held and (aux_fit | aux_held) <= aux_speakers
