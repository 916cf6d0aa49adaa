"""The cleanup head's classical base against Telea on held-out footage, per protocol and per shot.

    .venv/bin/python bench/cleanup_study.py --footage ../shared/footage [--modes clips,tails] [--out DIR]
        [--model DIR]   # a trained model version's cleanup net instead of a fresh one
        [--radius 4]    # neighbours on each side, as a fix uses (the evaluation's is 2)

Holds out footage as bench/base.py does (engine.train.dataset.split_holdout, --holdout 0.3, --seed 0,
--resolution 256, the first --frames 90 of each clip; `clips`: whole clips, `tails`: the last 30% of every
clip) and scores the cleanup head with a fresh net (a no-op over its classical base: temporal fill from
aligned neighbours, then Telea) on every held-out shot, with the DAVIS mask sequences as its eval options
and the rng engine.train.loop._evaluate gives it, so the margins are the ones a show run's evaluation
reports for the base (when it scores every held-out shot). Per shot it also says why: its length, the share
of hole pixels the temporal fill covers (the rest is Telea's), and that fill's and the rest's masked PSNR
over Telea's on the same pixels. Writes cleanup_study.json to --out (decoded clips cached in --out/cache or
--cache). About 20 s on one core: a quality study, run it niced.

Measured 2026-12-02 (docs/benchmarks.md): margin over Telea +4.08 (clips) / +2.22 (tails) before the
alignment check of engine.heads.cleanup_check, +4.61 / +3.89 after.
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

from common import OUT, davis_masks, held_out_shots, md_table, write_json

from engine.baselines.restore import inpaint_telea
from engine.heads import get_head, head_names
from engine.heads.base import as_float, eval_indices
from engine.heads.cleanup import CleanupHead, classical_base
from engine.metrics import masked_psnr
from engine.model import load_model
from engine.train.loop import _evaluate


def held_out(args: argparse.Namespace, mode: str) -> list[tuple[str, np.ndarray]]:
    """(name, frames) of every held-out shot of `mode`, in split order."""
    return held_out_shots(
        args.footage, mode, args.cache, args.resolution, args.frames, args.holdout, args.seed
    )


def diagnose(
    head: CleanupHead, clip: np.ndarray, rng: np.random.Generator, masks: list[np.ndarray], radius: int
) -> dict[str, float]:
    """The evaluate() loop again (same rng draws), with what the temporal fill covered and how well."""
    cover, fill_db, fill_telea_db, rest_db, rest_telea_db = [], [], [], [], []
    for k, t in enumerate(eval_indices(len(clip), int(head.default_config()["eval_frames"]), margin=radius)):
        idx = head._window(len(clip), t, radius)
        frames = [as_float(clip[i]) for i in idx]
        holes = head._eval_holes(frames[0].shape[:2], idx, t, rng, masks, k)
        if not holes[0].any():
            continue
        base, unseen = classical_base(frames, holes, 0)
        telea = inpaint_telea(frames[0], holes[0])
        seen = holes[0] & ~unseen
        cover.append(seen.sum() / holes[0].sum())
        if seen.any():
            fill_db.append(masked_psnr(base, frames[0], seen))
            fill_telea_db.append(masked_psnr(telea, frames[0], seen))
        if unseen.any():
            rest_db.append(masked_psnr(base, frames[0], unseen))
            rest_telea_db.append(masked_psnr(telea, frames[0], unseen))

    def mean(v: list[float]) -> float:
        return float(np.mean(v)) if v else float("nan")

    return {
        "cover": mean(cover),
        "fill_db": mean(fill_db),
        "fill_telea_db": mean(fill_telea_db),
        "rest_db": mean(rest_db),
        "rest_telea_db": mean(rest_telea_db),
    }


def study(args: argparse.Namespace, mode: str, masks: list[np.ndarray]) -> dict[str, Any]:
    head = get_head("cleanup")
    assert isinstance(head, CleanupHead)
    if args.model is not None:  # a trained net over the same base
        net = load_model(args.model).model.net("cleanup")
    else:  # a fresh net: a no-op over the classical base
        torch.manual_seed(0)
        net = head.build({})
    index = head_names().index("cleanup")
    options: dict[str, Any] = {"masks": masks, "radius": args.radius}
    rows: list[dict[str, Any]] = []
    for c, (name, clip) in enumerate(held_out(args, mode)):
        t0 = time.time()
        sheet = _evaluate(head, net, [clip], args.seed, index, options, c)
        if not sheet:
            continue
        why = diagnose(head, clip, np.random.default_rng([args.seed, 7919, index, c]), masks, args.radius)
        rows.append({"shot": name, "length": len(clip), **sheet, **why, "seconds": time.time() - t0})
        print(mode, rows[-1]["shot"], f"{sheet['psnr'] - sheet['psnr_telea']:+.2f}", flush=True)
    weights = np.array([r["frames"] for r in rows])
    mean = {k: float(np.average([r[k] for r in rows], weights=weights)) for k in ("psnr", "psnr_telea")}
    return {"margin": mean["psnr"] - mean["psnr_telea"], **mean, "shots": rows}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--footage", type=Path, default=Path("../shared/footage"))
    ap.add_argument("--modes", default="clips,tails")
    ap.add_argument("--frames", type=int, default=90)
    ap.add_argument("--resolution", type=int, default=256)
    ap.add_argument("--holdout", type=float, default=0.3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument(
        "--radius", type=int, default=2, help="neighbours on each side (the evaluation's 2; a fix uses 4)"
    )
    ap.add_argument("--model", type=Path, default=None, help="a model version whose cleanup net to score")
    ap.add_argument("--cache", type=Path, default=None, help="decoded-clip cache (default: OUT/cache)")
    args = ap.parse_args()
    args.cache = args.cache or args.out / "cache"
    torch.set_num_threads(1)
    masks = davis_masks(args.footage)
    data = {m: study(args, m, masks) for m in args.modes.split(",") if m}
    write_json(args.out / "cleanup_study.json", data)
    for mode, res in data.items():
        print(
            f"\n{mode}: margin {res['margin']:+.2f} dB ({res['psnr']:.2f} vs Telea {res['psnr_telea']:.2f})"
        )
        rows = [
            [
                r["shot"],
                r["length"],
                r["psnr"] - r["psnr_telea"],
                r["cover"],
                r["fill_db"] - r["fill_telea_db"],
                r["rest_db"] - r["rest_telea_db"],
            ]
            for r in res["shots"]
        ]
        print(
            md_table(["shot", "frames", "margin", "fill cover", "fill over Telea", "rest over Telea"], rows)
        )


if __name__ == "__main__":
    main()
