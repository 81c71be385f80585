"""The corpus registry: a data spec's prefix (``synthetic:``, ``iemocap:``, ...) names its loader.

A loader is called as ``loader(argument, base_dir, option)``: ``argument`` is the text after
``prefix:`` (empty when the spec is the bare prefix), ``base_dir`` the folder relative paths are
taken from, ``option`` where the spec came from (``--privacy-data``, a config key), for messages.
A spec with no registered prefix that ends in ``.csv`` goes to the ``manifest`` loader. Adding a
corpus is one ``register_corpus`` call; the built-in ones are registered by ``privacy_checks.data``.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from privacy_checks.data.records import Corpus
from privacy_checks.errors import PrivacyInputError

CorpusLoader = Callable[[str, Path, str], Corpus]
MANIFEST_PREFIX = "manifest"  # `.csv` paths without a prefix are manifests
# Two characters at least, so a Windows drive (`C:\...`) is never taken for a prefix.
PREFIX_PATTERN = re.compile(r"[A-Za-z][A-Za-z0-9_-]+")


@dataclass(frozen=True)
class CorpusKind:
    prefix: str
    loader: CorpusLoader
    help: str  # how to write the spec, e.g. "`ravdess:DIR`"; listed when a spec is not understood


_KINDS: dict[str, CorpusKind] = {}


def register_corpus(prefix: str, loader: CorpusLoader, *, help: str) -> None:
    """Make ``prefix:...`` specs load with ``loader``; ``help`` shows how to write such a spec."""
    if not PREFIX_PATTERN.fullmatch(prefix):
        raise ValueError(f"corpus prefix {prefix!r} must be a letter then letters, digits, '_' or '-'")
    if prefix in _KINDS:
        raise ValueError(f"corpus prefix {prefix!r} is already registered; unregister_corpus it first")
    _KINDS[prefix] = CorpusKind(prefix, loader, help)


def unregister_corpus(prefix: str) -> None:
    """Forget ``prefix`` (a test's or a plugin's clean-up); unknown prefixes are ignored."""
    _KINDS.pop(prefix, None)


def registered_corpora() -> tuple[str, ...]:
    """The registered prefixes, in registration order."""
    return tuple(_KINDS)


def load_corpus(spec: str, base_dir: Path, option: str = "--privacy-data") -> Corpus:
    """Resolve a data spec; relative paths are taken from `base_dir` (the rootdir)."""
    spec = spec.strip()
    prefix, _, argument = spec.partition(":")
    kind = _KINDS.get(prefix)
    if kind is not None:
        return kind.loader(argument, base_dir, option)
    if spec.lower().endswith(".csv") and MANIFEST_PREFIX in _KINDS:
        return _KINDS[MANIFEST_PREFIX].loader(spec, base_dir, option)
    raise PrivacyInputError(f"{option} {spec!r}: unknown corpus spec{_did_you_mean(spec)}; use {spec_help()}.")


def spec_help() -> str:
    """Every registered way to write a spec: "`a`, `b:X` or `c:Y`"."""
    helps = [kind.help for kind in _KINDS.values()]
    if len(helps) < 2:
        return helps[0] if helps else "a registered corpus (none is registered)"
    return ", ".join(helps[:-1]) + " or " + helps[-1]


def _did_you_mean(spec: str) -> str:
    prefix, colon, _ = spec.partition(":")
    if not colon and not PREFIX_PATTERN.fullmatch(spec):
        return ""  # a path (a `.tsv`, a folder), not a misspelt prefix
    close = difflib.get_close_matches(prefix, list(_KINDS), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""
