"""Denoise's self-ensemble on the base protocol's held-out frames: each show model bench/base.py saved, rescored
with 1, 2, 4 and 8 turned copies of each tile (the head's `ensemble`; `quality=best` takes 4).

    .venv/bin/python bench/denoise_ensemble.py --base-out DIR [--degradations production] [--heads denoise]
        [--ensembles 1,2,4,8]

DIR is a bench/base.py `--out` whose show runs are done (DIR/base-run/clips-base, ...). Each run is rescored on
the frames and the noise its own scoring drew: the same held-out split (--frames, --resolution, --holdout, --seed
as the run had them), clip by clip with the training loop's generator seeds (engine.train.loop._evaluate: the
head's index among `--heads`, as the run trained them), so one copy gives the run's own figure; NL-means' scores
come from the run's cache (engine.baselines.scores), computed again only where missing. Margins are dB over the
best NL-means (single or three frames, best strength), weighted by frames as the loop merges clips. Writes
bench/out/denoise_ensemble.json and .md.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    DEGRADATIONS,
    DEGRADATIONS_HELP,
    OUT,
    eval_options,
    footage_clips,
    machine,
    md_table,
    write_json,
)

from engine.baselines.scores import OPTION, BaselineScores
from engine.heads import get_head, head_names
from engine.heads.orientation import orientations
from engine.model import load_model
from engine.train import TrainClip, split_holdout
from engine.train.dataset import load_clip
from engine.train.loop import EVAL_SEED

RUNS = ("clips-scratch", "clips-base", "tails-scratch", "tails-base")


def margin(sheets: list[dict[str, float]]) -> float:
    """The head over the best NL-means, each clip's scores weighted by its frames."""
    weights = np.array([s["frames"] for s in sheets])

    def mean(key: str) -> float:
        return float(np.dot([s[key] for s in sheets], weights) / weights.sum())

    return mean("psnr") - max(mean("psnr_nlmeans"), mean("psnr_nlmeans_multi"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--base-out", type=Path, required=True, help="a bench/base.py --out with its show runs done"
    )
    ap.add_argument("--footage", type=Path, default=Path("../shared/footage"))
    ap.add_argument("--degradations", choices=DEGRADATIONS, default="production", help=DEGRADATIONS_HELP)
    ap.add_argument("--heads", default="denoise", help="the heads the runs trained, as bench/base.py --heads")
    ap.add_argument("--frames", type=int, default=90)
    ap.add_argument("--resolution", type=int, default=256)
    ap.add_argument("--holdout", type=float, default=0.3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--ensembles", default="1,2,4,8", help="the counts of turned copies to score (1, 2, 4, 8)"
    )
    args = ap.parse_args()
    counts = [orientations(int(n), "denoise") for n in args.ensembles.split(",") if n]
    heads = [h for h in args.heads.split(",") if h] or head_names()
    index = heads.index("denoise")
    head = get_head("denoise")
    cache = args.base_out / "cache"
    clips = [TrainClip(id=f"{p.parent.name}/{p.name}", path=p) for p in footage_clips(args.footage)]
    loaded = [load_clip(c, args.resolution, cache, args.frames) for c in clips]
    store = BaselineScores(cache / "baseline-scores.json")
    options = eval_options([], args.degradations).get("denoise", {})
    scores: dict[str, dict[str, float]] = {}
    for label in [r for r in RUNS if (args.base_out / "base-run" / r).is_dir()]:
        holdout = split_holdout(loaded, args.holdout, args.seed, mode=label.split("-")[0]).holdout
        net = load_model(args.base_out / "base-run" / label).model.net("denoise").eval()
        scores[label] = {}
        for n in counts:
            t0 = time.time()
            sheets = [
                head.evaluate(
                    net,
                    [clip],
                    np.random.default_rng([args.seed, EVAL_SEED, index, c]),
                    {**options, "ensemble": n, OPTION: store},
                )
                for c, clip in enumerate(holdout)
            ]
            scores[label][str(n)] = margin(sheets)
            print(
                f"{label}, {n} turned: {scores[label][str(n)]:+.3f} dB ({time.time() - t0:.0f} s)", flush=True
            )
    store.save()
    runs = list(scores)
    rows = [[n, *(f"{scores[r][str(n)]:+.2f}" for r in runs)] for n in counts]
    report = (
        f"# Denoise's self-ensemble on the base protocol's held-out frames ({args.degradations})\n\n"
        f"`{' '.join(sys.argv)}`: dB over the best NL-means; 1 is each run's own figure.\n\n"
        f"{md_table(['turned copies', *runs], rows)}\n"
    )
    write_json(OUT / "denoise_ensemble.json", {"args": vars(args), "machine": machine(), "scores": scores})
    (OUT / "denoise_ensemble.md").write_text(report)
    print(report)


if __name__ == "__main__":
    main()
