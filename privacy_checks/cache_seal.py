"""Seals on cache files: nothing read back from a cache decides a verdict unless this user wrote it.

A cached layer output is trusted by its name, and its name (a digest of the checkpoint, corpus and
feature spec) is public: anyone who can write to the cache folder (a shared temp folder, a CI cache
restored from a pull request's run) could plant rows that turn a FAIL into a pass. So every cache
file is sealed when written with an HMAC-SHA256 over its entry name and its bytes, keyed by a
secret that lives outside every cache (``$XDG_CACHE_HOME/privacy-checks/seal.key``, or
``~/.cache/...``; created 0600 in a 0700 folder, its ownership checked). A file whose seal is
missing or wrong (planted, truncated, written by another machine's key) is not read: the entry is
recomputed, with a warning. The seal also covers the inputs that made the entry, through its name.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import stat
import tempfile
import warnings
from pathlib import Path

from privacy_checks.errors import PrivacyInputError
from privacy_checks.fileio import atomic_write_bytes

SEAL_SUFFIX = ".seal"
_KEY_ENV = "PRIVACY_CHECKS_SEAL_KEY_FILE"  # tests point it at a file of their own
_verified: dict[tuple[str, int, int], str] = {}  # (path, size, mtime) -> seal: hash each file once


class CacheWarning(UserWarning):
    """A cache entry was not trusted and is recomputed."""


def fallback_cache_root() -> Path:
    """Where caches live when pytest's cache is off: this user's own folder in the temp folder."""
    uid = os.getuid() if hasattr(os, "getuid") else 0
    return private_folder(Path(tempfile.gettempdir()) / f"privacy-checks-cache-{uid}")


def private_folder(path: Path) -> Path:
    """`path` created 0700 if absent; refused when another user owns it or others may write to it
    (a shared temp folder must not hold files this user then trusts)."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = path.stat()
    if hasattr(os, "getuid") and info.st_uid != os.getuid():
        raise PrivacyInputError(
            f"cache folder {path} belongs to another user (uid {info.st_uid}); its files could be planted. "
            "Remove it, or run with pytest's cache enabled (the default) so the cache lives in .pytest_cache."
        )
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise PrivacyInputError(
            f"cache folder {path} is writable by other users (mode {stat.filemode(info.st_mode)}); its files "
            f"could be planted. Run `chmod 700 {path}` or remove it."
        )
    return path


def _key() -> bytes:
    configured = os.environ.get(_KEY_ENV)
    if configured:
        path = Path(configured)
    else:
        home = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        path = Path(home) / "privacy-checks" / "seal.key"
    # Read once per process and key file: the feature cache checks a seal per audio file.
    if path not in _keys:
        _keys[path] = _read_or_make_key(path)
    return _keys[path]


_keys: dict[Path, bytes] = {}


def _read_or_make_key(path: Path) -> bytes:
    private_folder(path.parent)
    if not path.is_file():
        # Written whole under another name, then linked into place: a link fails if the key exists,
        # so concurrent first runs (pytest-xdist workers) all end up with the one key that won.
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(secrets.token_bytes(32))
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink(missing_ok=True)
    data = path.read_bytes()
    if len(data) < 16:
        raise PrivacyInputError(f"cache seal key {path} is damaged (too short); remove it, a new one is made.")
    return data


def _mac(name: str) -> hmac.HMAC:
    return hmac.new(_key(), name.encode(), hashlib.sha256)


def _digest(path: Path, name: str) -> str:
    mac = _mac(name)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            mac.update(block)
    return mac.hexdigest()


def _seal_path(path: Path) -> Path:
    return path.with_name(path.name + SEAL_SUFFIX)


def _remember(path: Path, digest: str) -> None:
    info = path.stat()
    _verified[(str(path), info.st_size, info.st_mtime_ns)] = digest


def place_sealed(tmp: Path, path: Path, name: str) -> None:
    """Move the complete file `tmp` to `path`, an entry known as `name` (what makes it: its cache
    key), sealed. The seal is written first: a reader that sees the file always sees its seal."""
    digest = _digest(tmp, name)
    atomic_write_bytes(_seal_path(path), digest.encode())
    os.replace(tmp, path)
    _remember(path, digest)


def write_sealed(path: Path, name: str, data: bytes) -> None:
    """Write `data` to `path` atomically, sealed (the seal first, as place_sealed)."""
    mac = _mac(name)
    mac.update(data)
    atomic_write_bytes(_seal_path(path), mac.hexdigest().encode())
    atomic_write_bytes(path, data)
    _remember(path, mac.hexdigest())


def is_sealed(path: Path, name: str) -> bool:
    """Whether `path` is there and carries this user's seal for `name`. A file that is there but
    unsealed or wrongly sealed (planted, truncated, another key's) is warned about and reported
    absent: the caller recomputes it and replaces it atomically. Nothing is deleted here: another
    process may be reading or placing that very entry."""
    if not path.is_file():
        return False
    try:
        info = path.stat()
        expected = _seal_path(path).read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        expected = ""
    known = _verified.get((str(path), info.st_size, info.st_mtime_ns))
    if known is not None and hmac.compare_digest(known, expected):
        return True
    try:
        if expected and hmac.compare_digest(_digest(path, name), expected):
            _verified[(str(path), info.st_size, info.st_mtime_ns)] = expected
            return True
    except OSError:  # replaced or removed while being read: absent for now
        return False
    warnings.warn(
        f"privacy-checks: cache file {path} is {'wrongly sealed' if expected else 'not sealed'} (planted, "
        "truncated or written with another key); it is ignored and recomputed.",
        CacheWarning,
        stacklevel=2,
    )
    return False
