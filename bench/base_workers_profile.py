"""Where a data-parallel base run's steps go, per rank: batch drawing, forward, backward (with DDP's gradient
all-reduce and any wait for the other rank), the optimiser, rank 0's `agree` and the loss `mean`, with wall and
CPU time of each, and each worker's thread settings.

    flock /tmp/rushes-bench.lock .venv/bin/python bench/base_workers_profile.py --steps 120 --workers 1 2

The same cluster and run as bench/base_workers.py (a head with no CPUs, two 1-CPU worker nodes, the denoise
head, a global batch of 8), but each Ray Train worker runs `worker` below: it wraps the training loop's batch
maker and step and the DataParallel collectives with timers (wall: time.perf_counter, CPU: this thread's
time.thread_time) and writes one JSON per rank; the summary prints means over the steps after the tenth.
The wall time of a phase minus its CPU time is waiting (for the other rank, or for a core).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def worker(outdir: str, tag: str, **kwargs: Any) -> dict[str, Any]:
    """One rank of the profiled run: engine.train.base.train_base_worker with timers around its phases."""
    import cv2
    import torch
    import torch.distributed as dist

    import engine.train.loop as loop
    import engine.train.parallel as parallel
    from engine.train.base import train_base_worker

    rec: dict[str, Any] = {"steps": [], "agree": [], "mean": []}
    wall, cpu = time.perf_counter, time.thread_time
    make_batch, mean, agree = loop.make_batch, parallel.DataParallel.mean, parallel.DataParallel.agree
    last: dict[str, tuple[float, float]] = {}

    def timed_batch(*a: Any, **k: Any) -> Any:
        w, c = wall(), cpu()
        out = make_batch(*a, **k)
        last["make"] = (wall() - w, cpu() - c)
        return out

    def timed_step(
        objective: Any, opt: Any, scaler: Any, batch: Any, device: Any, dtype: Any = None
    ) -> float:
        t = [(wall(), cpu())]
        with loop.train_autocast(device, dtype):
            loss = objective(batch)
        t.append((wall(), cpu()))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        t.append((wall(), cpu()))
        opt.step()
        t.append((wall(), cpu()))
        phases = {
            n: (t[i + 1][0] - t[i][0], t[i + 1][1] - t[i][1]) for i, n in enumerate(("fwd", "bwd", "opt"))
        }
        rec["steps"].append({"t": t[0][0], "make": last.get("make", (0.0, 0.0)), **phases})
        return float(loss.detach())

    def timed(fn: Any, key: str) -> Any:
        def call(self: Any, *a: Any) -> Any:
            w = wall()
            out = fn(self, *a)
            rec[key].append(wall() - w)
            return out

        return call

    loop.make_batch, loop._step = timed_batch, timed_step  # type: ignore[assignment]
    parallel.DataParallel.mean = timed(mean, "mean")  # type: ignore[method-assign]
    parallel.DataParallel.agree = timed(agree, "agree")  # type: ignore[method-assign]
    out = train_base_worker(**kwargs)
    rec["threads"] = {
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
        "torch": torch.get_num_threads(),
        "interop": torch.get_num_interop_threads(),
        "opencv": cv2.getNumThreads(),
    }
    Path(outdir, f"{tag}-rank{dist.get_rank()}.json").write_text(json.dumps(rec))
    return out


def summary(path: Path) -> str:
    rec = json.loads(path.read_text())
    steps = rec["steps"][10:]
    period = 1000 * float(np.mean(np.diff([s["t"] for s in steps])))
    phases = " ".join(
        f"{k} {1000 * np.mean([s[k][0] for s in steps]):.1f}/{1000 * np.mean([s[k][1] for s in steps]):.1f}"
        for k in ("make", "fwd", "bwd", "opt")
    )
    calls = " ".join(
        f"{k} {len(rec[k])}x {1000 * float(np.mean(rec[k] or [0])):.2f}" for k in ("agree", "mean")
    )
    return f"{path.stem}: step {period:.1f} ms; wall/CPU ms: {phases}; {calls} ms; threads {rec['threads']}"


def main() -> None:
    from bench.base_workers import BATCH, HEAD, corpus
    from bench.common import timed_ray_workers
    from engine.options import TrainOptions
    from engine.train.base import prepare_run
    from engine.train.settings import TrainSettings
    from integrations.executors.ray_train import run_data_parallel
    from tests.cluster.raycluster import RayCluster

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=120)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).resolve().parent / "out" / "base_workers_profile"
    )
    parser.add_argument(
        "--prefetch", type=int, default=None, help="Batches drawn ahead (default: the loop's)."
    )
    parser.add_argument(
        "--pin",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="Each worker node on a core of its own.",
    )
    args = parser.parse_args()
    timed_ray_workers()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="rushes-dp-profile-") as tmp:
        root = Path(tmp)
        data = corpus(root / "corpus", 16)
        cluster = RayCluster.start(root / "ray", num_cpus=0)
        try:
            cores = os.cpu_count() or 1
            for n, name in enumerate(("worker-a", "worker-b")):
                cluster.add_node(name, num_cpus=1, cores=(n % cores,) if args.pin else ())
            for workers in args.workers:
                options = TrainOptions(device="cpu", resolution=128, holdout_fraction=0.0, cpu_threads=1)  # type: ignore[arg-type]
                cfg = TrainSettings(
                    max_steps=args.steps,
                    batch_size=BATCH,
                    progress_every=5,
                    cache_dir=root / "c",
                    prefetch=args.prefetch,
                )
                folder, run = prepare_run(
                    root / f"w{workers}", "PROFILE", [data], "owned: generated", options
                )
                args_ = {
                    "folder": str(folder),
                    "run": asdict(run),
                    "options": options.model_dump(mode="json"),
                }
                args_ |= {"settings": cfg.model_dump(mode="json"), "heads": [HEAD]}
                run_data_parallel(
                    "bench.base_workers_profile:worker",
                    {"outdir": str(args.out), "tag": f"w{workers}", **args_},
                    workers=workers,
                    address=f"127.0.0.1:{cluster.gcs_port}",
                    storage=root / "ray-train",
                    name=f"w{workers}",
                )
                for rank in range(workers):
                    print(summary(args.out / f"w{workers}-rank{rank}.json"), flush=True)
        finally:
            cluster.stop()


if __name__ == "__main__":
    main()
