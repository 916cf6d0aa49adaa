"""Entry points the yielding test runs in real worker processes (imported there, never in the test)."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from typing import Any


def train_steps(job_id: int, payload: dict[str, Any], attempt: int, **_: Any) -> dict[str, Any]:
    """A stand-in training run: `steps` steps, a checkpoint after each; SIGTERM stops it at its checkpoint
    (as the training stage does) and the next run starts from there. Each start is logged in `starts`. With
    `hold_at`, the first run waits at that step until it is stopped, so the fix always finds it mid-run."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    folder = Path(payload["folder"])
    checkpoint = folder / "checkpoint"
    step = int(checkpoint.read_text()) if checkpoint.is_file() else 0
    with (folder / "starts").open("a") as log:
        log.write(f"{step}\n")
    hold_at = payload.get("hold_at")
    while step < payload["steps"]:
        if (
            step == hold_at
            and step > 0
            and not stop.is_set()
            and (folder / "starts").read_text().count("\n") == 1
        ):
            stop.wait(
                120
            )  # the first run holds here until it is told to yield (a busy machine cannot race it)
        if stop.is_set():
            raise InterruptedError(f"training stopped at step {step}; it resumes from its checkpoint")
        time.sleep(0.02)  # the work of one step
        step += 1
        _write_whole(checkpoint, str(step))
    return {"steps": step}


def _write_whole(path: Path, text: str) -> None:
    """Write-then-rename, as real checkpoints are written: a reader never sees a half-written file."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def fix(job_id: int, payload: dict[str, Any], attempt: int, **_: Any) -> dict[str, Any]:
    """A fix: notes that it ran while the training was at its checkpoint's step."""
    folder = Path(payload["folder"])
    (folder / "fixed-at").write_text((folder / "checkpoint").read_text())
    return {"fixed": True}
