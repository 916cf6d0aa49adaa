"""The interpolate head's flow path against minterpolate and DIS on held-out footage, per protocol and per shot.

    .venv/bin/python bench/interpolate_holdout_study.py --footage ../shared/footage [--modes clips,tails]
        [--out DIR] [--eval-frames 4] [--variants current,bilinear]

Holds out footage as bench/base.py does (engine.train.dataset.split_holdout, --holdout 0.3, --seed 0,
--resolution 256, the first --frames 90 of each clip; `clips`: whole clips, `tails`: the last 30% of every
clip) and scores the interpolate head with a fresh net (exactly its flow path, flow.RECOMMENDED) through
engine.train.loop._evaluate on every held-out shot, with its baselines on the same frames: the margins a
show run's evaluation reports for the flow path. `--eval-frames` frames per shot (the head's 4 by default;
more for a steadier figure). Each variant of `VARIANTS` (flow settings) is scored on the same frames
beside it. Per protocol: the frame-weighted mean PSNRs and the margin over the best of minterpolate/DIS,
and per shot each variant's margin. Writes interpolate_holdout_study.json to --out (decoded clips cached
in --out/cache or --cache). A minute or two on one core: a quality study, run it niced.

Measured 2026-12-02 (docs/benchmarks.md, "Interpolate's flow path in the two protocols"), 8 frames a shot:
margin +0.37 (clips) / +0.74 (tails) before the bicubic warps and the static check of engine.flow, +1.34 /
+1.42 after. (bench/interpolate_study.py is the older study: variants on the raw clips, every other frame.)
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import OUT, held_out_shots, md_table, write_json

from engine import flow
from engine.heads import get_head, head_names
from engine.heads.base import eval_indices
from engine.heads.interpolate import InterpolateHead, _triplet_parts
from engine.metrics import psnr
from engine.train.loop import _evaluate

R = flow.RECOMMENDED
# Flow settings scored beside the head's (`current` is flow.RECOMMENDED, what the head runs).
VARIANTS: dict[str, flow.FlowConfig] = {
    "current": R,
    "no_side": replace(R, side_sigma=0.0),  # the head's path before the side check (2026-12-06)
    "before": replace(R, warp_kernel="linear", static_tolerance=0.0),  # the flow path before 2026-12-02
    "bilinear": replace(R, warp_kernel="linear"),
    "no_static": replace(R, static_tolerance=0.0),
    "lanczos": replace(R, warp_kernel="lanczos"),
    # flows and reversal at the frames' full size, no cap (bench/interpolate_fusion_study.py's `full`)
    "full": replace(R, downscale=1.0, max_work_pixels=None),
    # interpolate's `quality=best`: the mean of the head's path and `full`, whose flows are capped at 1280x720's
    # pixels there (the same as `full` on frames up to that size, as all of ../shared/footage is)
    "with_full": flow.BEST_QUALITY,
    # `with_full` before the side check (2026-12-06)
    "no_side_with_full": flow.FlowConfig(
        ensemble=(replace(R, side_sigma=0.0), flow.BEST_QUALITY.ensemble[1])
    ),
}


def held_out(args: argparse.Namespace, mode: str) -> list[tuple[str, np.ndarray]]:
    """(name, frames) of every held-out shot of `mode`, in split order."""
    return held_out_shots(
        args.footage, mode, args.cache, args.resolution, args.frames, args.holdout, args.seed
    )


def variant_scores(
    clip: np.ndarray, count: int, variants: dict[str, flow.FlowConfig]
) -> tuple[dict[str, float], dict[str, float]]:
    """Mean PSNR of each variant's flow path on the frames the head's evaluation rebuilds, and the CPU
    seconds each variant took for them."""
    out: dict[str, float] = {}
    cpu: dict[str, float] = {}
    for name, config in variants.items():
        scores = []
        c0 = time.process_time()
        for t in eval_indices(len(clip), count, margin=1):
            parts, truth = _triplet_parts(clip, t, config)
            scores.append(psnr(parts.frame, truth))
        cpu[name] = time.process_time() - c0
        out[name] = float(np.mean(scores))
    return out, cpu


def study(args: argparse.Namespace, mode: str, variants: dict[str, flow.FlowConfig]) -> dict[str, Any]:
    head = get_head("interpolate")
    assert isinstance(head, InterpolateHead)
    torch.manual_seed(0)
    net = head.build({})  # a fresh refiner: exactly the flow path
    index = head_names().index("interpolate")
    options = {"eval_frames": args.eval_frames}
    rows: list[dict[str, Any]] = []
    for c, (name, clip) in enumerate(held_out(args, mode)):
        t0 = time.time()
        sheet = _evaluate(head, net, [clip], args.seed, index, options, c)
        if not sheet:
            continue
        best = max(sheet["psnr_minterpolate"], sheet["psnr_dis"])
        more, cpu = variant_scores(clip, args.eval_frames, variants)
        rows.append(
            {
                "shot": name,
                "length": len(clip),
                **sheet,
                "best": best,
                "variants": more,
                "variant_cpu_seconds": cpu,
                "seconds": time.time() - t0,
            }
        )
        print(mode, name, f"{sheet['psnr'] - best:+.2f}", flush=True)
    weights = np.array([r["frames"] for r in rows])

    def avg(values: list[float]) -> float:
        return float(np.average(values, weights=weights))

    keys = ("psnr", "psnr_base", "psnr_minterpolate", "psnr_dis", "psnr_linear")
    mean = {k: avg([r[k] for r in rows]) for k in keys}
    best = max(mean["psnr_minterpolate"], mean["psnr_dis"])
    margins = {v: avg([r["variants"][v] for r in rows]) - best for v in variants}
    cpu = {v: sum(r["variant_cpu_seconds"][v] for r in rows) for v in variants}
    return {
        "margin": mean["psnr"] - best,
        **mean,
        "variant_margins": margins,
        "variant_cpu_seconds": cpu,
        "shots": rows,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--footage", type=Path, default=Path("../shared/footage"))
    ap.add_argument("--modes", default="clips,tails")
    ap.add_argument("--frames", type=int, default=90)
    ap.add_argument("--resolution", type=int, default=256)
    ap.add_argument("--holdout", type=float, default=0.3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--eval-frames", type=int, default=4, help="frames scored per shot (the head's 4)")
    ap.add_argument("--variants", default="", help="comma-separated subset of VARIANTS (default: all)")
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--cache", type=Path, default=None, help="decoded-clip cache (default: OUT/cache)")
    args = ap.parse_args()
    args.cache = args.cache or args.out / "cache"
    torch.set_num_threads(1)
    chosen = [v for v in args.variants.split(",") if v] or list(VARIANTS)
    variants = {v: VARIANTS[v] for v in chosen}
    data = {m: study(args, m, variants) for m in args.modes.split(",") if m}
    write_json(args.out / "interpolate_holdout_study.json", data)
    for mode, res in data.items():
        print(
            f"\n{mode}: margin {res['margin']:+.2f} dB over the best of minterpolate/DIS ({res['psnr']:.2f}; "
            f"minterpolate {res['psnr_minterpolate']:.2f}, DIS {res['psnr_dis']:.2f}, "
            f"linear {res['psnr_linear']:.2f})"
        )
        print("variants: " + ", ".join(f"{v} {m:+.2f}" for v, m in res["variant_margins"].items()))
        print("CPU s: " + ", ".join(f"{v} {c:.1f}" for v, c in res["variant_cpu_seconds"].items()))
        rows = [
            [
                r["shot"],
                r["length"],
                r["psnr"],
                r["psnr_minterpolate"],
                r["psnr_dis"],
                r["psnr_linear"],
                *(r["variants"][v] - r["best"] for v in variants),
            ]
            for r in res["shots"]
        ]
        print(md_table(["shot", "frames", "ours", "minterpolate", "DIS", "linear", *variants], rows))


if __name__ == "__main__":
    main()
