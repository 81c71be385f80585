"""Content digests: the one way files, texts and arrays are fingerprinted (cache keys, checkpoint
and corpus fingerprints, baselines)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np

KEY_LENGTH = 32  # hex characters of a cache file name


def text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def bytes_sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def array_sha256(array: Any) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


def file_sha256(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def cache_key(text: str) -> str:
    """A file name for a cache entry described by ``text`` (every input that shaped it)."""
    return text_sha256(text)[:KEY_LENGTH]
