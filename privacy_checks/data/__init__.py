"""Corpora: parse a data spec (``synthetic``, ``synthetic:k=v,...``, a manifest CSV) into a Corpus."""

from __future__ import annotations

from pathlib import Path

from privacy_checks.data.records import GENDERS, Corpus, Utterance
from privacy_checks.errors import PrivacyInputError

__all__ = ["GENDERS", "Corpus", "Utterance", "load_corpus", "parse_options"]

SPEC_HELP = (
    "use `synthetic`, `synthetic:key=value,...`, `iemocap:DIR[,merge_excitement=true]`, `ravdess:DIR` "
    "or the path to a manifest .csv"
)


def parse_options(text: str, where: str) -> dict[str, str]:
    options: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise PrivacyInputError(f"{where}: expected key=value, got {part!r}")
        options[key.strip()] = value.strip()
    return options


def load_corpus(spec: str, base_dir: Path, option: str = "--privacy-data") -> Corpus:
    """Resolve a data spec; relative manifest paths are taken from `base_dir` (the rootdir)."""
    spec = spec.strip()
    kind, _, rest = spec.partition(":")
    if kind == "synthetic":
        from privacy_checks.data.synthetic import SyntheticParams, make_synthetic_corpus

        return make_synthetic_corpus(SyntheticParams.from_options(parse_options(rest, f"{option} synthetic")))
    if kind in ("iemocap", "ravdess"):
        # `DIR[,key=value...]`: a folder whose name contains a comma needs a manifest instead.
        folder, _, extra = rest.partition(",")
        where = f"{option} {spec}"
        if not folder.strip():
            raise PrivacyInputError(f"{where}: give the corpus folder, e.g. {kind}:/data/{kind}.")
        root = Path(folder.strip())
        root = root if root.is_absolute() else base_dir / root
        if not root.is_dir():
            raise PrivacyInputError(f"{where}: folder {root} does not exist; give the {kind} release root folder.")
        options = parse_options(extra, where)
        if kind == "iemocap":
            from privacy_checks.data.iemocap import load_iemocap, merge_option

            return load_iemocap(root, merge_excitement=merge_option(options, where))
        if options:
            raise PrivacyInputError(f"{where}: ravdess takes no options, got {', '.join(options)}.")
        from privacy_checks.data.ravdess import load_ravdess

        return load_ravdess(root)
    if spec.lower().endswith(".csv"):
        from privacy_checks.data.manifest import load_manifest

        path = Path(spec)
        return load_manifest(path if path.is_absolute() else base_dir / path)
    raise PrivacyInputError(f"{option} {spec!r}: unknown corpus spec; {SPEC_HELP}.")
