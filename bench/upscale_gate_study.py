"""Quality of the upscale head's fast paths against its plain path, on held-out frames of real footage.

    .venv/bin/python bench/upscale_study.py --footage ../shared/footage --protocol clips --cpu-seconds 150 --save /tmp/net_clips.pt
    .venv/bin/python bench/upscale_gate_study.py --footage ../shared/footage --protocol clips \
        --net /tmp/net_clips.pt [--thresholds 0.02,0.04] [--int8 [shipped,symmetric,asymmetric,shipped@first]]

Loads a net trained by bench/upscale_study.py (--save), takes the held-out frames of the same protocol
(`clips`: the two unseen clips; `tails`: every clip's last 40%) at --resolution short side (the footage's
own size when smaller: 1280x720 camera, 640x360 CG), box-downscales them 2x and upscales them with the
head: ungated (every pixel through the net), in int8 with --int8 (engine.heads.upscale_fast: calibrated
and checked on each clip's first held-out frame, as a fix does on a shot's first frame; a clip whose check
fails runs the float net; `shipped`: the head's schemes in turn, symmetric then asymmetric activations,
or one scheme alone; `@first+last`, `@first` after it: the convolutions it keeps float, the head's
`upscale_fast.FLOAT_CONVS` by default; the runtime's log says which ran), and gated at each threshold
(engine.infer.sparse: the net only on tiles whose detail score reaches it, bicubic elsewhere). Reports
each path's mean PSNR (less a 4-pixel border), its difference from the ungated path (mean, worst frame,
and both per held-out clip), and the share of tiles the net ran on. All through the inference runtime (OpenVINO by default), one thread: a quality study, run it niced.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from upscale_study import load, split

from engine.baselines.restore import downscale, upscale_bicubic
from engine.heads import get_head, upscale_fast
from engine.infer import runtime
from engine.infer.sparse import SparseSpec, detail_tiles, tiles
from engine.metrics import psnr


def _frames(held: list[tuple[str, np.ndarray]], count: int) -> list[tuple[str, np.ndarray]]:
    out = []
    for key, clip in held:
        for t in np.linspace(0, len(clip) - 1, count).round().astype(int):
            hr = clip[t].astype(np.float32) / 255.0
            out.append((key, np.ascontiguousarray(hr[: hr.shape[0] // 2 * 2, : hr.shape[1] // 2 * 2])))
    return out


def study(net: torch.nn.Module, frames: list[tuple[str, np.ndarray]], args: Any) -> dict[str, Any]:
    head: Any = get_head("upscale")
    b = args.border
    thresholds = [float(t) for t in args.thresholds.split(",") if t]
    acc: dict[str, list[float]] = {"ungated": [], "bicubic": []}
    keys = [key for key, _ in frames]
    share: dict[str, list[float]] = {}
    clip = ""
    for key, hr in frames:
        lr = downscale(hr, 2, "area")
        ungated = head.upscale(net, lr)
        if key != clip:  # as in a fix: calibrated and checked on each shot's first frame
            runtime.clear_cache()
            clip = key
        for variant in [v for v in args.int8.split(",") if v]:
            scheme, at, convs = variant.partition("@")
            shipped, float_convs = upscale_fast.SCHEMES, upscale_fast.FLOAT_CONVS
            upscale_fast.SCHEMES = shipped if scheme == "shipped" else (scheme,)
            if at:
                upscale_fast.FLOAT_CONVS = tuple(c for c in convs.split("+") if c)
            try:
                out = head.upscale(net, lr, int8=True)
            finally:
                upscale_fast.SCHEMES, upscale_fast.FLOAT_CONVS = shipped, float_convs
            acc.setdefault(f"int8 {variant}", []).append(psnr(out[b:-b, b:-b], hr[b:-b, b:-b]))
        acc["ungated"].append(psnr(ungated[b:-b, b:-b], hr[b:-b, b:-b]))
        acc["bicubic"].append(psnr(upscale_bicubic(lr)[b:-b, b:-b], hr[b:-b, b:-b]))
        for th in thresholds:
            spec = SparseSpec(core=args.core, threshold=th)
            out = head.upscale(net, lr, gate=spec)
            acc.setdefault(f"gate {th}", []).append(psnr(out[b:-b, b:-b], hr[b:-b, b:-b]))
            run, _ = detail_tiles(lr, spec)
            share.setdefault(f"gate {th}", []).append(len(run) / max(1, len(tiles(*lr.shape[:2], spec))))
    mean = {k: float(np.mean(v)) for k, v in acc.items()}
    return {
        "psnr": mean,
        "delta_vs_ungated": {k: v - mean["ungated"] for k, v in mean.items()},
        "worst_frame_delta": {
            k: float(np.min(np.subtract(v, acc["ungated"])))
            for k, v in acc.items()
            if k not in ("ungated", "bicubic")
        },
        "tiles_run": {k: float(np.mean(v)) for k, v in share.items()},
        "per_clip_delta": {  # mean (worst frame) against the ungated path, each held-out clip
            clip: {
                k: [round(float(np.mean(d)), 4), round(float(np.min(d)), 4)]
                for k, v in acc.items()
                if k not in ("ungated", "bicubic")
                for d in [np.subtract(v, acc["ungated"])[[i for i, c in enumerate(keys) if c == clip]]]
            }
            for clip in dict.fromkeys(keys)
        },
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--footage", type=Path, default=Path("../shared/footage"))
    ap.add_argument("--protocol", choices=("clips", "tails"), default="clips")
    ap.add_argument("--net", type=Path, required=True, help="state_dict from bench/upscale_study.py --save")
    ap.add_argument("--resolution", type=int, default=720)
    ap.add_argument("--frames", type=int, default=90)
    ap.add_argument("--eval-frames", type=int, default=5)
    ap.add_argument("--border", type=int, default=4)
    ap.add_argument("--core", type=int, default=SparseSpec.core)
    ap.add_argument("--thresholds", default="0.01,0.02,0.03,0.05")
    ap.add_argument(
        "--int8",
        nargs="?",
        const="shipped",
        default="",
        help="also the int8 net (calibrated and checked per clip): comma-separated shipped|symmetric|asymmetric, "
        "each optionally @CONVS, the convolutions left float (first+last, first, last; empty: none)",
    )
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    logging.getLogger("engine.infer.runtime").setLevel(logging.INFO)  # which int8 scheme each clip ran
    head: Any = get_head("upscale")
    net = head.build(head.default_config())
    net.load_state_dict(torch.load(args.net, weights_only=True))
    net.eval()
    _, held = split(load(args.footage, args.resolution, args.frames), args.protocol)
    with runtime.using(min_pixels=0, threads=1):
        report = {
            "args": {k: str(v) for k, v in vars(args).items()},
            "load_average": os.getloadavg(),
            **study(net, _frames(held, args.eval_frames), args),
        }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
