"""Filesystem edges: readable-file checks and write-to-temp-then-rename outputs.

A temp name carries its writer: `.NAME.HOST-PID-TOKEN.tmp`. A process killed with SIGKILL cannot remove its
temp file, so `prepare_output` sweeps the siblings of the same output left by a process of this host that is
no longer running. A temp file of another host (shared storage) or of a live process is never touched.
"""

from __future__ import annotations

import glob
import hashlib
import os
import secrets
import shutil
import socket
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


def _host() -> str:
    return socket.gethostname().replace(".", "_").replace("-", "_") or "host"


NAME_MAX = 255  # the bytes of one name a Linux (and macOS) file system holds


def _temp_stem(name: str) -> str:
    """`name` as temp names of it begin: itself, or, where a temp name of it would pass NAME_MAX (an output named
    with 125 Cyrillic letters: 250 bytes, legal, and its write failed with a traceback), its start and a digest."""
    room = NAME_MAX - len(f"..{_host()}-{'9' * 7}-{'0' * 8}.tmp".encode())
    raw = name.encode("utf-8", "surrogateescape")
    if len(raw) <= room:
        return name
    digest = hashlib.sha256(raw).hexdigest()[:16]
    return f"{raw[: room - len(digest) - 1].decode('utf-8', 'ignore')}~{digest}"


def temp_name(path: Path) -> Path:
    """A hidden sibling name ending in .tmp (ingest watchers ignore it) for an atomic write of `path`."""
    return path.with_name(f".{_temp_stem(path.name)}.{_host()}-{os.getpid()}-{secrets.token_hex(4)}.tmp")


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_stale_temps(path: Path) -> list[Path]:
    """Remove the temp files (or staging folders) of `path` left by dead processes of this host."""
    removed: list[Path] = []
    # its temp names now, and as a release before the shortening named them (a shorter pid made them fit)
    stems = dict.fromkeys((_temp_stem(path.name), path.name))
    try:  # a name may hold "*" or "["
        siblings = [s for stem in stems for s in path.parent.glob(f".{glob.escape(stem)}.*.tmp")]
    except OSError:
        return removed
    for sibling in siblings:
        prefix = next((f".{stem}.{_host()}-" for stem in stems if sibling.name.startswith(f".{stem}.")), "")
        rest = sibling.name[len(prefix) : -len(".tmp")] if prefix and sibling.name.startswith(prefix) else ""
        pid_text = rest.split("-", 1)[0]
        if not pid_text.isdigit() or _running(int(pid_text)):
            continue
        try:
            if sibling.is_dir() and not sibling.is_symlink():
                shutil.rmtree(sibling)
            else:
                sibling.unlink()
        except OSError:
            continue
        removed.append(sibling)
    return removed


def prepare_output(path: Path) -> Path:
    """Create the folder of an output file (MediaError if it cannot) and sweep its stale temp files."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise MediaError(f"cannot create the output folder: {e.strerror or e}", str(path.parent)) from None
    sweep_stale_temps(path)
    return path


@contextmanager
def atomic_output(path: Path) -> Iterator[Path]:
    """Yield a temp path to write; it replaces `path` only when the block succeeds. A write the file system
    refuses (a full disk, a folder that may not be written) is a MediaError naming `path`."""
    prepare_output(path)
    tmp = temp_name(path)
    try:
        yield tmp
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise MediaError(f"cannot write: {exc.strerror or exc}", str(path)) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
