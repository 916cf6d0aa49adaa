"""`rushes base train --workers N`: one base trained by N data-parallel workers on the Ray cluster.

The daemon's Ray executor settings say where the cluster is (`executor.ray_address`); Ray Train starts N
workers of `--cpus-per-worker` CPUs (integrations.executors.ray_train) and each runs one rank of the
engine's data-parallel run (engine.train.parallel: DDP, a shard of the corpus each, rank 0 writes). The
version folder, its checkpoint and manifest are the ones a single-process run writes, so `--resume` works
with or without `--workers`. The bases folder must be on storage every Ray node sees (the same path).
Progress is read from the run's checkpoint as rank 0 writes it (every `checkpoint_seconds`). Ctrl-C or
SIGTERM creates the run's stop file: rank 0 stops every rank at the next step and checkpoints.
"""

from __future__ import annotations

import contextlib
import json
import signal
import threading
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from engine.model.base import BaseRun
from engine.options import TrainOptions
from engine.train.parallel import STOP_FILE
from engine.train.settings import TrainSettings

ENTRY_POINT = "engine.train.base:train_base_worker"
PROGRESS_EVERY_S = 2.0
Update = Callable[[str, int, float, float], None]


def _watch(state: Path, update: Update, done: threading.Event) -> None:
    """Feed `update` from the checkpoint's per-head steps and last running loss until `done`."""
    seen: dict[str, int] = {}
    while not done.wait(PROGRESS_EVERY_S):
        try:
            progress = json.loads(state.read_text())["progress"]
        except (OSError, ValueError, KeyError):
            continue
        for head, p in progress.items():
            if p.get("step", 0) != seen.get(head) and p.get("losses"):
                seen[head] = p["step"]
                update(head, p["step"], p["losses"][-1], p.get("elapsed", 0.0))


def train_on_workers(
    folder: Path,
    run: BaseRun,
    options: TrainOptions,
    cfg: TrainSettings,
    heads: list[str] | None,
    *,
    workers: int,
    cpus_per_worker: int,
    address: str | None,
    update: Update,
    say: Callable[[str], None] | None = None,
) -> None:
    """Run the base run in `folder` on `workers` Ray Train workers; returns when they are done or stopped
    (ExecutorError / ExecutorUnavailable: one line). `say` is told, in one line, while the cluster has too few
    CPUs (GPUs) for the workers, and when it has them again (Ray Train waits for them without a word)."""
    from integrations.executors.ray_train import run_data_parallel

    stop_file = folder / STOP_FILE
    stop_file.unlink(missing_ok=True)  # a stop asked of an earlier attempt is not this run's
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop_file.touch())
    options = options.model_copy(update={"cpu_threads": cpus_per_worker})
    args = {
        "folder": str(folder),
        "run": asdict(run),
        "options": options.model_dump(mode="json"),
        "settings": cfg.model_dump(mode="json"),
        "heads": heads,
    }
    done = threading.Event()
    watcher = threading.Thread(
        target=_watch, args=(folder / "checkpoint" / "state.json", update, done), daemon=True
    )
    watcher.start()
    try:
        run_data_parallel(
            ENTRY_POINT,
            args,
            workers=workers,
            address=address,
            storage=folder.parent / ".ray-train",
            name=f"{run.name}-{folder.name}",
            cpus_per_worker=cpus_per_worker,
            use_gpu=options.device == "cuda",
            say=say,
            stopped=stop_file.exists,
        )
    finally:
        done.set()
        with contextlib.suppress(OSError):
            stop_file.unlink(missing_ok=True)
