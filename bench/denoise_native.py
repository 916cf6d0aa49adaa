"""Scratch study: does the denoise head, like upscale, gain from training at the footage's own size?

    nice -n 5 .venv/bin/python bench/denoise_native.py --footage ../shared/footage --train-resolution 256 \
        --cpu-seconds 300 --save /tmp/dn256.pt
    nice -n 5 .venv/bin/python bench/denoise_native.py --footage ../shared/footage --train-resolution 720 \
        --cpu-seconds 300 --save /tmp/dn720.pt
    nice -n 5 .venv/bin/python bench/denoise_native.py --footage ../shared/footage --net 256p=/tmp/dn256.pt \
        --net 720p=/tmp/dn720.pt --resolution 256,720

Show runs train denoise on 256p crops (TrainOptions.resolution) but fixes run on the footage at its own size
(at 720 every clip here is at its own size: camera 1280x720, CG 640x360; frames are never upscaled). Upscale
gained about +1 dB on unseen clips from training at that size (docs/benchmarks.md); this checks denoise.

Training: the head's own sample/loss (engine/heads/denoise.py: three frames aligned by DIS, gaussian sigma
5-25 or real-like grain), batches of 8 crops of 64 pixels, Adam 2e-3 with the show run's cosine decay over
the process's CPU seconds (fair between runs side by side on a loaded machine), one thread, on the `clips`
protocol's five training clips (their first --frames frames, cut into shots). Scoring: the head's own
evaluate() on every shot of the two held-out clips (blocks, tears of steel), --eval-frames a shot, gaussian
sigma 15 and grain 0.05, against the best NL-means (single frame and multi-frame) on the same noisy frames.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import OUT, footage_clips, md_table

from engine.heads import get_head
from engine.shots import find_cuts, shot_ranges
from engine.train import TrainClip
from engine.train.dataset import load_clip
from engine.train.loop import _lr_factor, make_batch
from engine.train.precision import train_autocast

HELD = ("03_blocks", "tears_of_steel")  # the clips the `clips` protocol holds out with seed 0


def shots(footage: Path, resolution: int, frames: int, held: bool) -> dict[str, list[np.ndarray]]:
    """Each clip's shots at `resolution` short side (never upscaled), the held-out clips or the others."""
    out: dict[str, list[np.ndarray]] = {}
    for p in footage_clips(footage):
        if any(h in p.name for h in HELD) != held:
            continue
        c = TrainClip(id=f"{p.parent.name}/{p.name}", path=p)
        clip = np.asarray(load_clip(c, resolution, OUT / "cache", frames).frames)
        out[p.stem] = [clip[a:b] for a, b in shot_ranges(len(clip), find_cuts(clip)) if b - a >= 3]
    return out


def config(args: argparse.Namespace) -> dict[str, object]:
    """The head's config with the study's --channels/--depth/--unshuffle."""
    cfg = get_head("denoise").default_config()
    return {**cfg, "channels": args.channels, "depth": args.depth, "unshuffle": args.unshuffle}


def train(args: argparse.Namespace) -> torch.nn.Module:
    head = get_head("denoise")
    torch.manual_seed(args.seed)
    net = head.build(config(args))
    clips = [
        s for v in shots(args.footage, args.train_resolution, args.frames, held=False).values() for s in v
    ]
    opt = torch.optim.Adam(net.parameters(), lr=args.lr)
    rng = np.random.default_rng(args.seed)
    start, steps, losses = time.process_time(), 0, []
    while (used := time.process_time() - start) < args.cpu_seconds:
        for g in opt.param_groups:
            g["lr"] = args.lr * _lr_factor(used / args.cpu_seconds) * min(1.0, (steps + 1) / 50)
        batch = make_batch(head, clips, rng, 8, 64, torch.device("cpu"))
        with train_autocast(torch.device("cpu"), torch.bfloat16 if args.bf16 else None):
            loss = head.loss(net, batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss))
        steps += 1
        if steps % 200 == 0:
            print(f"step {steps} cpu {used:.0f}s loss {np.mean(losses[-200:]):.4f}", flush=True)
    print(f"trained {steps} steps in {time.process_time() - start:.0f} CPU s", flush=True)
    net.eval()
    return net


def score(args: argparse.Namespace, nets: dict[str, torch.nn.Module]) -> list[dict[str, object]]:
    head = get_head("denoise")
    rows = []
    for res in [int(r) for r in args.resolution.split(",")]:
        for name, clip_shots in shots(args.footage, res, args.frames, held=True).items():
            for noise in ("gaussian", "grain"):
                opts = {"eval_frames": args.eval_frames, "noise": noise, "grain": 0.05}
                for label, net in nets.items():
                    per_shot = []
                    for shot in clip_shots:
                        with torch.no_grad():
                            r = head.evaluate(net, [shot], np.random.default_rng(args.seed), opts)
                        best = max(r["psnr_nlmeans"], r["psnr_nlmeans_multi"])
                        per_shot.append((r["psnr"], best))
                    ours = float(np.mean([p[0] for p in per_shot]))
                    base = float(np.mean([p[1] for p in per_shot]))
                    row = {"resolution": res, "clip": name, "noise": noise, "net": label, "psnr": ours}
                    rows.append({**row, "nlmeans_best": base, "margin": ours - base, "shots": len(per_shot)})
                    print(json.dumps(rows[-1]), flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--footage", type=Path, default=Path("../shared/footage"))
    ap.add_argument("--train-resolution", type=int, default=256)
    ap.add_argument("--cpu-seconds", type=float, default=300)
    ap.add_argument("--frames", type=int, default=90)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--save", type=Path)
    ap.add_argument("--channels", type=int, default=32)
    ap.add_argument("--depth", type=int, default=7)
    ap.add_argument("--unshuffle", type=int, default=1)
    ap.add_argument("--net", action="append", default=[], help="LABEL=PATH of a saved net to score")
    ap.add_argument("--resolution", default="", help="score at these short sides, e.g. 256,720")
    ap.add_argument("--eval-frames", type=int, default=2)
    ap.add_argument("--bf16", action="store_true", help="train under CPU bfloat16 autocast (fast with AMX)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    import cv2

    cv2.setNumThreads(1)
    head = get_head("denoise")
    nets: dict[str, torch.nn.Module] = {}
    for spec in args.net:
        label, path = spec.split("=", 1)
        state = torch.load(path, weights_only=True)  # tensors and the config's plain values, no pickle
        net = head.build(state.pop("_config", head.default_config()))
        net.load_state_dict(state)
        nets[label] = net.eval()
    if not args.net:
        net = train(args)
        if args.save:
            torch.save({**net.state_dict(), "_config": config(args)}, args.save)
        nets[f"{args.train_resolution}p"] = net
    if not args.resolution:
        return
    rows = score(args, nets)
    out = OUT / "denoise_native.json"
    out.write_text(json.dumps(rows, indent=1))
    table = [
        [r["resolution"], r["clip"], r["noise"], r["net"], f"{r['psnr']:.2f}", f"{r['margin']:+.2f}"]
        for r in rows
    ]
    print(md_table(["resolution", "clip", "noise", "net", "PSNR", "over best NL-means"], table))


if __name__ == "__main__":
    main()
