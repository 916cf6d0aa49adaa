"""Base training on 1 vs 2 data-parallel workers: samples/s, and the loss at equal samples.

    .venv/bin/python bench/base_workers.py                # 2 repeats; about 5 minutes on 2 idle cores
    .venv/bin/python bench/base_workers.py --repeats 3 --steps 120 --resolution 128

A local Ray cluster whose head runs nothing (`--num-cpus 0`) and two worker nodes of one CPU each, each pinned
to a core of its own (`--no-pin` leaves them free: Ray's `--num-cpus` is a scheduling count, not a limit, and
an unpinned one-worker run used about 1.12 cores of the box, Ray's and gloo's threads beside training); every
run is `rushes base train --workers N`'s code path (integrations.executors.ray_train -> Ray Train's
TorchTrainer -> engine.train.base.train_base_worker, DDP on gloo, one CPU thread per worker: torch's and
OpenCV's) on the same generated corpus (scikit-image photos under moving cameras), the denoise head, a global
batch of 8 (each of N workers takes 8 / N examples a step: engine.train.parallel):
- each repeat runs 1 worker, then 2 workers, with the repeat's seed (0, 1, ...); both take `--steps` steps, so
  both see the same number of samples;
- samples/s = samples between the first and the last progress report of rank 0 / the seconds between them
  (start-up, decoding and the first steps left out); the speed-up is the median of the 2-worker runs' samples/s
  over the median of the 1-worker runs' (and each repeat's own ratio beside it);
- loss at equal samples: the running loss curves (mean over the workers) against samples seen, and the
  denoise loss of the finished weights on three fixed batches of 64 examples (lower is better). A seed changes
  the weights' start and the batches drawn, so the 1-worker runs of different seeds say how far apart two runs
  land by chance: the 2-worker loss is within noise when its gap to the same seed's 1-worker loss is no
  larger than that.
Writes bench/out/base_workers.json and bench/out/base_workers.md with the load average before and after each run.
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
from bench.common import OUT, machine, md_table, timed_ray_workers, write_json
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
    seed: int
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


def run(
    workers: int,
    seed: int,
    steps: int,
    root: Path,
    data: Path,
    cluster: RayCluster,
    resolution: int,
    prefetch: int | None = None,
) -> Run:
    options = TrainOptions(
        budget_seconds=36000,
        device="cpu",
        resolution=resolution,
        holdout_fraction=0.0,
        cpu_threads=1,
        seed=seed,  # type: ignore[arg-type]
    )
    cfg = TrainSettings(
        max_steps=steps,
        batch_size=BATCH,
        progress_every=5,
        cache_dir=root / "cache",
        prefetch=prefetch,
    )
    name = f"s{seed}-w{workers}"
    folder, base_run = prepare_run(root / name, "BENCH", [data], "owned: generated for the bench", options)
    log = root / f"{name}.progress"
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
        name=name,
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
        seed,
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


def summary(results: list[Run]) -> dict[str, Any]:
    """The speed-up (ratio of the medians, and each repeat's), and the fixed-batch losses by seed."""
    rates = {w: [r.samples_per_s for r in results if r.workers == w] for w in (1, 2)}
    by = {(r.seed, r.workers): r for r in results}
    seeds = sorted({r.seed for r in results})
    loss = {s: {w: round(float(np.mean(by[s, w].fixed_batch_loss)), 5) for w in (1, 2)} for s in seeds}
    ones = [loss[s][1] for s in seeds]
    return {
        "speedup": round(float(np.median(rates[2]) / np.median(rates[1])), 2),
        "speedup_by_repeat": [round(by[s, 2].samples_per_s / by[s, 1].samples_per_s, 2) for s in seeds],
        "fixed_batch_loss_by_seed": loss,
        # how far two 1-worker runs of different seeds land apart, relative to their mean
        "seed_spread_1_worker": round((max(ones) - min(ones)) / float(np.mean(ones)), 3),
        "gap_2_vs_1_by_seed": {s: round(loss[s][2] / loss[s][1] - 1.0, 3) for s in seeds},
    }


def markdown(data: dict[str, Any]) -> str:
    rows = [
        [
            r["seed"],
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
        "seed", "workers", "steps", "samples", "samples/s", "wall s", "fixed-batch loss (3 batches)",
        "running loss, last 4 reports", "load 1 min",
    ]  # fmt: skip
    sm = data["summary"]
    gaps = ", ".join(f"seed {s}: {g:+.1%}" for s, g in sm["gap_2_vs_1_by_seed"].items())
    return (
        f"# Base training on data-parallel workers ({data['clip']})\n\n`{data['command']}`\n\n"
        f"{md_table(header, rows)}\n\n"
        f"- samples/s, 2 workers over 1 (ratio of the medians): {sm['speedup']}x; by repeat: "
        f"{', '.join(f'{x}x' for x in sm['speedup_by_repeat'])}\n"
        f"- fixed-batch loss, 2 workers against 1 at the same seed: {gaps}; 1 worker, seed to seed: "
        f"{sm['seed_spread_1_worker']:.1%} apart\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=160, help="Steps of each run.")
    parser.add_argument("--repeats", type=int, default=2, help="1- and 2-worker runs, with seeds 0, 1, ...")
    parser.add_argument("--resolution", type=int, default=128)
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument(
        "--pin",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="Pin each Ray worker node to a CPU core of its own (node n to core n), as a one-CPU node is.",
    )
    parser.add_argument(
        "--prefetch",
        type=int,
        default=None,
        help="Batches drawn ahead (TrainSettings.prefetch; default: 3 with 2 workers, none with 1).",
    )
    args = parser.parse_args()
    timed_ray_workers()
    results = []
    with tempfile.TemporaryDirectory(prefix="rushes-base-workers-") as tmp:
        root = Path(tmp)
        data = corpus(root / "corpus", args.frames)
        cluster = RayCluster.start(root / "ray", num_cpus=0)
        try:
            cores = os.cpu_count() or 1
            for n, name in enumerate(("worker-a", "worker-b")):
                cluster.add_node(name, num_cpus=1, cores=(n % cores,) if args.pin else ())
            for seed in range(args.repeats):
                for workers in (1, 2):
                    print(
                        f"base_workers: seed {seed}, {workers} worker(s), {args.steps} steps ...", flush=True
                    )
                    result = run(
                        workers, seed, args.steps, root, data, cluster, args.resolution, args.prefetch
                    )
                    print(f"base_workers: {result.samples_per_s} samples/s, {result.seconds} s", flush=True)
                    results.append(result)
        finally:
            cluster.stop()
    out = {
        "machine": machine(),
        "command": "bench/base_workers.py " + " ".join(sys.argv[1:]),
        "clip": f"{len(PHOTOS)} clips 192x128 x {args.frames} frames at {args.resolution} px, {HEAD}, global batch {BATCH}"
        + (", each worker node pinned to a core of its own" if args.pin else ", worker nodes not pinned")
        + f", batches drawn ahead: {'default' if args.prefetch is None else args.prefetch}",
        "results": [asdict(r) for r in results],
        "summary": summary(results),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    write_json(args.out / "base_workers.json", out)
    (args.out / "base_workers.md").write_text(markdown(out))
    print(markdown(out))


if __name__ == "__main__":
    main()
