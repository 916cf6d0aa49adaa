"""Training steps per second in float32 and under bfloat16 autocast on this machine's CPU, head by head.

    .venv/bin/python bench/cpu_bf16.py --footage ../shared/footage [--heads upscale,denoise] [--rounds 6]
        [--steps 20] [--threads 2]

For each head that may train in bfloat16 on a CPU (`Head.cpu_bf16`), two copies of the same fresh net and
Adam train on the same batches (engine.train.loop.make_batch, cut once from a real clip at the resolution
the head trains at), in rounds of `--steps` steps that alternate the two precisions, so that the machine's
load falls on both alike. Writes bench/out/cpu_bf16.json and .md: steps/s of each, their ratio, and the CPU
flags engine.train.precision decides by (NATIVE_BF16_FLAGS: `amx_bf16`, Intel's AMX tiles; `avx512_bf16`, the
AVX-512 bfloat16 dot products of AMD Zen 4 and later and Intel Cooper Lake on).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import OUT, footage_clips, machine, md_table, write_json

from engine.heads import get_head
from engine.options import TrainOptions
from engine.train import TrainClip, TrainSettings
from engine.train.dataset import load_clip
from engine.train.loop import make_batch
from engine.train.precision import CPUINFO, NATIVE_BF16_FLAGS, train_autocast

RESOLUTION = {"upscale": TrainOptions().native_resolution}  # the others train at --resolution


def cpu_flags() -> dict[str, bool]:
    text = CPUINFO.read_text(errors="replace") if CPUINFO.is_file() else ""
    line = next((x for x in text.splitlines() if x.startswith("flags")), "flags :")
    flags = set(line.split(":", 1)[1].split())
    return {f: f in flags for f in NATIVE_BF16_FLAGS}


def step(
    head: Any, net: torch.nn.Module, opt: torch.optim.Optimizer, batch: dict[str, torch.Tensor], bf16: bool
) -> None:
    with train_autocast(torch.device("cpu"), torch.bfloat16 if bf16 else None):
        loss = head.loss(net, batch)
    opt.zero_grad(set_to_none=True)
    loss.float().backward()
    opt.step()


def measure(head_name: str, frames: np.ndarray, args: argparse.Namespace) -> dict[str, Any]:
    head = get_head(head_name)
    rng = np.random.default_rng(0)
    crop = TrainSettings().crop
    batches = [
        make_batch(head, [frames], rng, TrainSettings().batch_size, crop, torch.device("cpu"))
        for _ in range(args.steps)
    ]
    torch.manual_seed(0)
    nets = {p: head.build(head.default_config()) for p in ("fp32", "bf16")}
    nets["bf16"].load_state_dict(nets["fp32"].state_dict())
    opts = {p: torch.optim.Adam(n.parameters(), lr=1e-4) for p, n in nets.items()}
    seconds = {"fp32": 0.0, "bf16": 0.0}
    for p in nets:  # one warm-up round each (oneDNN picks its kernels on first use)
        for b in batches[:3]:
            step(head, nets[p], opts[p], b, p == "bf16")
    for r in range(args.rounds):
        for p in ("fp32", "bf16") if r % 2 == 0 else ("bf16", "fp32"):
            t0 = time.perf_counter()
            for b in batches:
                step(head, nets[p], opts[p], b, p == "bf16")
            seconds[p] += time.perf_counter() - t0
    n = args.rounds * args.steps
    rate = {p: n / s for p, s in seconds.items()}
    return {"steps_per_s": rate, "bf16_over_fp32": rate["bf16"] / rate["fp32"], "steps_each": n}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--footage", type=Path, default=Path("../shared/footage"))
    ap.add_argument("--heads", default="upscale,denoise")
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--resolution", type=int, default=256)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    heads = [h for h in args.heads.split(",") if h]
    refused = [h for h in heads if not get_head(h).cpu_bf16]
    if refused:
        ap.error(f"--heads: {', '.join(refused)} never train in bfloat16 on a CPU (Head.cpu_bf16)")
    path = footage_clips(args.footage)[0]
    clip = TrainClip(id=f"{path.parent.name}/{path.name}", path=path)
    results = {}
    for h in heads:
        frames = np.asarray(load_clip(clip, RESOLUTION.get(h, args.resolution), OUT / "cache", 30).frames)
        results[h] = measure(h, frames, args)
        print(h, results[h], flush=True)
    flags = cpu_flags()
    data = {
        "clip": clip.id,
        "threads": args.threads,
        "cpu_flags": flags,
        "heads": results,
        "machine": machine(),
    }
    write_json(OUT / "cpu_bf16.json", data)
    rows = [
        [
            h,
            f"{r['steps_per_s']['fp32']:.2f}",
            f"{r['steps_per_s']['bf16']:.2f}",
            f"{r['bf16_over_fp32']:.2f}x",
        ]
        for h, r in results.items()
    ]
    text = "\n".join(
        [
            "# Training steps/s: float32 and bfloat16 autocast on this CPU",
            "",
            f"`{' '.join(sys.argv)}`: {args.threads} torch threads, rounds alternated; CPU flags "
            + ", ".join(f"{k} {'yes' if v else 'no'}" for k, v in flags.items())
            + f"; load average {data['machine']['load_average'][0]:.1f} at the end.",
            "",
            md_table(["head", "float32 steps/s", "bfloat16 steps/s", "bfloat16 / float32"], rows),
        ]
    )
    (OUT / "cpu_bf16.md").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
