"""How many threads FFmpeg's encoders and decoders run: `RUSHES_CODEC_THREADS`, else FFmpeg's own choice.

FFmpeg sizes a codec's thread pool from the machine's cores (the ffmpeg CLI does the same). A job that asked
a scheduler for fewer CPUs than the machine has (a one-CPU Ray task on a bigger node) sets
RUSHES_CODEC_THREADS to the CPUs it got (integrations.executors.ray does), so its encoders and decoders
compute with those, as its PyTorch and OpenCV threads do: on a node running as many tasks as it has CPUs, extra
codec threads only contend for the cores the other tasks use. Unset, empty, 0 or not a number: FFmpeg picks.
"""

from __future__ import annotations

import os

CODEC_THREADS_ENV = "RUSHES_CODEC_THREADS"


def codec_threads() -> int:
    """Threads for one encoder or decoder: the environment's count, or 0 (FFmpeg picks from the cores)."""
    text = os.environ.get(CODEC_THREADS_ENV, "").strip()
    return int(text) if text.isdigit() else 0
