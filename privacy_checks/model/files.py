"""The checkpoint file before any format reads it: model formats this tool does not read, paths that
are not a readable file (missing, a directory, a symlink loop, no read permission, empty), and what
an unreadable file is, in words, when torch cannot load it (truncated or damaged zip archive,
damaged pickle, text such as a Git LFS pointer or an HTML page, bytes of no PyTorch format)."""

from __future__ import annotations

import errno
import os
import stat
import zipfile
from pathlib import Path

from privacy_checks.errors import PrivacyInputError

SAVE_ADVICE = (
    "export .pt2 (torch.export.save) or ONNX (.onnx, with privacy-checks[onnx]) or save a state dict "
    "(torch.save(model.state_dict(), 'model.pt') "
    "with model.factory in thresholds.yaml); see README 'Checkpoint formats'"
)
# suffix -> the format's name; a file (or, for .mlpackage, a folder) of a format no loader reads
UNSUPPORTED = {
    ".ort": "ONNX Runtime",
    ".tflite": "TensorFlow Lite",
    ".lite": "TensorFlow Lite",
    ".mlmodel": "Core ML",
    ".mlpackage": "Core ML",
    ".pte": "ExecuTorch",
    ".h5": "Keras/HDF5",
    ".keras": "Keras",
    ".pb": "TensorFlow",
    ".safetensors": "safetensors",
}
_ZIP_MAGIC = b"PK\x03\x04"
_PICKLE_PROTOCOL = 0x80
_LFS_POINTER = b"version https://git-lfs"
_HEAD = 64  # bytes read to say what an unreadable file is


def check_readable(path: Path) -> None:
    """PrivacyInputError naming `path` and what is wrong with it, unless it is a non-empty regular
    file this process can read, of a format that might be PyTorch's."""
    fmt = UNSUPPORTED.get(path.suffix.lower())
    if fmt is not None:
        raise PrivacyInputError(
            f"--privacy-audit: {path}: the {fmt} format ({path.suffix}) is not supported (yet): {SAVE_ADVICE}."
        )
    where = f"--privacy-audit: checkpoint {path}"
    try:
        info = path.stat()
    except FileNotFoundError:
        if path.is_symlink():
            raise PrivacyInputError(
                f"{where} is a symbolic link to {os.readlink(path)}, which does not exist; pass the model file itself."
            ) from None
        raise PrivacyInputError(f"{where} does not exist; pass the path to a model file.") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise PrivacyInputError(
                f"{where} is a symbolic link loop (the link leads back to itself); pass the model file itself."
            ) from None
        raise PrivacyInputError(f"{where} cannot be read: {exc.strerror or exc}.") from None
    if stat.S_ISDIR(info.st_mode):
        raise PrivacyInputError(
            f"{where} is a directory, not a model file; pass the file inside it (a .pt, .pth or .pt2 file)."
        )
    if not stat.S_ISREG(info.st_mode):
        raise PrivacyInputError(f"{where} is not a regular file (a pipe or a device); pass a model file.")
    try:
        with open(path, "rb"):
            pass
    except PermissionError:
        raise PrivacyInputError(
            f"{where} cannot be read: permission denied (this user may not read it); check the file's "
            "permissions (chmod u+r) or run as its owner."
        ) from None
    except OSError as exc:
        raise PrivacyInputError(f"{where} cannot be read: {exc.strerror or exc}.") from None
    if info.st_size == 0:
        raise PrivacyInputError(
            f"{where} is not a PyTorch checkpoint: the file is empty (0 bytes). Was it written completely? "
            "Save or copy it again."
        )


def unreadable(path: Path, exc: BaseException) -> PrivacyInputError:
    """The error for a file torch could not load (raising `exc`): what the file is, in words."""
    lines = str(exc).strip().splitlines()
    detail = "it ends early" if isinstance(exc, EOFError) else (lines[0] if lines else type(exc).__name__)
    with open(path, "rb") as handle:
        head = handle.read(_HEAD)
    size = path.stat().st_size
    if head.startswith(_ZIP_MAGIC):
        if not zipfile.is_zipfile(path):
            what = (
                f"the zip archive torch.save writes is truncated or damaged ({size} bytes; its directory at the "
                "end is missing). Was it copied or downloaded completely? Save or copy it again"
            )
        else:
            what = f"a zip archive, but not one torch.save wrote or a damaged one ({detail})"
    elif head.startswith(_LFS_POINTER):
        what = "it is a Git LFS pointer, not the model's bytes; fetch the file with `git lfs pull`"
    elif head[:1] and head[0] == _PICKLE_PROTOCOL:
        what = f"a pickle (the older torch.save format) that is truncated or damaged ({detail})"
    elif _is_text(head):
        shown = head.decode("utf-8", "replace").strip().splitlines()[0][:40] if head.strip() else ""
        what = (
            f"it is a text file (it starts with {shown!r}), not a model: an error page saved by a failed "
            "download, or the wrong file"
        )
    else:
        what = f"the file is neither a zip archive (torch.save's format) nor a pickle ({size} bytes)"
    return PrivacyInputError(
        f"cannot read checkpoint {path}: not a PyTorch checkpoint: {what}. Expected a file written by torch.save, "
        "torch.export.save or privacy-checks train."
    )


def _is_text(head: bytes) -> bool:
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:  # a character cut at the end of the head is still text
        if exc.start < len(head) - 3:
            return False
        text = head[: exc.start].decode("utf-8")
    return bool(text) and all(ch.isprintable() or ch in "\r\n\t" for ch in text)
