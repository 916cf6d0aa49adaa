"""Entry points the cluster tests run on Ray workers (imported there, never in the test process)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any


def where(tag: str = "") -> dict[str, Any]:
    """Which process and Ray node ran this, and which GPUs it was given."""
    import ray  # type: ignore[import-not-found]

    return {
        "tag": tag,
        "pid": os.getpid(),
        "node": ray.get_runtime_context().get_node_id(),
        "gpus": os.environ.get("CUDA_VISIBLE_DEVICES", ""),
        "home": os.environ.get("RUSHES_HOME", ""),
        "secret": os.environ.get("RUSHES_TRACKER__SCRIPT_KEY", ""),
        "threads": {
            name: os.environ.get(name, "")
            for name in ("OMP_NUM_THREADS", "RUSHES_INFER_THREADS", "RUSHES_CODEC_THREADS")
        },
    }


def wait_for_file(folder: str, timeout: float = 60.0) -> dict[str, Any]:
    """Record this attempt's pid in `folder`, then wait until `folder/go` exists."""
    Path(folder, f"pid-{os.getpid()}").write_text(str(os.getpid()))
    deadline = time.monotonic() + timeout
    while not Path(folder, "go").exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"nobody created {folder}/go")
        time.sleep(0.05)
    return {"pid": os.getpid()}


class StopAfter:
    """A training run's stop(): asks to stop once `steps` steps have been taken (it is asked before each)."""

    def __init__(self, steps: int) -> None:
        self.steps, self.asked = steps, 0

    def __call__(self) -> bool:
        self.asked += 1
        return self.asked > self.steps


def warm() -> None:
    """A warm-up entry point: records this worker process and its node under $RUSHES_HOME/warm."""
    import ray

    folder = Path(os.environ["RUSHES_HOME"], "warm")
    folder.mkdir(parents=True, exist_ok=True)
    Path(folder, f"{os.getpid()}").write_text(ray.get_runtime_context().get_node_id())


def train_until_stopped(folder: str) -> dict[str, Any]:
    """A stand-in training run with the training stage's stop signals (daemon.stages.training): steps until
    asked to stop, then writes its checkpoint (steps taken, this pid) and returns; no checkpoint before that."""
    import json

    from daemon.stages.training import stop_on_signals

    steps = 0
    with stop_on_signals() as stop:
        Path(folder, "running").write_text(str(os.getpid()))
        deadline = time.monotonic() + 120
        while not stop() and time.monotonic() < deadline:
            time.sleep(0.01)  # one step
            steps += 1
    Path(folder, "checkpoint").write_text(json.dumps({"steps": steps, "pid": os.getpid()}))
    return {"steps": steps}


def returns(local_rank: int) -> None:
    """A Ray Train worker's body that does nothing (the group started, which is what was asked)."""
