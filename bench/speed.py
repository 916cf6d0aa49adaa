"""Speed of each head at 1080p on this machine, beside its classical baseline in the same run.

    .venv/bin/python bench/speed.py [--model bench/out/model] [--frames 3]

Frames are a 1920x1080 camera move over a real photo. The heads run through Head.apply (tiled, streaming);
weights do not change the cost, so fresh nets are used unless --model names a version folder.
Writes bench/out/speed.json and bench/out/speed.md.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import OUT, machine, md_table, write_json

from engine import degrade, synth
from engine.baselines.color import reinhard
from engine.baselines.interpolate import minterpolate_midpoints
from engine.baselines.restore import denoise_nlmeans, downscale, inpaint_telea, upscale_lanczos
from engine.heads import get_head, head_names
from engine.model import ShowModel, load_model


def timed(fn: Callable[[], Iterable[Any]], frames: int) -> float:
    """Frames per second of consuming `fn()` (which yields `frames` outputs)."""
    t = time.perf_counter()
    count = sum(1 for _ in fn())
    elapsed = time.perf_counter() - t
    if count != frames:
        raise RuntimeError(f"expected {frames} frames out, got {count}")
    return frames / elapsed


GENERIC_PARAMS: dict[str, dict[str, Any]] = {"interpolate": {"factor": 2}}


def numbered(frames: np.ndarray) -> list[tuple[int, np.ndarray]]:
    return list(enumerate(frames))


def _generic(model: ShowModel, head: str, frames: np.ndarray) -> Callable[[], Iterable[Any]]:
    params = GENERIC_PARAMS.get(head, {})
    return lambda: get_head(head).apply(model.net(head), numbered(frames), params)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=None)
    ap.add_argument("--frames", type=int, default=3)
    ap.add_argument("--heads", default="")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    n = args.frames
    heads = [h for h in args.heads.split(",") if h] or head_names()
    model = load_model(args.model).model if args.model else ShowModel.fresh(heads)
    clip = synth.camera_move(synth.photo("astronaut"), n + 2, (1920, 1080))
    noisy = degrade.add_noise(clip, 15 / 255)
    small = np.stack([downscale(f) for f in clip])
    mask = degrade.blob_mask(1080, 1920, seed=1, fraction=0.04)
    graded = degrade.regrade(clip[:n], exposure_stops=0.7, white_balance=(1.1, 1.0, 0.9), contrast=1.2)
    reference = clip[n + 1]
    # a one-second shot (the graded frames over again): regrade fits its LUT once per shot, then applies it
    # as 8-bit decoded frames (engine.media.read_frames_uint8), the input of the head's baked 8-bit LUT path
    shot = [(np.clip(graded[i % n], 0, 1) * 255 + 0.5).astype(np.uint8) for i in range(24)]
    retimed = 2 * n + 1  # frames out of a 2x retime of n + 1 frames (originals included), for both tools
    minterp = "ffmpeg minterpolate 2x (mci/aobmc/bidir; output frames/s)"

    cases: dict[str, tuple[Callable[[], Iterable[Any]], str, Callable[[], Iterable[Any]] | None]] = {
        "denoise": (
            lambda: get_head("denoise").apply(model.net("denoise"), numbered(noisy[:n])),
            "OpenCV NL-means (h=8)",
            lambda: (denoise_nlmeans(f, 8.0) for f in noisy[:n]),
        ),
        "upscale": (
            lambda: get_head("upscale").apply(model.net("upscale"), numbered(small[:n])),
            "lanczos (960x540 -> 1080p)",
            lambda: (upscale_lanczos(f) for f in small[:n]),
        ),
        "cleanup": (
            lambda: get_head("cleanup").apply(
                model.net("cleanup"), numbered(clip[:n]), {"masks": mask, "radius": 2}
            ),
            "OpenCV Telea (4% hole)",
            lambda: (inpaint_telea(f, mask) for f in clip[:n]),
        ),
        # As fixes run it: the refiner only when the model's manifest says it beat the flow path (a fresh
        # or untrained refiner does not); and with the refiner forced on.
        "interpolate": (
            lambda: get_head("interpolate").apply(
                model.net("interpolate"), numbered(clip[: n + 1]), {"factor": 2, "refine": False}
            ),
            minterp,
            lambda: [*clip[: n + 1], *minterpolate_midpoints(clip[: n + 1])],
        ),
        "interpolate+refiner": (
            lambda: get_head("interpolate").apply(
                model.net("interpolate"), numbered(clip[: n + 1]), {"factor": 2, "refine": True}
            ),
            minterp,
            lambda: [*clip[: n + 1], *minterpolate_midpoints(clip[: n + 1])],
        ),
        "regrade": (
            lambda: get_head("regrade").apply(model.net("regrade"), numbered(shot), {"reference": reference}),
            "Reinhard colour transfer to the reference",
            lambda: (reinhard(f, reference) for f in shot),
        ),
    }
    counts = {"interpolate": retimed, "interpolate+refiner": retimed, "regrade": len(shot)}
    if "interpolate" in heads:
        heads.insert(heads.index("interpolate") + 1, "interpolate+refiner")
    rows, report = [], {}
    for head in heads:
        if head in cases:
            run, base_name, base = cases[head]
            outputs = counts.get(head, n)
        else:  # heads of other modules: measured through the Head interface alone
            run = _generic(model, head, clip[: n + 1])
            base_name, base, outputs = "(see that head's own benchmark)", None, 0
        with torch.no_grad():
            try:
                if outputs == 0:
                    t = time.perf_counter()
                    outputs = sum(1 for _ in run())
                    fps = outputs / (time.perf_counter() - t)
                else:
                    fps = timed(run, outputs)
                error = ""
            except Exception as exc:  # a head that needs parameters this generic call does not give
                fps, error = float("nan"), f"{type(exc).__name__}: {exc}"
        base_fps = timed(base, outputs) if base is not None else float("nan")
        report[head] = {
            "fps": fps,
            "baseline": base_name,
            "baseline_fps": base_fps,
            "frames": outputs,
            "error": error,
        }
        ratio = fps / base_fps if base_fps == base_fps and base_fps > 0 else float("nan")
        report[head]["ratio"] = ratio
        rows.append([head, fps, base_name, base_fps, ratio, error or ""])
        print(head, report[head], flush=True)
    data = {"machine": machine(), "resolution": [1920, 1080], "frames": n, "heads": report}
    write_json(args.out / "speed.json", data)
    md = [
        "# Show model speed at 1080p",
        "",
        f"`{' '.join(sys.argv)}` on {data['machine']['cpu_count']} CPU cores, torch threads "
        f"{data['machine']['torch_threads']}, load average {data['machine']['load_average'][0]:.1f} (shared machine).",
        "",
        md_table(["head", "head frames/s", "baseline", "baseline frames/s", "head / baseline", "note"], rows),
        "",
    ]
    (args.out / "speed.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
