"""Upscale's int8 net against its float net in one process, interleaved (a shared machine's load swings
2-4x between runs, so separate runs cannot show a 1.3-1.8x difference reliably).

    .venv/bin/python bench/upscale_int8_speed.py [--frames 3] [--rounds 6] [--net state_dict.pt]

Frames: speed.py's 1920x1080 camera move over a real photo, box-downscaled to 960x540 (1080p out). Each
round runs Head.apply on the frames with `int8` off and on, in alternating order; both are warmed up first
(export, quantisation, compile and the int8 check outside every figure). Prints frames/s per round and the
medians, the per-round ratios, the load before and after, and the largest output difference between the
two paths. Fresh nets by default: the weights do not change the cost.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine import synth
from engine.baselines.restore import downscale
from engine.heads import get_head


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--net", type=Path, default=None, help="state_dict from bench/upscale_study.py --save")
    args = ap.parse_args()
    head: Any = get_head("upscale")
    net = head.build(head.default_config())
    if args.net:
        net.load_state_dict(torch.load(args.net, weights_only=True))
    net.eval()
    clip = synth.camera_move(synth.photo("astronaut"), args.frames, (1920, 1080))
    frames = [(i, np.ascontiguousarray(downscale(f))) for i, f in enumerate(clip)]
    load_before = os.getloadavg()[0]
    outs = {mode: list(head.apply(net, frames, {"int8": mode == "int8"})) for mode in ("float", "int8")}
    diff = max(float(np.abs(a[1] - b[1]).max()) for a, b in zip(outs["float"], outs["int8"], strict=True))
    fps: dict[str, list[float]] = {"float": [], "int8": []}
    for r in range(args.rounds):
        for mode in ("float", "int8") if r % 2 == 0 else ("int8", "float"):
            t = time.perf_counter()
            sum(1 for _ in head.apply(net, frames, {"int8": mode == "int8"}))
            fps[mode].append(len(frames) / (time.perf_counter() - t))
    ratios = [q / f for q, f in zip(fps["int8"], fps["float"], strict=True)]
    print(
        json.dumps(
            {
                "fps": fps,
                "median_fps": {k: statistics.median(v) for k, v in fps.items()},
                "ratios": ratios,
                "median_ratio": statistics.median(ratios),
                "max_output_difference": diff,
                "load_before": load_before,
                "load_after": os.getloadavg()[0],
            }
        )
    )


if __name__ == "__main__":
    main()
