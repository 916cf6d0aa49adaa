"""Test hooks: die with SIGKILL at a named point, as a power cut would (off unless RUSHES_CRASH_AT is set).

RUSHES_CRASH_AT="fix.rendered" (comma-separated names) kills the process the first time it reaches that point;
RUSHES_CRASH_DIR names a folder where a marker file records that it happened, so the restarted process goes on.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path


def crash_point(name: str, target: str = "self") -> None:
    """Kill this process ("self"), or the daemon that started this worker and then this worker ("both")."""
    wanted = os.environ.get("RUSHES_CRASH_AT")
    if not wanted or name not in {w.strip() for w in wanted.split(",")}:
        return
    marker_dir = os.environ.get("RUSHES_CRASH_DIR")
    if marker_dir:
        marker = Path(marker_dir) / f"crashed-{name}"
        if marker.exists():
            return
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text(str(os.getpid()))
    if target == "both":
        os.kill(os.getppid(), signal.SIGKILL)
    os.kill(os.getpid(), signal.SIGKILL)
