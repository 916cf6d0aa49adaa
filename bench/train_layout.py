"""Training step time per head: the nets' weights in the default (NCHW) layout against channels-last.

    flock /tmp/rushes-bench.lock .venv/bin/python bench/train_layout.py             # about 2 minutes
    flock /tmp/rushes-bench.lock .venv/bin/python bench/train_layout.py --threads 2 --rounds 3

What the training loop does since engine/train/layout.py: each head's net trains with its 4-D weights
channels-last. For every head: the same batches (make_batch on a generated clip, the loop's default batch of 8
crops of 64 px), a fresh net of the head's default config, Adam; a step = forward, loss, backward, optimiser
step, timed with time.perf_counter. The layouts alternate (A B A B ...) over `--rounds` rounds, so a change in
the machine's load hits both; the figure is the median step over the rounds' steps after the first two of each.
Writes bench/out/train_layout.json and bench/out/train_layout.md (the load average beside it).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import OUT, machine, md_table, write_json
from engine import synth
from engine.heads import get_head
from engine.train.layout import channels_last
from engine.train.loop import make_batch

HEADS = ["denoise", "upscale", "cleanup", "regrade", "interpolate"]


def step_times(head_name: str, batches: list[dict[str, torch.Tensor]], steps: int, fast: bool) -> list[float]:
    head = get_head(head_name)
    torch.manual_seed(0)
    net = head.build({})
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    times = []
    with channels_last(net) if fast else contextlib.nullcontext(net):
        for i in range(steps):
            batch = batches[i % len(batches)]
            started = time.perf_counter()
            loss = head.loss(net, batch)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            times.append(time.perf_counter() - started)
    return times[2:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--heads", default=",".join(HEADS))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--steps", type=int, default=8, help="Steps per head, layout and round.")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)
    clip = synth.camera_move(synth.photo("astronaut"), 12, (192, 128), seed=0)
    load_before = float(np.round(machine()["load_average"][0], 2))
    rows, results = [], {}
    for name in args.heads.split(","):
        rng = np.random.default_rng(0)
        batches = [make_batch(get_head(name), [clip], rng, 8, 64, torch.device("cpu")) for _ in range(4)]
        times: dict[bool, list[float]] = {False: [], True: []}
        for _ in range(args.rounds):
            for fast in (False, True):
                times[fast] += step_times(name, batches, args.steps, fast)
        plain, quick = (1000 * float(np.median(times[k])) for k in (False, True))
        results[name] = {
            "nchw_ms": round(plain, 1),
            "channels_last_ms": round(quick, 1),
            "ratio": round(quick / plain, 2),
        }
        rows.append([name, f"{plain:.1f}", f"{quick:.1f}", f"{quick / plain:.2f}x"])
        print(f"train_layout: {name} {results[name]}", flush=True)
    data = {
        "machine": machine(),
        "command": "bench/train_layout.py " + " ".join(sys.argv[1:]),
        "threads": args.threads,
        "load_before": load_before,
        "results": results,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    write_json(args.out / "train_layout.json", data)
    table = md_table(["head", "NCHW step ms", "channels-last step ms", "channels-last / NCHW"], rows)
    text = (
        f"# Training step time by weight layout ({args.threads} thread(s), batch 8 of 64 px)\n\n`{data['command']}`"
        f"\n\n{table}\n\nload average (1 min): {load_before} before, {data['machine']['load_average'][0]:.2f} after\n"
    )
    (args.out / "train_layout.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
