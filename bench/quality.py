"""Quality of the show model against the classical baselines, every head in one run.

    .venv/bin/python bench/quality.py --footage ../shared/footage [--budget 600] [--clips 7] [--frames 120]

Trains a show model (engine.train.train, CPU, the given budget) on some of the camera/ and cg/ clips, holds
whole clips out, and scores every registered head on them through the Head interface against its baselines
(cleanup with real DAVIS object masks moved onto the held-out clips). Writes bench/out/quality.json,
bench/out/quality.md and before/after PNG crops bench/out/quality_<head>.png.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    DEGRADATIONS,
    DEGRADATIONS_HELP,
    GOALS,
    OUT,
    davis_masks,
    eval_options,
    footage_clips,
    machine,
    md_table,
    save_strip,
    write_json,
)

from engine.heads import HEAD_ORDER, get_head, head_names
from engine.options import TrainOptions
from engine.train import TrainClip, TrainSettings, train
from engine.train.dataset import load_clip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--footage", type=Path, default=Path("../shared/footage"))
    ap.add_argument("--budget", type=float, default=600.0, help="training seconds (all heads)")
    ap.add_argument("--clips", type=int, default=0, help="use only the first N clips (0 = all)")
    ap.add_argument("--frames", type=int, default=120, help="frames decoded per clip")
    ap.add_argument("--resolution", type=int, default=256)
    ap.add_argument("--heads", default="", help="comma-separated heads (default: every registered head)")
    ap.add_argument("--holdout", type=float, default=0.3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    ap.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="HEAD.KEY=VALUE",
        help="override a head's config, e.g. upscale.channels=48 (repeatable)",
    )
    ap.add_argument(
        "--holdout-mode",
        choices=("clips", "tails"),
        default="clips",
        help="clips: score on whole unseen clips; tails: train on the early frames of every clip, score on the rest",
    )
    ap.add_argument("--degradations", choices=DEGRADATIONS, default="synthetic", help=DEGRADATIONS_HELP)
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()

    paths = footage_clips(args.footage)
    if args.clips:
        # interleave camera and cg so a short run still sees both kinds
        cams = [p for p in paths if p.parent.name == "camera"]
        cgs = [p for p in paths if p.parent.name == "cg"]
        mixed = (
            [p for pair in zip(cams, cgs, strict=False) for p in pair] + cams[len(cgs) :] + cgs[len(cams) :]
        )
        paths = mixed[: args.clips]
    heads = [h for h in args.heads.split(",") if h] or head_names()
    missing = [h for h in HEAD_ORDER if h not in head_names()]
    clips = [TrainClip(id=f"{p.parent.name}/{p.name}", path=p) for p in paths]
    masks = davis_masks(args.footage)
    options = TrainOptions(
        budget_seconds=args.budget,
        device="auto",
        seed=args.seed,
        resolution=args.resolution,
        holdout_fraction=args.holdout,
        cpu_threads=args.threads,
    )
    settings = TrainSettings(
        cache_dir=args.out / "cache",
        max_frames_per_clip=args.frames,
        show="bench",
        version="bench",
        checkpoint_seconds=120,
        holdout_mode=args.holdout_mode,
    )
    for item in args.set:
        try:
            key, value = item.split("=", 1)
            head_name, option = key.split(".", 1)
            parsed: Any = yaml.safe_load(value)
        except ValueError:
            raise SystemExit(
                f"--set {item!r}: write it as HEAD.KEY=VALUE, e.g. upscale.channels=48"
            ) from None
        settings.head_configs.setdefault(head_name, {})[option] = parsed
    log: list[dict[str, Any]] = []

    def progress(head: str, step: int, loss: float, elapsed: float) -> None:
        if step % 100 == 0:
            log.append({"head": head, "step": step, "loss": loss, "elapsed": round(elapsed, 1)})
            print(f"{head:12s} step {step:6d} loss {loss:.4f} {elapsed:7.1f}s", flush=True)

    t0 = time.time()
    result = train(
        clips,
        options,
        args.out / "model",
        heads=heads,
        progress=progress,
        settings=settings,
        eval_options=eval_options(masks, args.degradations),
    )
    wall = time.time() - t0
    assert result.version is not None
    manifest = result.version.manifest
    # held-out frames once more, for the PNG crops (from the decode cache)
    held = []
    for c in clips:
        for rec in manifest.holdout:
            if rec.id.split("[")[0] == c.id:
                frames = load_clip(c, args.resolution, settings.cache_dir, args.frames).frames
                held.append(frames[len(frames) - rec.frames :])

    rows, report = [], {}
    for head in heads:
        m = result.metrics.get(head, {})
        h = get_head(head)
        goal = GOALS.get(head)
        refs = goal[0] if goal else ()
        values = [m[f"psnr_{b}"] for b in refs if f"psnr_{b}" in m]
        ref = " / ".join(refs) if refs else "best"
        ref_value = max(values) if values else m.get("baseline_best")
        margin = m["psnr"] - ref_value if ref_value is not None and "psnr" in m else float("nan")
        met = (margin >= goal[1]) if goal else None
        baselines = {b: m.get(f"psnr_{b}") for b in h.baselines}
        report[head] = {
            "metrics": m,
            "steps": result.steps.get(head),
            "margin_db": margin,
            "goal": goal,
            "met": met,
        }
        rows.append(
            [
                head,
                "masked PSNR" if head == "cleanup" else "PSNR",
                m.get("psnr", float("nan")),
                ", ".join(f"{b} {v:.2f}" for b, v in baselines.items() if v is not None),
                f"{margin:+.2f} vs {ref}",
                f">= +{goal[1]:.1f}" if goal else "—",
                {True: "yes", False: "NO", None: "—"}[met],
                m.get("ssim", float("nan")),
                result.steps.get(head, 0),
            ]
        )
        if held:
            opts: dict[str, Any] = {"masks": masks} if head == "cleanup" else {}
            if head == "denoise":
                opts["nlmeans_strength"] = m.get("nlmeans_strength", 8.0)
            net = result.version.model.net(head)
            with torch.no_grad():
                images = h.demo(net, np.asarray(held[0]), np.random.default_rng(args.seed), opts)
            if images:
                save_strip(args.out / f"quality_{head}.png", images)
    data = {
        "machine": machine(),
        "wall_seconds": wall,
        "budget_seconds": args.budget,
        "train_clips": [c.model_dump() for c in manifest.clips],
        "holdout_clips": [c.model_dump() for c in manifest.holdout],
        "heads": report,
        "missing_heads": missing,
        "progress": log,
        "code_version": manifest.code_version,
    }
    write_json(args.out / "quality.json", data)
    md = [
        "# Show model quality against classical baselines",
        "",
        f"`{' '.join(sys.argv)}` — {wall:.0f} s wall, training budget {args.budget:.0f} s on "
        f"{data['machine']['cpu_count']} CPU cores (load average {data['machine']['load_average'][0]:.1f}), "
        f"frames at {args.resolution}p short side, first {args.frames} frames per clip, held out: {args.holdout_mode}.",
        "",
        f"Trained on: {', '.join(c.id for c in manifest.clips)}.  ",
        f"Held out (scored on): {', '.join(c.id for c in manifest.holdout)}.  ",
        "Cleanup holes: DAVIS object masks (bmx-trees, tennis) moved onto the held-out clips.",
        "",
        md_table(
            ["head", "metric", "head dB", "baselines dB", "margin", "goal", "met?", "SSIM", "steps"], rows
        ),
        "",
    ]
    if missing:
        md.append(f"Not measured (module not present in this build): {', '.join(missing)}.")
    md.append(
        "Crops: " + ", ".join(f"`quality_{h}.png`" for h in heads if (args.out / f"quality_{h}.png").exists())
    )
    (args.out / "quality.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
