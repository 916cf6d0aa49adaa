"""Frame-sized blocks go back to the system when freed, so a long shot's memory stays flat (glibc malloc); and a
long-running daemon's few malloc arenas (limit_arenas), so its memory stays level over weeks.

glibc serves an allocation from its heaps unless it is at least the mmap threshold, and by default it
raises that threshold to the size of every mmapped block that is freed (up to 32 MB). After the first
frame-sized buffer is freed, the next ones of that size (a 4K frame's 8 bits are 25 MB, its YUV 12 MB) come
from the heaps instead; a fix allocates them in one thread (decoder, head, encoder) and frees them in
another, and those heaps grow with the shot. Setting the threshold (mallopt M_MMAP_THRESHOLD) turns that
rise off: every block of at least `FRAME_BLOCK_BYTES` is a mapping of its own, unmapped when freed. The
cost is a page fault per page of such a block (a few ms per 4K frame). Where the C library is not glibc,
nothing is done.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading

FRAME_BLOCK_BYTES = 4 << 20  # 4 MB: a 1080p frame's 8 bits (6 MB) and more are mapped on their own
_M_MMAP_THRESHOLD = -3  # glibc's malloc.h
_M_ARENA_MAX = -8
# A long-running process's malloc arenas: glibc gives each thread that allocates at once an arena of its own, up
# to 8 a core, and each keeps what it once held. In `bench/soak.py` (a new daily before every fix) the daemon grew
# 0.7 MB a daily with the default and stayed level (+0.05 MB) with two, its fixes as fast (docs/benchmarks.md).
DAEMON_ARENAS = 2

_lock = threading.Lock()
_done: bool | None = None


def return_frame_blocks() -> bool:
    """Fix glibc's mmap threshold at FRAME_BLOCK_BYTES for this process (once; later calls do nothing).
    True where it was set, False where the C library has no mallopt (not glibc) or refused it."""
    global _done
    with _lock:
        if _done is None:
            _done = _set_threshold(FRAME_BLOCK_BYTES)
        return _done


def limit_arenas(count: int = DAEMON_ARENAS) -> bool:
    """Cap glibc's malloc arenas for this process at `count` (call it before the process starts its threads:
    arenas made before stay). True where it was set, False where the C library is not glibc or refused it."""
    return _mallopt(_M_ARENA_MAX, count)


def _set_threshold(size: int) -> bool:
    return _mallopt(_M_MMAP_THRESHOLD, size)


def _mallopt(param: int, value: int) -> bool:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(param, value))


__all__ = ["DAEMON_ARENAS", "FRAME_BLOCK_BYTES", "limit_arenas", "return_frame_blocks"]
