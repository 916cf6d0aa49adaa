"""What showing a scene-linear daily through OpenColorIO costs, and why it is OCIO's processor and not a LUT.

    .venv/bin/python bench/review_view.py --footage ../shared/footage [--frames 4] [--name review_view]

The pictures: frames of the footage's camera clips at 1080p, taken back to light (the sRGB curve undone) and
set at three exposures (-2, 0 and +3 stops), so that the shadows and lights a plate holds are all there. For
each, engine.color.DisplayView (the built-in studio config, ACEScg -> Rec.1886 Rec.709, the ACES 2.0 view)
is timed as the review render runs it (strips on every usable core) and on one thread, against what a
pipeline might use instead: a 65-point 3D LUT sampled from the same processor behind a log2 shaper (-12 to
+10 stops), applied with torch's trilinear lookup (engine.lut.apply_lut_torch). Its error is in 8-bit code
values against the processor. Writes bench/out/NAME.json and bench/out/NAME.md, with the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import PyOpenColorIO as ocio
import torch
from common import OUT, footage_clips

from engine.color import DEFAULT_CONFIG, DisplayView, ViewSpec
from engine.lut import apply_lut_torch
from engine.media import read_frames

DISPLAY = "Rec.1886 Rec.709 - Display"
STOPS = (-2.0, 0.0, 3.0)
LUT_SIZE, LOW, HIGH = 65, -12.0, 10.0


def scene_frames(footage: Path, count: int) -> list[np.ndarray]:
    """`count` 1080p frames of the camera clips, as light (the sRGB curve undone)."""
    frames = []
    for clip in footage_clips(footage, ("camera",)):
        rgb = next(iter(read_frames(clip, 0, 0))).rgb
        rgb = cv2.resize(rgb, (1920, 1080), interpolation=cv2.INTER_CUBIC).clip(0, 1)
        frames.append(
            np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4).astype(np.float32)
        )
        if len(frames) == count:
            break
    return frames


def sampled_lut(processor: Any) -> np.ndarray:
    axis = np.linspace(0.0, 1.0, LUT_SIZE, dtype=np.float32)
    grid = np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), axis=-1)
    light = np.ascontiguousarray(np.exp2(LOW + grid * (HIGH - LOW)).astype(np.float32))
    processor.applyRGB(light)
    return np.clip(light, 0, 1).astype(np.float32)


def lut_shown(lut: torch.Tensor, rgb: np.ndarray) -> np.ndarray:
    shaped = np.clip((np.log2(np.maximum(rgb, 2.0**LOW)) - LOW) / (HIGH - LOW), 0, 1).astype(np.float32)
    with torch.inference_mode():
        out = apply_lut_torch(torch.from_numpy(shaped).permute(2, 0, 1)[None], lut)
    return out[0].permute(1, 2, 0).numpy()


def timed(fn: Any, *args: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - start, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--footage", type=Path, required=True)
    parser.add_argument("--frames", type=int, default=4)
    parser.add_argument("--name", default="review_view")
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    view = DisplayView(ViewSpec(DEFAULT_CONFIG, "scene_linear", DISPLAY))
    config = ocio.Config.CreateFromFile(DEFAULT_CONFIG)
    transform = ocio.DisplayViewTransform(src="ACEScg", display=DISPLAY, view=config.getDefaultView(DISPLAY))
    one_thread = config.getProcessor(transform).getDefaultCPUProcessor()
    lut = torch.from_numpy(sampled_lut(one_thread))
    rows: dict[str, list[float]] = {
        "view_s": [],
        "one_thread_s": [],
        "lut_s": [],
        "lut_mean": [],
        "lut_p999": [],
    }
    worst = 0.0
    lut_shown(lut, np.zeros((8, 8, 3), np.float32))  # torch's first call pays its start-up
    for frame in scene_frames(args.footage, args.frames):
        for stops in STOPS:
            light = frame * np.float32(2.0**stops)
            seconds, shown = timed(view.shown, light)
            rows["view_s"].append(seconds)
            whole = np.ascontiguousarray(light.copy())
            seconds, _ = timed(one_thread.applyRGB, whole)
            rows["one_thread_s"].append(seconds)
            seconds, by_lut = timed(lut_shown, lut, light)
            rows["lut_s"].append(seconds)
            error = np.abs(by_lut - shown) * 255
            rows["lut_mean"].append(float(error.mean()))
            rows["lut_p999"].append(float(np.percentile(error, 99.9)))
            worst = max(worst, float(error.max()))
    result = {
        "view": view.name,
        "pictures": len(rows["view_s"]),
        "median_s": {k: statistics.median(v) for k, v in rows.items() if k.endswith("_s")},
        "lut_error_codes": {
            "mean": statistics.mean(rows["lut_mean"]),
            "p99.9_worst_picture": max(rows["lut_p999"]),
            "max": worst,
        },
        "threads": torch.get_num_threads(),
        "load": [load_before, os.getloadavg()[0]],
    }
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"{args.name}.json").write_text(json.dumps(result, indent=2) + "\n")
    med = result["median_s"]
    md = [
        f"# Showing scene-linear frames for review: {view.name}",
        "",
        f"{result['pictures']} pictures at 1920x1080 (camera frames as light, at {', '.join(f'{s:+g}' for s in STOPS)} "
        f"stops); medians. Load {load_before:.1f} before, {result['load'][1]:.1f} after.",
        "",
        "| method | s a picture | vs the review render's way | error, 8-bit codes (mean / worst p99.9 / max) |",
        "| --- | --- | --- | --- |",
        f"| OCIO processor, strips on every core (the review render's) | {med['view_s']:.3f} | 1.0x | exact |",
        f"| OCIO processor, one call | {med['one_thread_s']:.3f} | {med['one_thread_s'] / med['view_s']:.2f}x | exact |",
        f"| 65-point LUT, log2 shaper, torch trilinear | {med['lut_s']:.3f} | {med['lut_s'] / med['view_s']:.2f}x | "
        f"{result['lut_error_codes']['mean']:.2f} / {result['lut_error_codes']['p99.9_worst_picture']:.1f} / "
        f"{result['lut_error_codes']['max']:.1f} |",
        "",
    ]
    (OUT / f"{args.name}.md").write_text("\n".join(md))
    print("\n".join(md))


if __name__ == "__main__":
    main()
