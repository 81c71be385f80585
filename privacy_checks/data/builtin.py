"""The built-in corpora, registered when ``privacy_checks.data`` is imported.

Each loader imports its module on first use, so naming a data spec stays cheap (no scipy, no
soundfile) until a corpus is actually loaded.
"""

from __future__ import annotations

from pathlib import Path

from privacy_checks.data.options import parse_options
from privacy_checks.data.records import Corpus
from privacy_checks.data.registry import MANIFEST_PREFIX, register_corpus
from privacy_checks.errors import PrivacyInputError


def load_synthetic(argument: str, base_dir: Path, option: str) -> Corpus:
    from privacy_checks.data.synthetic import SyntheticParams, make_synthetic_corpus

    return make_synthetic_corpus(
        SyntheticParams.from_options(parse_options(argument, f"{option} synthetic"), origin=option)
    )


def corpus_folder(prefix: str, argument: str, base_dir: Path, option: str) -> tuple[Path, dict[str, str], str]:
    """``DIR[,key=value...]`` -> (existing folder, options, where-prefix for messages).

    A folder whose name contains a comma needs a manifest instead."""
    folder, _, extra = argument.partition(",")
    where = f"{option} {prefix}:{argument}"
    if not folder.strip():
        raise PrivacyInputError(f"{where}: give the corpus folder, e.g. {prefix}:/data/{prefix}.")
    root = Path(folder.strip())
    root = root if root.is_absolute() else base_dir / root
    if not root.is_dir():
        raise PrivacyInputError(f"{where}: folder {root} does not exist; give the {prefix} release root folder.")
    return root, parse_options(extra, where), where


def load_iemocap_spec(argument: str, base_dir: Path, option: str) -> Corpus:
    from privacy_checks.data.iemocap import load_iemocap, merge_option

    root, options, where = corpus_folder("iemocap", argument, base_dir, option)
    return load_iemocap(root, merge_excitement=merge_option(options, where))


def load_ravdess_spec(argument: str, base_dir: Path, option: str) -> Corpus:
    from privacy_checks.data.ravdess import load_ravdess

    root, options, where = corpus_folder("ravdess", argument, base_dir, option)
    if options:
        raise PrivacyInputError(f"{where}: ravdess takes no options, got {', '.join(options)}.")
    return load_ravdess(root)


def load_manifest_spec(argument: str, base_dir: Path, option: str) -> Corpus:
    """``manifest:PATH`` or a bare ``PATH.csv``: a manifest CSV, relative to ``base_dir``."""
    from privacy_checks.data.manifest import load_manifest

    if not argument.strip():
        raise PrivacyInputError(f"{option} {MANIFEST_PREFIX}:: give the path to a manifest .csv.")
    path = Path(argument.strip())
    return load_manifest(path if path.is_absolute() else base_dir / path, option)


register_corpus("synthetic", load_synthetic, help="`synthetic`, `synthetic:key=value,...`")
register_corpus("iemocap", load_iemocap_spec, help="`iemocap:DIR[,merge_excitement=true]`")
register_corpus("ravdess", load_ravdess_spec, help="`ravdess:DIR`")
register_corpus(MANIFEST_PREFIX, load_manifest_spec, help="the path to a manifest .csv")
