"""Do the learned parts learn? A fixed number of steps of each, scored on held-out clips.

    .venv/bin/python bench/learned_parts.py --footage ../shared/footage --part regrade --steps 300
    .venv/bin/python bench/learned_parts.py --footage ../shared/footage --part interpolate --steps 300

Steps, not seconds: on a shared 2-core box a time budget gives a head 6-14 steps (bench/quality.py), which
says more about the load than about the net. The clips are split as bench/base.py's `clips` protocol (seed
0 holds out camera/03_blocks and cg/clip_01_tears_of_steel); the part trains on the first 70% of the others.
`--protocol tails` is bench/base.py's other protocol (a show's own later frames): it trains on the first 70%
of every clip and scores the last 30%.
- regrade: the no-reference inverse (engine.heads.regrade_inverse) on graded thumbnails of the training
  frames, as the head's loss trains it; scored with the head's own predict_lut/apply_lut on held-out whole
  frames under synthetic and production grade errors: PSNR of the ungraded input and of the restored frame.
- interpolate: the refiner (engine.heads.interpolate_net) on crops of the flow path's parts of training
  triplets (half with the outer frames swapped, half mirrored), as the head's forward() runs it; scored on
  held-out whole-frame triplets: PSNR of the flow path alone and refined.
Prints one line per `--every` steps and writes bench/out/learned_parts_<part>_<protocol>_seed<seed>.json.
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

from common import OUT, footage_clips, machine, write_json

from engine import lut as luts
from engine.heads.base import as_float
from engine.heads.interpolate import InterpolateHead, _stack_parts, _triplet_parts
from engine.heads.interpolate_net import SWAP
from engine.heads.regrade import RegradeHead, RegradeNet, grade_error
from engine.metrics import psnr
from engine.shots import split_shots
from engine.train import TrainClip
from engine.train.dataset import load_clip

HELD = ("03_blocks", "clip_01_tears_of_steel")


def load(
    footage: Path, frames: int, resolution: int, protocol: str = "clips"
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Training and held-out frames: `clips` holds out two whole clips and trains on the first 70% of the
    others; `tails` (a show's own later frames) trains on the first 70% of every clip, holds out the rest."""
    train: list[np.ndarray] = []
    held: list[np.ndarray] = []
    for p in footage_clips(footage):
        clip = TrainClip(id=f"{p.parent.name}/{p.name}", path=p)
        fr = np.asarray(load_clip(clip, resolution, OUT / "cache", frames).frames)
        cut = int(len(fr) * 0.7)
        if protocol == "tails":
            train.append(fr[:cut])
            held.append(fr[cut:])
        else:
            (held if p.stem in HELD else train).append(fr if p.stem in HELD else fr[:cut])
    return train, held


def regrade(
    train: list[np.ndarray], held: list[np.ndarray], steps: int, every: int, lr: float, seed: int
) -> list[dict[str, Any]]:
    head = RegradeHead()
    net = head.build({})
    assert isinstance(net, RegradeNet)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    rng = np.random.default_rng(seed)
    frames = [(c[t], i) for i, c in enumerate(held) for t in range(0, len(c), 12)]

    def score(production: bool) -> tuple[float, float]:
        r = np.random.default_rng(5)
        before, after = [], []
        with torch.no_grad():
            for frame, _ in frames:
                truth = as_float(frame)
                graded = grade_error(r, production)[0](truth[None])[0]
                before.append(psnr(graded, truth))
                after.append(psnr(luts.apply_lut(graded, head.predict_lut(net, graded)), truth))
        return float(np.mean(before)), float(np.mean(after))

    rows = []
    t0 = time.time()
    for step in range(1, steps + 1):
        ex = [head.inverse_examples(train[int(rng.integers(len(train)))], rng, 8, 0.5) for _ in range(8)]
        graded = torch.from_numpy(np.concatenate([e["inv_graded"] for e in ex]))
        clean = torch.from_numpy(np.concatenate([e["inv_clean"] for e in ex]))
        grades = torch.from_numpy(np.concatenate([e["inv_grades"] for e in ex]))
        loss = head.inverse_loss(net, graded, clean, grades)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % every == 0 or step == 1:
            (si, so), (pi, po) = score(False), score(True)
            rows.append(
                {
                    "step": step,
                    "loss": float(loss.detach()),
                    "synthetic_input": si,
                    "synthetic_restored": so,
                    "production_input": pi,
                    "production_restored": po,
                    "seconds": time.time() - t0,
                }
            )
            print(
                f"regrade step {step} loss {float(loss.detach()):.4f} synthetic {si:.2f} -> {so:.2f} ({so - si:+.2f}) "
                f"production {pi:.2f} -> {po:.2f} ({po - pi:+.2f}) {time.time() - t0:.0f}s",
                flush=True,
            )
    return rows


