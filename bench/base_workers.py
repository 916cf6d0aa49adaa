"""Base training on 1 vs 2 data-parallel workers: samples/s, and the loss at equal samples.

    .venv/bin/python bench/base_workers.py                # about 5 minutes on 2 idle cores
    .venv/bin/python bench/base_workers.py --steps 120 --resolution 128

A local Ray cluster whose head runs nothing (`--num-cpus 0`) and two worker nodes of one CPU each; every
run is `rushes base train --workers N`'s code path (integrations.executors.ray_train -> Ray Train's
TorchTrainer -> engine.train.base.train_base_worker, DDP on gloo, one torch thread per worker) on the same
generated corpus (scikit-image photos under moving cameras), the denoise head, a global batch of 8
(each of N workers takes 8 / N examples a step: engine.train.parallel):
- both take `--steps` steps, so both see the same number of samples;
- samples/s = samples between the first and the last progress report of rank 0 / the seconds between them
  (start-up, decoding and the first steps left out);
- loss at equal samples: the running loss curves (mean over the workers) against samples seen, and the
  denoise loss of the finished weights on three fixed batches of 64 examples (lower is better).
Writes bench/out/base_workers.json and bench/out/base_workers.md with the load average before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import proctime
from bench.common import OUT, machine, md_table, write_json
from engine.heads import get_head
from engine.model import load_model
from engine.options import TrainOptions
from engine.train.base import prepare_run
from engine.train.dataset import TrainClip, load_clip
from engine.train.loop import make_batch
from engine.train.settings import TrainSettings
from integrations.executors.ray_train import run_data_parallel
from tests import footage
from tests.cluster.raycluster import RayCluster

PHOTOS = ["astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field", "retina"]
HEAD, BATCH = "denoise", 8


class Recorder:
    """Rank 0's progress callback: appends (step, loss, time) lines to a file."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __call__(self, head: str, step: int, loss: float, elapsed: float) -> None:
        with open(self.path, "a") as out:
            out.write(json.dumps({"step": step, "loss": loss, "t": time.time()}) + "\n")


@dataclass(frozen=True)
class Run:
    workers: int
    steps: int
    samples: int
    samples_per_s: float
    seconds: float
    curve: list[tuple[int, float]]  # (samples seen, running loss)
    fixed_batch_loss: list[float]
    load_before: float
    load_after: float
    cpu_s: list[tuple[str, float]]  # CPU seconds per process kind during the run (bench.proctime)


def corpus(folder: Path, frames: int) -> Path:
    for i, photo in enumerate(PHOTOS):
        footage.movie(folder / f"clip{i}.mp4", n=frames, size=(192, 128), photo=photo, seed=i)
    return folder


def fixed_batch_loss(folder: Path, version: Path, resolution: int) -> list[float]:
    clips = [
        load_clip(TrainClip(id=str(p), path=p), resolution, None).frames for p in sorted(folder.glob("*.mp4"))
    ]
    head, net = get_head(HEAD), load_model(version).model.net(HEAD).eval()
    out = []
    for trial in range(3):
        batch = make_batch(head, clips, np.random.default_rng(100 + trial), 64, 64, torch.device("cpu"))
        with torch.no_grad():
            out.append(round(float(head.loss(net, batch)), 5))
    return out


def run(workers: int, steps: int, root: Path, data: Path, cluster: RayCluster, resolution: int) -> Run:
    options = TrainOptions(
        budget_seconds=36000,
        device="cpu",
        resolution=resolution,
        holdout_fraction=0.0,
        cpu_threads=1,  # type: ignore[arg-type]
    )
    cfg = TrainSettings(max_steps=steps, batch_size=BATCH, progress_every=5, cache_dir=root / "cache")
    folder, base_run = prepare_run(
        root / f"w{workers}", "BENCH", [data], "owned: generated for the bench", options
    )
    log = root / f"w{workers}.progress"
    load_before = os.getloadavg()[0]
    cpu_before, sampler = proctime.snapshot(), proctime.Sampler()
    started = time.monotonic()
    args = {
        "folder": str(folder),
        "run": asdict(base_run),
        "options": options.model_dump(mode="json"),
        "settings": cfg.model_dump(mode="json"),
        "heads": [HEAD],
        "progress": Recorder(str(log)),
    }
    run_data_parallel(
        "engine.train.base:train_base_worker",
        args,
        workers=workers,
        address=f"127.0.0.1:{cluster.gcs_port}",
        storage=root / "ray-train",
        name=f"w{workers}",
    )
    seconds = time.monotonic() - started
    cpu = proctime.spent(cpu_before, sampler.stop(), {os.getpid(), *(n.proc.pid for n in cluster.nodes)})
    print(f"base_workers: CPU seconds by process: {cpu}", flush=True)
    points = [json.loads(line) for line in log.read_text().splitlines()]
    first, last = points[0], points[-1]
    rate = (last["step"] - first["step"]) * BATCH / (last["t"] - first["t"])
    curve = [(p["step"] * BATCH, round(p["loss"], 5)) for p in points]
    return Run(
        workers,
        steps,
        steps * BATCH,
        round(rate, 2),
        round(seconds, 1),
        curve,
        fixed_batch_loss(data, folder, resolution),
        round(load_before, 2),
        round(os.getloadavg()[0], 2),
        cpu,
    )


def markdown(data: dict[str, Any]) -> str:
    rows = [
        [
            r["workers"],
            r["steps"],
            r["samples"],
            r["samples_per_s"],
            r["seconds"],
            " ".join(f"{v:.4f}" for v in r["fixed_batch_loss"]),
            f"{np.mean([loss for _, loss in r['curve'][-4:]]):.4f}",
            f"{r['load_before']} / {r['load_after']}",
        ]
        for r in data["results"]
    ]
    header = [
        "workers", "steps", "samples", "samples/s", "wall s", "fixed-batch loss (3 batches)",
        "running loss, last 4 reports", "load 1 min",
    ]  # fmt: skip
    ratio = data.get("speedup")
    return (
        f"# Base training on data-parallel workers ({data['clip']})\n\n`{data['command']}`\n\n"
        f"{md_table(header, rows)}\n\n- samples/s, 2 workers over 1: {ratio}x\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=160, help="Steps of each run.")
    parser.add_argument("--resolution", type=int, default=128)
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory(prefix="rushes-base-workers-") as tmp:
        root = Path(tmp)
        data = corpus(root / "corpus", args.frames)
        cluster = RayCluster.start(root / "ray", num_cpus=0)
        try:
            for name in ("worker-a", "worker-b"):
                cluster.add_node(name, num_cpus=1)
            for workers, steps in ((1, args.steps), (2, args.steps)):
                print(f"base_workers: {workers} worker(s), {steps} steps ...", flush=True)
                result = run(workers, steps, root, data, cluster, args.resolution)
                print(f"base_workers: {result.samples_per_s} samples/s, {result.seconds} s", flush=True)
                results.append(result)
        finally:
            cluster.stop()
    by = {r.workers: r for r in results}
    out = {
        "machine": machine(),
        "command": "bench/base_workers.py " + " ".join(sys.argv[1:]),
        "clip": f"{len(PHOTOS)} clips 192x128 x {args.frames} frames at {args.resolution} px, {HEAD}, global batch {BATCH}",
        "results": [asdict(r) for r in results],
        "speedup": round(by[2].samples_per_s / by[1].samples_per_s, 2),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    write_json(args.out / "base_workers.json", out)
    (args.out / "base_workers.md").write_text(markdown(out))
    print(markdown(out))


if __name__ == "__main__":
    main()
