"""Regrade on real footage: perturb a frame (engine.synth.regrade, the head's random range), restore it from
another frame of the same clip, PSNR against the untouched frame.

    .venv/bin/python bench/regrade_study.py --footage ../shared/footage --offset 30 [--frames 120]

Every clip is held out here (nothing is trained): compares Reinhard, histogram matching and the matched
grade (engine.baselines.color.fit_grade) exactly and baked into 17^3 / 33^3 LUTs, per clip and on average.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine import lut
from engine.baselines import color
from engine.degrade import regrade as perturb
from engine.heads.regrade import random_grade
from engine.media import read_frames_uint8
from engine.metrics import psnr


def decode(path: Path, frames: int, width: int = 320) -> np.ndarray:
    out = []
    for f in read_frames_uint8(path, 0, frames - 1):
        h, w = f.rgb.shape[:2]
        out.append(cv2.resize(f.rgb, (width, round(h * width / w)), interpolation=cv2.INTER_AREA))
    return np.stack(out).astype(np.float32) / 255


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--footage", type=Path, default=Path("../shared/footage"))
    ap.add_argument("--frames", type=int, default=120)
    ap.add_argument("--offset", type=int, default=30, help="reference distance in frames")
    ap.add_argument("--per-clip", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    keys = ("input", "reinhard", "histogram", "fit", "lut17", "lut33")
    means: dict[str, list[float]] = {k: [] for k in keys}
    seconds: list[float] = []
    paths = sorted((args.footage / "camera").glob("*.mp4")) + sorted((args.footage / "cg").glob("*.mp4"))
    for path in paths:
        clip = decode(path, args.frames)
        per: dict[str, list[float]] = {k: [] for k in keys}
        for t in np.linspace(0, len(clip) - 1, args.per_clip).astype(int):
            truth = clip[t]
            ref = clip[t + args.offset if t + args.offset < len(clip) else t - args.offset]
            graded = perturb(truth[None], **random_grade(rng))[0]
            t0 = time.perf_counter()
            fit = color.fit_grade(graded, ref)
            seconds.append(time.perf_counter() - t0)
            outs = {
                "input": graded,
                "reinhard": color.reinhard(graded, ref),
                "histogram": color.histogram_match(graded, ref),
                "fit": fit.apply(graded),
                "lut17": lut.apply_lut(graded, fit.lut(17)),
                "lut33": lut.apply_lut(graded, fit.lut(33)),
            }
            for k, img in outs.items():
                per[k].append(psnr(img, truth))
        for k in keys:
            means[k].append(float(np.mean(per[k])))
        print(f"{path.stem:24s} " + " ".join(f"{k} {np.mean(per[k]):5.2f}" for k in keys), flush=True)
    print("MEAN" + " " * 21 + " ".join(f"{k} {np.mean(v):5.2f}" for k, v in means.items()))
    best = np.maximum(means["reinhard"], means["histogram"]).mean()
    print(
        f"lut33 over best baseline: {np.mean(means['lut33']) - best:+.2f} dB; fit {np.mean(seconds):.3f} s/frame"
    )


if __name__ == "__main__":
    main()
