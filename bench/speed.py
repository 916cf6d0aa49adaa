"""Speed of each head at 1080p on this machine, beside its classical baseline in the same run.

    .venv/bin/python bench/speed.py [--model bench/out/model] [--frames 3] [--device cuda]
        [--backend auto|openvino|onnxruntime|torch] [--threads N] [--compare-backends] [--warmup]

Frames are a 1920x1080 camera move over a real photo. The heads run through Head.apply (tiled, streaming);
weights do not change the cost, so fresh nets are used unless --model names a version folder.
--compare-backends also times one 1080p frame of each CNN head's net through every installed inference
runtime and PyTorch, interleaved (noisy machines), with the largest difference from PyTorch's output.
The table gives the head's PSNR against the clean frames for upscale and cleanup (runs on the same inputs
compare quality too). Writes bench/out/speed.json and bench/out/speed.md (speed_cuda.* with --device cuda).
"""

from __future__ import annotations

import argparse
import os
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
from engine.infer import runtime
from engine.infer.run import run_on_image
from engine.metrics import masked_psnr, psnr
from engine.model import ShowModel, load_model


def timed(fn: Callable[[], Iterable[Any]], frames: int, keep: list[Any] | None = None) -> float:
    """Frames per second of consuming `fn()` (which yields `frames` outputs); outputs go to `keep` if given."""
    t = time.perf_counter()
    count = 0
    for item in fn():
        count += 1
        if keep is not None:
            keep.append(item[1] if isinstance(item, tuple) else item)
    elapsed = time.perf_counter() - t
    if count != frames:
        raise RuntimeError(f"expected {frames} frames out, got {count}")
    return frames / elapsed


def quality(head: str, outputs: list[np.ndarray], truth: np.ndarray, mask: np.ndarray) -> float:
    """Mean PSNR of a run's outputs against the clean frames (upscale: less a 4-pixel border; cleanup:
    inside the hole); NaN for the other heads. Compare runs on the same inputs (same --frames)."""
    if head == "upscale" and outputs:
        return float(
            np.mean([psnr(o[4:-4, 4:-4], t[4:-4, 4:-4]) for o, t in zip(outputs, truth, strict=False)])
        )
    if head == "cleanup" and outputs:
        return float(np.mean([masked_psnr(o, t, mask) for o, t in zip(outputs, truth, strict=False)]))
    return float("nan")


GENERIC_PARAMS: dict[str, dict[str, Any]] = {"interpolate": {"factor": 2}}


def numbered(frames: np.ndarray) -> list[tuple[int, np.ndarray]]:
    return list(enumerate(frames))


def _generic(model: ShowModel, head: str, frames: np.ndarray) -> Callable[[], Iterable[Any]]:
    params = GENERIC_PARAMS.get(head, {})
    return lambda: get_head(head).apply(model.net(head), numbered(frames), params)


NET_INPUTS = {"denoise": (1080, 1920, 9), "upscale": (540, 960, 3), "cleanup": (1080, 1920, 5)}


def compare_backends(model: ShowModel, heads: list[str], rounds: int = 2) -> list[list[Any]]:
    """Each CNN head's forward on one 1080p frame (its input channels) through each backend, interleaved;
    rows: head, backend, frames/s (best round), ratio to PyTorch, largest difference from PyTorch."""
    rows: list[list[Any]] = []
    names = ["torch"] + [b for b in ("openvino", "onnxruntime") if runtime.installed(b)]
    for head_name in (h for h in heads if h in NET_INPUTS):
        head, net = get_head(head_name), model.net(head_name)
        img = np.random.default_rng(0).random(NET_INPUTS[head_name], dtype=np.float32)
        fn = _net_fn(head_name, head, net)
        scale = head.scale
        best: dict[str, float] = {}
        outs: dict[str, np.ndarray] = {}
        for b in names:  # warm up: export and compile outside the timing
            with runtime.using(backend=b):
                outs[b] = run_on_image(fn, img, net, scale=scale)
        for _ in range(rounds):
            for b in names:
                with runtime.using(backend=b):
                    t = time.perf_counter()
                    run_on_image(fn, img, net, scale=scale)
                    best[b] = max(best.get(b, 0.0), 1 / (time.perf_counter() - t))
        for b in names:
            diff = float(np.abs(outs[b] - outs["torch"]).max())
            rows.append([head_name, b, best[b], best[b] / best["torch"], f"{diff:.1e}"])
            print(rows[-1], flush=True)
    return rows


