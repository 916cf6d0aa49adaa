"""The upscale head's fine-tuning on the shot through the head itself: what evaluate() scores (what a fix of the
scored frames makes) on the `clips` protocol's two held-out clips, and what apply() costs on a 1080p shot.

    .venv/bin/python bench/upscale_adapt_check.py --footage ../shared/footage --net /tmp/net.pt --steps 0,100,300

--net is a state_dict written by bench/upscale_study.py --save (a 32x7 head net). For each step count: the
margin over the best of lanczos/bicubic per held-out clip (the head's evaluate(), 8 frames a clip, 256p),
and the wall and CPU seconds of apply() on a 3-frame 960x540 shot (int8 on, as fixes run), torch on one
thread.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from upscale_study import load, split

from engine import synth
from engine.baselines.restore import downscale
from engine.heads import get_head
from engine.infer import runtime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--footage", type=Path, default=Path("../shared/footage"))
    ap.add_argument("--net", type=Path, required=True)
    ap.add_argument("--steps", default="0,100,300")
    args = ap.parse_args()
    torch.set_num_threads(1)
    head = get_head("upscale")
    net = head.build(head.default_config())
    net.load_state_dict(torch.load(args.net, weights_only=True))
    net.eval()
    _, held = split(load(args.footage, 256, 90), "clips")
    shot = [
        (i, np.ascontiguousarray(downscale(f)))
        for i, f in enumerate(synth.camera_move(synth.photo("coffee"), 3, (1920, 1080)))
    ]
    report: dict[str, object] = {"load_before": os.getloadavg()}
    for steps in (int(s) for s in args.steps.split(",")):
        per = {}
        for key, clip in held:
            m = head.evaluate(net, [clip], np.random.default_rng(0), {"adapt": steps})
            per[key] = m["psnr"] - max(m["psnr_lanczos"], m["psnr_bicubic"])
        runtime.clear_cache()
        wall, cpu = time.perf_counter(), time.process_time()
        for _ in head.apply(net, shot, {"adapt": steps}):
            pass
        report[f"adapt{steps}"] = {
            "margin_per_clip": per,
            "margin": float(np.mean(list(per.values()))),
            "apply_3x1080p_wall_s": time.perf_counter() - wall,
            "apply_3x1080p_cpu_s": time.process_time() - cpu,
        }
        print(steps, report[f"adapt{steps}"], flush=True)
    report["load_after"] = os.getloadavg()
    print(json.dumps(report))


if __name__ == "__main__":
    main()
