"""Corpora: a data spec (``synthetic``, ``synthetic:k=v,...``, ``iemocap:DIR``, ``ravdess:DIR``, a
manifest CSV) resolved into a Corpus through the corpus registry; ``register_corpus`` adds a kind."""

from __future__ import annotations

from privacy_checks.data import builtin as _builtin  # noqa: F401  (registers the built-in corpora)
from privacy_checks.data.options import parse_options
from privacy_checks.data.records import GENDERS, Corpus, Utterance
from privacy_checks.data.registry import CorpusLoader, load_corpus, register_corpus, unregister_corpus

__all__ = [
    "GENDERS",
    "Corpus",
    "CorpusLoader",
    "Utterance",
    "load_corpus",
    "parse_options",
    "register_corpus",
    "unregister_corpus",
]