def _net_fn(name: str, head: Any, net: torch.nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
    if name == "cleanup":
        return lambda x: head.forward(net, x[:, :3], x[:, 3:4], x[:, 4:5])
    return lambda x: head.forward(net, x)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=None)
    ap.add_argument("--frames", type=int, default=3)
    ap.add_argument("--heads", default="")
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    ap.add_argument("--backend", choices=runtime.BACKENDS, default="auto")
    ap.add_argument("--threads", type=int, default=None, help="Compute threads (default: from the load).")
    ap.add_argument("--compare-backends", action="store_true")
    ap.add_argument(
        "--warmup",
        action="store_true",
        help="Run each head once on its inputs before timing it (export and compile outside the figure, "
        "as in a long fix; without it the one-off compile is in the timing of these few frames).",
    )
    args = ap.parse_args()
    load_start = os.getloadavg()[0]
    runtime.configure(backend=args.backend, threads=args.threads)
    n = args.frames
    heads = [h for h in args.heads.split(",") if h] or head_names()
    model = load_model(args.model).model if args.model else ShowModel.fresh(heads)
    model = model.to(args.device).eval()
    suffix = "_cuda" if args.device == "cuda" else ""
    backends = compare_backends(model, heads) if args.compare_backends else []
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
        kept: list[Any] = []
        with torch.no_grad():
            try:
                if args.warmup:
                    sum(1 for _ in run())
                if outputs == 0:
                    t = time.perf_counter()
                    outputs = sum(1 for _ in run())
                    fps = outputs / (time.perf_counter() - t)
                else:
                    fps = timed(run, outputs, kept if head in ("upscale", "cleanup") else None)
                error = ""
            except Exception as exc:  # a head that needs parameters this generic call does not give
                fps, error = float("nan"), f"{type(exc).__name__}: {exc}"
        base_fps = timed(base, outputs) if base is not None else float("nan")
        report[head] = {
            "fps": fps,
            "psnr": quality(head, kept, clip[:n], mask),
            "baseline": base_name,
            "baseline_fps": base_fps,
            "frames": outputs,
            "error": error,
        }
        ratio = fps / base_fps if base_fps == base_fps and base_fps > 0 else float("nan")
        report[head]["ratio"] = ratio
        rows.append([head, fps, base_name, base_fps, ratio, report[head]["psnr"], error or ""])
        print(head, report[head], flush=True)
    data = {
        "machine": machine(),
        "device": args.device,
        "backend": runtime.resolve_backend() if args.device == "cpu" else "torch (fp16 autocast)",
        "threads": runtime.choose_threads(),
        "resolution": [1920, 1080],
        "frames": n,
        "heads": report,
        "backends": backends,
    }
    write_json(args.out / f"speed{suffix}.json", data)
    md = [
        f"# Show model speed at 1080p ({args.device})",
        "",
        f"`{' '.join(sys.argv)}` on {data['machine']['cpu_count']} CPU cores, inference {data['backend']} "
        f"with {data['threads']} threads, load average {load_start:.1f} before, "
        f"{os.getloadavg()[0]:.1f} after (shared machine).",
        "",
        md_table(
            [
                "head",
                "head frames/s",
                "baseline",
                "baseline frames/s",
                "head / baseline",
                "head PSNR",
                "note",
            ],
            rows,
        ),
        "",
    ]
    if backends:
        md += [
            "One 1080p frame of each net (tiled as in fixes), runtimes interleaved:",
            "",
            md_table(["head", "backend", "frames/s", "x PyTorch", "max diff from PyTorch"], backends),
            "",
        ]
    (args.out / f"speed{suffix}.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
