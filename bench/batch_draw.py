"""How fast the CPU draws training batches, head by head, on one thread and on several threads or processes.

    .venv/bin/python bench/batch_draw.py --footage ../shared/footage [--heads interpolate,regrade]
        [--workers 1,4,16] [--seconds 3]

On a GPU the training step is short and the step rate is bounded by batch drawing, which
engine.train.batches does on one CPU thread (the GPU run of 2026-12-04: the SM busy 0-13% of the time during
a base). This measures that bound: `make_batch` (engine.train.loop, the training loop's own) on a real clip at
the resolution bench/base.py trains each head at, in batches/s, on 1 thread, then with N threads (each its own
generator) and N forked processes drawing at once, for `--seconds` each. Threads are what a pool inside the
training process would give (the GIL aside); processes what worker processes would.
Writes bench/out/batch_draw.json and bench/out/batch_draw.md.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import OUT, footage_clips, machine, md_table, write_json

from engine.heads import get_head, head_names
from engine.options import TrainOptions
from engine.train import TrainClip, TrainSettings
from engine.train.dataset import load_clip
from engine.train.loop import make_batch

_FRAMES: dict[str, np.ndarray] = {}  # per head, set before forking: the processes share it


def _draw(head_name: str, seed: int, seconds: float) -> int:
    """Batches one thread draws in `seconds`."""
    import cv2

    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    head, cfg = get_head(head_name), TrainSettings()
    rng = np.random.default_rng(seed)
    count, end = 0, time.perf_counter() + seconds
    while time.perf_counter() < end:
        make_batch(head, [_FRAMES[head_name]], rng, cfg.batch_size, cfg.crop, torch.device("cpu"))
        count += 1
    return count


def threads_rate(head: str, workers: int, seconds: float) -> float:
    counts = [0] * workers

    def one(i: int) -> None:
        counts[i] = _draw(head, i, seconds)

    pool = [threading.Thread(target=one, args=(i,)) for i in range(workers)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return sum(counts) / seconds


def processes_rate(head: str, workers: int, seconds: float) -> float:
    with mp.get_context("fork").Pool(workers) as pool:
        counts = pool.starmap(_draw, [(head, i, seconds) for i in range(workers)])
    return sum(counts) / seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--footage", type=Path, default=Path("../shared/footage"))
    ap.add_argument("--heads", default=",".join(head_names()))
    ap.add_argument("--workers", default="1,4,16")
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    heads = [h for h in args.heads.split(",") if h]
    counts = [int(n) for n in args.workers.split(",") if n]
    clip_path = footage_clips(args.footage)[0]
    opts = TrainOptions()
    rows, report = [], {}
    for head in heads:
        size = opts.native_resolution if head == "upscale" else opts.resolution
        clip = TrainClip(id=clip_path.name, path=clip_path)
        _FRAMES[head] = np.asarray(load_clip(clip, size, args.out / "cache", 90).frames)
        _draw(head, 99, 0.5)  # warm: imports, first allocations
        report[head] = {"threads": {}, "processes": {}}
        for n in counts:
            report[head]["threads"][n] = threads_rate(head, n, args.seconds)
            if n > 1:
                report[head]["processes"][n] = processes_rate(head, n, args.seconds)
            print(head, n, report[head]["threads"][n], report[head]["processes"].get(n), flush=True)
        one = report[head]["threads"][counts[0]]
        for n in counts:
            t, p = report[head]["threads"][n], report[head]["processes"].get(n)
            rows.append([head, n, t, t / one, "—" if p is None else p, "—" if p is None else p / one])
    data: dict[str, Any] = {
        "machine": machine(),
        "clip": clip_path.name,
        "heads": report,
        "seconds": args.seconds,
    }
    write_json(args.out / "batch_draw.json", data)
    md = [
        "# Training batches drawn per second on this CPU",
        "",
        f"`{' '.join(sys.argv)}`: {data['machine']['cpu_count']} CPU cores, clip {clip_path.name}, "
        f"batch {TrainSettings().batch_size}, crop {TrainSettings().crop}, {args.seconds:.0f} s a measure.",
        "",
        md_table(["head", "workers", "threads: batches/s", "x one", "processes: batches/s", "x one"], rows),
    ]
    (args.out / "batch_draw.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
