"""Filesystem edges: readable-file checks and write-to-temp-then-rename outputs."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .info import MediaError


def check_readable(path: Path) -> int:
    """Size of `path` in bytes, or MediaError saying why it cannot be read."""
    try:
        st = path.stat()
    except FileNotFoundError:
        raise MediaError("not found: no such file", str(path)) from None
    except PermissionError:
        raise MediaError("cannot read: permission denied", str(path)) from None
    if path.is_dir():
        raise MediaError("is a folder, not a media file or sequence pattern", str(path))
    if st.st_size == 0:
        raise MediaError("empty file (0 bytes)", str(path))
    if not os.access(path, os.R_OK):
        raise MediaError("cannot read: permission denied", str(path))
    return st.st_size


def temp_name(path: Path) -> Path:
    """A hidden sibling name ending in .tmp (ingest watchers ignore it) for an atomic write of `path`."""
    return path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")


def prepare_output(path: Path) -> Path:
    """Create the folder of an output file; MediaError if it cannot be created."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise MediaError(f"cannot create the output folder: {e.strerror or e}", str(path.parent)) from None
    return path


@contextmanager
def atomic_output(path: Path) -> Iterator[Path]:
    """Yield a temp path to write; it replaces `path` only when the block succeeds."""
    prepare_output(path)
    tmp = temp_name(path)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
