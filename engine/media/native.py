"""Native libraries that print: run a call with file descriptors 1 and 2 captured, and read what they said.

The OpenEXR library reports corrupt files by printing to stderr (its C core) and stdout (the C++ binding's
"Exception raised reading pixel data" warning) and may still hand back pixels. `captured_output()` points
both descriptors at a temporary file for the duration of the block, restores them afterwards (also when
the block raises) and exposes the text, so a caller can turn it into one MediaError line instead of letting
hundreds of lines reach the terminal or the daemon's log. A process-wide lock serialises the swap, because
descriptors are shared by every thread; Python-level writes made by other threads meanwhile are flushed
before the swap and land in the capture only for the few milliseconds it lasts.
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field

_LOCK = threading.Lock()


@dataclass
class Captured:
    """What the native code printed inside a `captured_output()` block (filled in when the block ends)."""

    text: str = ""
    lines: list[str] = field(default_factory=list)


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        with suppress(AttributeError, OSError, ValueError):
            stream.flush()


@contextmanager
def captured_output() -> Iterator[Captured]:
    """Capture what native code writes to file descriptors 1 and 2 during the block."""
    result = Captured()
    with _LOCK, tempfile.TemporaryFile(mode="w+b") as sink:
        _flush()
        saved = [os.dup(1), os.dup(2)]
        try:
            os.dup2(sink.fileno(), 1)
            os.dup2(sink.fileno(), 2)
            yield result
        finally:
            _flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)
            sink.seek(0)
            result.text = sink.read().decode("utf-8", "replace")
            result.lines = [line.strip() for line in result.text.splitlines() if line.strip()]
