"""Whether the cleanup head's net can add anything over its classical base, trained far past a base run's steps.

    .venv/bin/python bench/cleanup_net.py --footage ../shared/footage [--steps 0,300,1000,3000] [--examples 2000]
        [--lr 1e-3] [--unshuffle 2 --channels 48]

In the protocol of bench/base.py, from the base and from scratch tie on cleanup: its score is the classical part's
(the aligned fill from neighbours, then Telea), the same from any start. Here the head's net trains on
`--examples` examples drawn once from the training shots of the `clips` protocol (the head's own sample(): moving
blob holes, the classical base computed per example) and reused, far past the 770-1,800 steps a 2-hour base gives
it, and is scored at each of `--steps` on every held-out shot with the DAVIS masks, as a show run scores it
(--holdout 0.3, --seed 0, 256p, the first 90 frames of each clip; clips decoded through --cache). `--unshuffle 2`
runs the net at half resolution (twice the reach for a quarter of the cost), the rest as the head builds it.
Writes cleanup_net.json and .md to --out.
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

from common import OUT, davis_masks, footage_clips, machine, md_table, write_json

from engine.heads import get_head, head_names
from engine.nets import ResidualCNN
from engine.train import TrainClip, split_holdout
from engine.train.dataset import load_clip
from engine.train.loop import _evaluate


class _Even(torch.nn.Module):
    """A net whose input sides must divide by `factor`, on any frame: padded by replication, then cut back."""

    def __init__(self, net: ResidualCNN, factor: int) -> None:
        super().__init__()
        self.net, self.factor = net, factor
        self.receptive_radius = net.receptive_radius

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        padded = torch.nn.functional.pad(x, (0, -w % self.factor, 0, -h % self.factor), mode="replicate")
        out: torch.Tensor = self.net(padded)[..., :h, :w]
        return out


def cleanup_net(args: argparse.Namespace) -> torch.nn.Module:
    head = get_head("cleanup")
    if args.unshuffle <= 1:
        return head.build({"channels": args.channels})
    dil = [int(d) for d in head.default_config()["dilations"]]
    net = ResidualCNN(
        5, 3, channels=args.channels, depth=len(dil) + 1, dilations=dil, unshuffle=args.unshuffle
    )
    return _Even(net, args.unshuffle)


def cleanup(args: argparse.Namespace) -> dict[str, Any]:
    head = get_head("cleanup")
    clips = [TrainClip(id=f"{p.parent.name}/{p.name}", path=p) for p in footage_clips(args.footage)]
    loaded = [load_clip(c, args.resolution, args.cache, args.frames) for c in clips]
    split = split_holdout(loaded, args.holdout, args.seed, mode="clips")
    shots = [s for s in split.train if len(s) >= head.min_frames()]
    rng = np.random.default_rng(args.seed + 1)
    t0 = time.time()
    examples = [
        head.sample(shots[int(rng.integers(0, len(shots)))], rng, args.crop) for _ in range(args.examples)
    ]
    drawn = time.time() - t0
    unseen = float(np.mean([e["unseen"].sum() / max(e["hole"].sum(), 1.0) for e in examples]))
    print(f"{len(examples)} examples in {drawn:.0f} s; Telea's share of their holes {unseen:.2f}", flush=True)
    torch.manual_seed(args.seed)
    net = cleanup_net(args)
    opt = torch.optim.Adam(net.parameters(), lr=args.lr)
    options = {"masks": davis_masks(args.footage)}
    index = head_names().index("cleanup")
    rows: list[dict[str, Any]] = []
    step, trained = 0, 0.0
    for mark in sorted(int(s) for s in args.steps.split(",")):
        t0 = time.time()
        while step < mark:
            pick = [examples[int(i)] for i in rng.integers(0, len(examples), args.batch)]
            batch = {
                k: torch.from_numpy(np.stack([e[k] for e in pick]))
                for k in ("base", "hole", "unseen", "target")
            }
            if rng.random() < 0.5:
                batch = {k: v.flip(-1) for k, v in batch.items()}
            loss = head.loss(net, batch)
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
        trained += time.time() - t0
        sheets = [
            s
            for k, c in enumerate(split.holdout)
            if (s := _evaluate(head, net, [c], args.seed, index, options, k))
        ]
        frames = np.array([s["frames"] for s in sheets])
        mean = {
            k: float(np.average([s[k] for s in sheets], weights=frames))
            for k in ("psnr", "psnr_base", "psnr_telea")
        }
        rows.append({"steps": step, "train_seconds": trained, **mean})
        print(
            f"step {step}: learned part {mean['psnr'] - mean['psnr_base']:+.3f} dB over the classical base",
            flush=True,
        )
    return {"examples": len(examples), "telea_share_of_training_holes": unseen, "rows": rows}


def report(data: dict[str, Any]) -> str:
    rows = [
        [
            r["steps"],
            f"{r['train_seconds']:.0f}",
            r["psnr_base"] - r["psnr_telea"],
            r["psnr"] - r["psnr_telea"],
            f"{r['psnr'] - r['psnr_base']:+.3f}",
        ]
        for r in data["result"]["rows"]
    ]
    head = ["steps", "training s", "classical base over Telea", "head over Telea", "learned part"]
    return f"# The cleanup net trained long\n\n{md_table(head, rows)}\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--footage", type=Path, default=Path("../shared/footage"))
    ap.add_argument("--steps", default="0,300,1000,3000", help="step counts to score at")
    ap.add_argument("--examples", type=int, default=2000, help="training examples drawn once")
    ap.add_argument("--crop", type=int, default=96)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--channels", type=int, default=32)
    ap.add_argument("--unshuffle", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--frames", type=int, default=90)
    ap.add_argument("--resolution", type=int, default=256)
    ap.add_argument("--holdout", type=float, default=0.3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--cache", type=Path, default=None, help="decoded-clip cache (default: OUT/cache)")
    args = ap.parse_args()
    args.cache = args.cache or args.out / "cache"
    torch.set_num_threads(args.threads)
    t0 = time.time()
    result = cleanup(args)
    data = {
        "args": {k: str(v) for k, v in vars(args).items()},
        "machine": machine(),
        "seconds": time.time() - t0,
        "result": result,
    }
    write_json(args.out / "cleanup_net.json", data)
    text = report(data)
    (args.out / "cleanup_net.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
