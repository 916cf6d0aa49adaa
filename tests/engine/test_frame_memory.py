"""Frame conversions and freed frames do not hold memory: 8-bit conversion in strips (same values as the
whole-array formula), and frame-sized blocks returned to the system when freed (engine.heap)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

from engine.media.pixels import STRIP_VALUES, to_uint8, to_uint16


def _whole(rgb: np.ndarray, peak: float, dtype: type[np.generic]) -> np.ndarray:
    scaled = np.nan_to_num(rgb.astype(np.float32) * np.float32(peak), nan=0.0)
    return (np.clip(scaled, 0.0, peak) + np.float32(0.5)).astype(dtype)


def test_strip_by_strip_conversion_gives_the_whole_frames_values_bit_for_bit() -> None:
    rng = np.random.default_rng(3)
    frame = (rng.standard_normal((900, 900, 3)) * 0.6 + 0.5).astype(np.float32)  # beyond 0..1 both ways
    frame[5, 5, 1], frame[7, 7], frame[9, 9] = np.nan, np.inf, -np.inf
    assert frame.size > 2 * STRIP_VALUES  # three strips
    for view in (frame, frame[::2, 1:], frame[:, :, ::-1], frame.astype(np.float16), frame[:3]):
        assert np.array_equal(to_uint8(view), _whole(view, 255.0, np.uint8))
        assert np.array_equal(to_uint16(view), _whole(view, 65535.0, np.uint16))


# A fresh interpreter (a clean heap): free a 24 MB frame (glibc then raises its threshold to 24 MB), then use
# and free a 20 MB one; print how much of the 20 MB stays resident after it is freed.
_HELD_AFTER_FREE = textwrap.dedent(
    """
    import sys
    import numpy as np
    from engine.heap import return_frame_blocks

    def rss():
        for line in open("/proc/self/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024

    if sys.argv[1] == "set":
        assert return_frame_blocks() and return_frame_blocks()
    big = np.ones(24 << 20, np.uint8)
    del big
    before = rss()
    frame = np.ones(20 << 20, np.uint8)
    del frame
    print(rss() - before)
    """
)


def _held_after_free(mode: str) -> int:
    done = subprocess.run(
        [sys.executable, "-c", _HELD_AFTER_FREE, mode], capture_output=True, text=True, check=True
    )
    return int(done.stdout.strip())


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc and /proc are Linux's")
def test_a_freed_frame_sized_buffer_goes_back_to_the_system() -> None:
    assert _held_after_free("default") > 16 << 20  # glibc's own rule keeps it: the heap grows with frames
    assert _held_after_free("set") < 2 << 20


# A fresh interpreter: eight threads allocate at once; glibc's malloc_stats() (on stderr) lists the arenas made.
_ARENAS = textwrap.dedent(
    """
    import ctypes, sys, threading
    from engine.heap import limit_arenas

    if sys.argv[1] == "set":
        assert limit_arenas()
    start = threading.Barrier(8)

    def work():
        start.wait()
        held = [bytearray(256) for _ in range(2000)]
        start.wait()
        del held

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ctypes.CDLL(None).malloc_stats()
    """
)


def _arenas(mode: str) -> int:
    done = subprocess.run([sys.executable, "-c", _ARENAS, mode], capture_output=True, text=True, check=True)
    return sum(1 for line in done.stderr.splitlines() if line.startswith("Arena "))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc is Linux's")
def test_the_daemons_threads_share_two_malloc_arenas() -> None:
    """Each thread that allocates gets an arena of its own by default, which keeps what it once held: the
    daemon grew 0.7 MB with every new daily (bench/soak.py). Capped, they share two."""
    assert _arenas("default") > 2
    assert _arenas("set") <= 2
