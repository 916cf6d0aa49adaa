"""The frame cache's files: written whole or not at all, read back or forgotten.

A cache only saves decoding: a write the disk cannot take (full, read-only) leaves no partial file behind and the
run goes on with the frames in memory; an entry that cannot be read back (cut short by a full disk or a copy,
emptied) is removed, and its clip decoded again. Neither stops a training. `stale_partials` names what a process
killed mid-write left (`NAME.<pid>.tmp...npy`), for `prune_cache` to remove.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

PARTIAL = ".tmp."  # in the name of a file being written
PARTIAL_AGE_S = 3600.0  # a partial file this old is left by a process that died writing it


def store(entries: Iterable[tuple[Path, np.ndarray]]) -> bool:
    """Write each array to its path (through a temporary file of this process, renamed), in order, so that the
    last written can mark the entry whole; False, with nothing partial left and a warning, when one cannot be."""
    for path, array in entries:
        tmp = path.with_suffix(f".{os.getpid()}{PARTIAL}npy")  # ranks of a parallel run may race here
        try:
            np.save(tmp, array)
            tmp.replace(path)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            log.warning("the frame cache cannot keep %s (%s): the run goes on without it", path, exc)
            return False
    return True


def read(paths: Iterable[Path], mapped: Iterable[bool]) -> list[np.ndarray] | None:
    """The arrays of one entry (memory-mapped where `mapped`), or None when one cannot be read: the entry's
    files are removed then, with a warning, so that its clip is decoded again."""
    found = list(paths)
    try:
        return [np.load(p, mmap_mode="r") if m else np.load(p) for p, m in zip(found, mapped, strict=True)]
    except (OSError, ValueError, EOFError) as exc:
        log.warning("the frame cache's %s cannot be read (%s): decoded again", found[0], exc)
        for path in found:
            path.unlink(missing_ok=True)
        return None


def stale_partials(folder: Path, now: float | None = None) -> list[Path]:
    """Partial files in `folder` older than PARTIAL_AGE_S: what a process killed while writing left."""
    now = time.time() if now is None else now
    stale = []
    for path in folder.glob(f"*{PARTIAL}*npy"):
        try:
            if now - path.stat().st_mtime > PARTIAL_AGE_S:
                stale.append(path)
        except OSError:
            continue
    return stale