def triplets(clips: list[np.ndarray], stride: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Flow-path parts and truth of every `stride`-th frame of each shot (clips split at their cuts, as show
    runs split them): no frame of a triplet, nor of the outer pair t-3, t+3 its quadratic motion reads, lies
    across a cut. Before, only t-1..t+1 were kept inside a shot, and one held-out triplet whose t+3 lay past a
    cut (Tears of Steel's tail) made most of the refiner's gain in `tails` (docs/benchmarks.md)."""
    head = InterpolateHead()
    out = []
    for clip in clips:
        for shot in split_shots(clip):
            for t in range(1, len(shot) - 1, stride):
                parts, truth = _triplet_parts(shot, t, head.flow_config())
                out.append((_stack_parts(parts), truth))
    return out


def interpolate(
    train: list[np.ndarray], held: list[np.ndarray], steps: int, every: int, lr: float, seed: int
) -> list[dict[str, Any]]:
    head = InterpolateHead()
    net = head.build({})
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    rng = np.random.default_rng(seed)
    pool, test = triplets(train, 3), triplets(held, 8)
    crop = 96

    def batch() -> tuple[torch.Tensor, torch.Tensor]:
        xs, ys = [], []
        for k in rng.integers(0, len(pool), 8):
            x, y = pool[int(k)]
            y0, x0 = int(rng.integers(0, x.shape[0] - crop + 1)), int(rng.integers(0, x.shape[1] - crop + 1))
            xc, yc = x[y0 : y0 + crop, x0 : x0 + crop], y[y0 : y0 + crop, x0 : x0 + crop]
            if rng.random() < 0.5:  # the outer frames swapped, as the head's sample() does
                xc = xc[..., SWAP]
            if rng.random() < 0.5:
                xc, yc = xc[:, ::-1], yc[:, ::-1]
            xs.append(xc.transpose(2, 0, 1))
            ys.append(yc.transpose(2, 0, 1))
        return torch.from_numpy(np.ascontiguousarray(np.stack(xs))), torch.from_numpy(
            np.ascontiguousarray(np.stack(ys))
        )

    def score() -> tuple[float, float]:
        base, refined = [], []
        with torch.no_grad():
            for x, y in test:
                out = head.forward(net, torch.from_numpy(x.transpose(2, 0, 1))[None])[0].clamp(0, 1)
                base.append(psnr(x[..., :3], y))
                refined.append(psnr(out.numpy().transpose(1, 2, 0), y))
        return float(np.mean(base)), float(np.mean(refined))

    rows = []
    t0 = time.time()
    for step in range(1, steps + 1):
        x, y = batch()
        loss = (head.forward(net, x) - y).abs().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % every == 0 or step == 1:
            b, r = score()
            rows.append(
                {
                    "step": step,
                    "loss": float(loss.detach()),
                    "flow_path": b,
                    "refined": r,
                    "seconds": time.time() - t0,
                }
            )
            print(
                f"interpolate step {step} loss {float(loss.detach()):.4f} flow path {b:.2f} refined {r:.2f} ({r - b:+.3f}) "
                f"{time.time() - t0:.0f}s",
                flush=True,
            )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--footage", type=Path, default=Path("../shared/footage"))
    ap.add_argument("--part", choices=("regrade", "interpolate"), required=True)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--every", type=int, default=100)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--frames", type=int, default=90)
    ap.add_argument("--resolution", type=int, default=256)
    ap.add_argument("--seed", type=int, default=0, help="the training examples' and weights' seed")
    ap.add_argument(
        "--protocol",
        choices=("clips", "tails"),
        default="clips",
        help="held out: two whole clips, or every clip's last 30%%",
    )
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    torch.set_num_threads(1)
    train, held = load(args.footage, args.frames, args.resolution, args.protocol)
    run = regrade if args.part == "regrade" else interpolate
    rows = run(train, held, args.steps, args.every, args.lr, args.seed)
    write_json(
        OUT / f"learned_parts_{args.part}_{args.protocol}_seed{args.seed}.json",
        {"machine": machine(), "args": vars(args) | {"footage": str(args.footage)}, "rows": rows},
    )


if __name__ == "__main__":
    main()
