"""Denoise show training from a base, with and without colour reordering, scored per held-out shot.

    .venv/bin/python bench/denoise_colour.py --footage ../shared/footage --base bench/out/base-run/base
        [--steps 800] [--shares 0,0.5] [--mode clips]

The same `--steps` of denoise show training (fixed steps, so the arms are equal whatever the load) start from
the base version `--base` (a bench/base.py base) on the training clips of `--mode`, once per colour-reordering
share (engine.heads.base.permute_colours, the head's `colour_share`), and each net is scored on every held-out
shot whole (the same noisy frames for every arm) beside the best NL-means. The base alone is scored too: a net
that fails on a hue its corpus lacked shows as one shot far below the noisy input.
Writes bench/out/denoise_colour.json and .md.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import OUT, footage_clips, held_out_shots, machine, md_table, write_json

from engine.baselines.scores import OPTION, BaselineScores
from engine.heads import get_head, head_names
from engine.heads.denoise import DenoiseHead
from engine.model import load_model
from engine.options import TrainOptions
from engine.train import TrainClip, TrainSettings, train


@contextmanager
def colour_share(share: float) -> Iterator[None]:
    """The denoise head's colour-reordering share set to `share` for the runs inside."""
    default = DenoiseHead.default_config
    DenoiseHead.default_config = lambda self: {**default(self), "colour_share": share}  # type: ignore[method-assign]
    try:
        yield
    finally:
        DenoiseHead.default_config = default  # type: ignore[method-assign]


def per_shot(
    net: torch.nn.Module, holdout: list[np.ndarray], scores: BaselineScores
) -> list[dict[str, float]]:
    """The net and the best NL-means on every held-out shot (seeded as engine.train.loop scores them)."""
    head, index = get_head("denoise"), head_names().index("denoise")
    net.eval()
    out = []
    for c, shot in enumerate(holdout):
        sheet = head.evaluate(net, [shot], np.random.default_rng([0, 7919, index, c]), {OPTION: scores})
        out.append({"psnr": sheet["psnr"], "nlmeans": sheet["baseline_best"], "frames": sheet["frames"]})
    return out


def summary(label: str, shots: list[dict[str, float]]) -> dict[str, Any]:
    weights = [s["frames"] for s in shots]
    psnr = float(np.average([s["psnr"] for s in shots], weights=weights))
    nlmeans = float(np.average([s["nlmeans"] for s in shots], weights=weights))
    return {"label": label, "shots": shots, "psnr": psnr, "margin": psnr - nlmeans}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--footage", type=Path, default=Path("../shared/footage"))
    ap.add_argument(
        "--base", type=Path, required=True, help="a base version folder (bench/base.py writes one)"
    )
    ap.add_argument("--steps", type=int, default=800)
    ap.add_argument("--shares", default="0,0.5")
    ap.add_argument("--mode", choices=("clips", "tails"), default="clips")
    ap.add_argument("--resolution", type=int, default=256)
    ap.add_argument("--frames", type=int, default=90)
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    if not (args.base / "manifest.json").is_file():
        raise SystemExit(f"{args.base} holds no model version: pass the base folder bench/base.py wrote")
    cache = args.out / "cache"
    clips = [TrainClip(id=f"{p.parent.name}/{p.name}", path=p) for p in footage_clips(args.footage)]
    shots = held_out_shots(args.footage, args.mode, cache, args.resolution, args.frames, 0.3, 0)
    holdout = [frames for _, frames in shots]
    scores = BaselineScores(cache / "baseline-scores.json")
    base = load_model(args.base)
    runs = [summary("the base alone", per_shot(base.model.net("denoise"), holdout, scores))]
    for share in [float(s) for s in args.shares.split(",")]:
        t0 = time.time()
        with colour_share(share):
            result = train(
                clips,
                TrainOptions(
                    budget_seconds=24 * 3600, seed=0, resolution=args.resolution, holdout_fraction=0.3
                ),
                args.out / "denoise-colour" / f"share-{share:g}",
                settings=TrainSettings(
                    cache_dir=cache,
                    max_frames_per_clip=args.frames,
                    holdout_mode=args.mode,
                    max_steps=args.steps,
                    checkpoint_seconds=3600,
                ),
                heads=["denoise"],
                base=base,
            )
        assert result.version is not None
        net = result.version.model.net("denoise")  # as written: the base's net where it did not beat it
        runs.append(
            {
                **summary(f"{args.steps} steps, colour share {share:g}", per_shot(net, holdout, scores)),
                "seconds": time.time() - t0,
            }
        )
        print(f"share {share:g}: {runs[-1]['psnr']:.2f} dB ({runs[-1]['margin']:+.2f})", flush=True)
    scores.save()
    write_json(args.out / "denoise_colour.json", {"args": vars(args) | {"load": machine()}, "runs": runs})
    header = ["run", *(f"shot {i}" for i in range(len(holdout))), "all", "over NL-means"]
    rows = [["best NL-means", *(f"{s['nlmeans']:.2f}" for s in runs[0]["shots"]), "", ""]]
    rows += [
        [r["label"], *(f"{s['psnr']:.2f}" for s in r["shots"]), f"{r['psnr']:.2f}", f"{r['margin']:+.2f}"]
        for r in runs
    ]
    text = f"# Denoise from a base with and without colour reordering (`{args.mode}`)\n\n" + md_table(
        header, rows
    )
    (args.out / "denoise_colour.md").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
