"""Show model versions' upscale heads scored on the same held-out frames, at the training resolution and at
the footage's own size.

    .venv/bin/python bench/base.py --footage ../shared/footage --heads upscale --run clips-scratch --out /tmp/a
    .venv/bin/python bench/base.py --footage ../shared/footage --heads upscale --run clips-scratch --out /tmp/b \
        --native-resolution 0
    .venv/bin/python bench/upscale_versions.py --footage ../shared/footage --protocol clips \
        --version own-size=/tmp/a/base-run/clips-scratch --version 256p=/tmp/b/base-run/clips-scratch

bench/base.py scores each version where it trained (upscale at the footage's own size by default, at 256p
with --native-resolution 0), so two such runs are not scored on the same frames. Here every version is
scored by the head's evaluate() on both sets of held-out frames of the protocol, split as show runs split them
(engine.train: the clips decoded at --resolution, first --frames frames, --holdout, --seed; the frames at the
footage's own size up to --native-resolution from engine.train.native). Margins are dB over the best of
Lanczos/bicubic on the same frames; then per held-out shot (evaluate() takes up to 8 frames a shot, so the
protocol's margin weighs every shot alike, whatever its clip). `--quality default,best` also scores each
version as a fix with `quality=best` makes it (the mean of each frame's quarter turns, BEST_ENSEMBLE). Writes
bench/out/upscale_versions.json and .md.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import OUT, footage_clips, machine, md_table, write_json

from engine.heads import get_head
from engine.heads.params import QUALITIES
from engine.heads.upscale import BEST_ENSEMBLE
from engine.model import load_model
from engine.train import TrainClip, split_holdout
from engine.train.dataset import Split, load_clip
from engine.train.native import load_native, native_split


def held_out(args: argparse.Namespace) -> dict[str, Split]:
    """The protocol's split at the training resolution and at the footage's own size."""
    cache = args.out / "cache"
    clips = [TrainClip(id=f"{p.parent.name}/{p.name}", path=p) for p in footage_clips(args.footage)]
    loaded = [load_clip(c, args.resolution, cache, args.frames) for c in clips]
    native = [
        load_native(c, lc, args.native_resolution, len(clips), cache)
        for c, lc in zip(clips, loaded, strict=True)
    ]
    return {
        f"{args.resolution}p": split_holdout(loaded, args.holdout, args.seed, mode=args.protocol),
        "own size": native_split(loaded, native, args.holdout, args.seed, mode=args.protocol),
    }


def protocol_options(ap: argparse.ArgumentParser) -> None:
    """The options naming the versions and the protocol's split (held_out reads them)."""
    ap.add_argument("--footage", type=Path, default=Path("../shared/footage"))
    ap.add_argument("--version", action="append", required=True, help="TAG=DIR of a model version folder")
    ap.add_argument("--protocol", choices=("clips", "tails"), default="clips")
    ap.add_argument("--resolution", type=int, default=256)
    ap.add_argument("--native-resolution", type=int, default=1080)
    ap.add_argument("--frames", type=int, default=90)
    ap.add_argument("--holdout", type=float, default=0.3)
    ap.add_argument("--seed", type=int, default=0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    protocol_options(ap)
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument(
        "--quality",
        default="default",
        help="comma list of the fix's `quality`: default, best (each frame as the mean of its 4 quarter turns)",
    )
    args = ap.parse_args()
    qualities = [q for q in args.quality.split(",") if q]
    if not qualities or set(qualities) - set(QUALITIES):
        ap.error(f"--quality {args.quality}: give default, best or default,best")
    head = get_head("upscale")
    splits = held_out(args)
    rows, shot_rows, data = [], [], {}
    for spec, quality in itertools.product(args.version, qualities):
        tag, _, folder = spec.partition("=")
        tag += "" if quality == "default" else f" quality={quality}"
        net = load_model(folder).model.net("upscale").eval()
        options = {"ensemble": BEST_ENSEMBLE if quality == "best" else 1}
        for where, split in splits.items():
            sheet = head.evaluate(net, split.holdout, np.random.default_rng(args.seed), options)
            best = max(sheet["psnr_lanczos"], sheet["psnr_bicubic"])
            data[f"{tag}@{where}"] = sheet
            rows.append((tag, where, int(sheet["frames"]), sheet["psnr"], best, sheet["psnr"] - best))
            print(
                f"{tag} on {where}: {sheet['psnr'] - best:+.2f} dB over the best of Lanczos/bicubic",
                flush=True,
            )
            for i, shot in enumerate(split.holdout):
                one = head.evaluate(net, [shot], np.random.default_rng(args.seed), options)
                size = f"{shot.shape[2]}x{shot.shape[1]}, {len(shot)} frames"
                margin = one["psnr"] - max(one["psnr_lanczos"], one["psnr_bicubic"])
                data[f"{tag}@{where}#{i}"] = one
                shot_rows.append((tag, where, f"{i} ({size})", int(one["frames"]), margin))
    header = ["version", "held-out frames", "frames", "PSNR", "best of Lanczos/bicubic", "margin"]
    per_shot = md_table(["version", "held-out frames", "shot", "frames scored", "margin"], shot_rows)
    report = (
        f"# Upscale versions on the same held-out frames (`{args.protocol}`)\n\n{md_table(header, rows)}\n\n"
        f"## Per held-out shot\n\n{per_shot}\n"
    )
    write_json(OUT / "upscale_versions.json", {"args": vars(args), "machine": machine(), "scores": data})
    (OUT / "upscale_versions.md").write_text(report)
    print(report)


if __name__ == "__main__":
    main()
