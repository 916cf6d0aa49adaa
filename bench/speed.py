"""Speed of each head at 1080p on this machine, beside its classical baseline in the same run.

    .venv/bin/python bench/speed.py [--model bench/out/model] [--frames 3] [--device cuda]
        [--backend auto|openvino|onnxruntime|torch] [--threads N] [--compare-backends] [--rounds 2]
        [--warmup] [--upscale-int8 default|on|off] [--upscale-ensemble 1|2|4|8] [--denoise-ensemble 1|2|4|8]

Frames are a 1920x1080 camera move over a real photo. The heads run through Head.apply (tiled, streaming);
weights do not change the cost, so fresh nets are used unless --model names a version folder.
Each head first makes one output alone (timed apart: it includes the one-off export and compile of its
net, which a fix pays once per shot), then races its baseline `--rounds` times, one output of each in
turn so both see the same load; medians of the rounds are reported.
--warmup runs each head once on its inputs before any timing (then the first output no longer includes the
compile). The table gives the head's PSNR against the clean frames for upscale and cleanup (the last round's
outputs), so runs on the same inputs compare quality as well as speed.
--compare-backends also times one 1080p frame of each CNN head's net through every installed inference
runtime and PyTorch, interleaved (noisy machines), with the largest difference from PyTorch's output.
Writes bench/out/speed.json and bench/out/speed.md (speed_cuda.* with --device cuda).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterable, Iterator
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


def raced(
    head: Callable[[], Iterable[Any]],
    base: Callable[[], Iterable[Any]],
    frames: int,
    keep: list[Any] | None = None,
) -> tuple[float, float]:
    """Frames/s of the head and of its baseline, run side by side: one output of each in turn, so both
    see the same load (this machine's load swings several-fold within a minute). A baseline that makes
    all its outputs at once (ffmpeg) is timed as one block against the whole head run."""
    spent = [0.0, 0.0]
    counts = [0, 0]
    its: list[Iterator[Any] | None] = [None, None]
    for k, fn in enumerate((head, base)):
        t = time.perf_counter()
        its[k] = iter(fn())
        spent[k] += time.perf_counter() - t
    while any(it is not None for it in its):
        for k, it in enumerate(its):
            if it is None:
                continue
            t = time.perf_counter()
            item = next(it, None)
            spent[k] += time.perf_counter() - t
            got = item is not None
            if got and k == 0 and keep is not None:
                keep.append(item[1] if isinstance(item, tuple) else item)
            counts[k] += got
            if not got:
                its[k] = None
    if counts != [frames, frames]:
        raise RuntimeError(f"expected {frames} frames out of the head and its baseline, got {counts}")
    return frames / spent[0], frames / spent[1]


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


def _measure(
    run: Callable[[], Iterable[Any]],
    base: Callable[[], Iterable[Any]] | None,
    outputs: int,
    rounds: int,
    *,
    warmup: bool = False,
    keep: list[Any] | None = None,
) -> dict[str, Any]:
    """One head against its baseline: the first output alone (it includes the one-off export and
    compile of the net, unless `warmup` ran the head once before), then `rounds` races (see raced);
    medians over the rounds; the last round's head outputs go to `keep`."""
    if warmup:
        sum(1 for _ in run())
    t = time.perf_counter()
    try:
        next(iter(run()), None)
    except Exception as exc:  # a head that needs parameters this generic call does not give
        nan = float("nan")
        return {"fps": nan, "baseline_fps": nan, "ratio": nan, "first_output_s": nan,
                "frames": outputs, "error": f"{type(exc).__name__}: {exc}"}  # fmt: skip
    first = time.perf_counter() - t
    if base is None or outputs == 0:
        t = time.perf_counter()
        outputs = sum(1 for _ in run())
        fps = outputs / (time.perf_counter() - t)
        return {"fps": fps, "baseline_fps": float("nan"), "ratio": float("nan"), "first_output_s": first,
                "frames": outputs, "error": ""}  # fmt: skip
    pairs = []
    for k in range(rounds):
        if keep is not None:
            keep.clear()
        pairs.append(raced(run, base, outputs, keep if k == rounds - 1 else None))
    return {
        "fps": statistics.median(h for h, _ in pairs),
        "baseline_fps": statistics.median(b for _, b in pairs),
        "ratio": statistics.median(h / b for h, b in pairs),
        "ratios": [h / b for h, b in pairs],
        "first_output_s": first,
        "frames": outputs,
        "error": "",
    }


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
    ap.add_argument("--rounds", type=int, default=2, help="Head/baseline races per head (medians reported).")
    ap.add_argument(
        "--warmup",
        action="store_true",
        help="Run each head once on its inputs before timing it (the one-off export and compile outside "
        "every figure, as in a long fix).",
    )
    ap.add_argument(
        "--upscale-int8",
        choices=("default", "on", "off"),
        default="default",
        help="Upscale's int8 net (its `int8` apply parameter): the head's default, or forced on or off.",
    )
    ap.add_argument(
        "--upscale-ensemble",
        type=int,
        default=1,
        help="Upscale's turned copies a frame (its `ensemble` apply parameter: 1, 2, 4 or 8; quality=best is "
        "engine.heads.upscale.BEST_ENSEMBLE).",
    )
    ap.add_argument(
        "--denoise-ensemble",
        type=int,
        default=None,
        help="Denoise's turned copies of each tile (its `ensemble` apply parameter: 1, 2, 4 or 8; default: "
        "the head's, engine.heads.denoise.ENSEMBLE).",
    )
    args = ap.parse_args()
    upscale_params: dict[str, Any] = (
        {} if args.upscale_int8 == "default" else {"int8": args.upscale_int8 == "on"}
    )
    if args.upscale_ensemble != 1:
        upscale_params["ensemble"] = args.upscale_ensemble
    denoise_params = {} if args.denoise_ensemble is None else {"ensemble": args.denoise_ensemble}
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
            lambda: get_head("denoise").apply(model.net("denoise"), numbered(noisy[:n]), denoise_params),
            "OpenCV NL-means (h=8)",
            lambda: (denoise_nlmeans(f, 8.0) for f in noisy[:n]),
        ),
        "upscale": (
            lambda: get_head("upscale").apply(model.net("upscale"), numbered(small[:n]), upscale_params),
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
            report[head] = _measure(run, base, outputs, args.rounds, warmup=args.warmup, keep=kept)
        report[head]["baseline"] = base_name
        report[head]["psnr"] = quality(head, kept, clip[:n], mask)
        r = report[head]
        rows.append(
            [
                head,
                r["fps"],
                base_name,
                r["baseline_fps"],
                r["ratio"],
                r["first_output_s"],
                r["psnr"],
                r["error"],
            ]
        )
        print(head, report[head], flush=True)
    data = {
        "machine": machine(),
        "device": args.device,
        "backend": runtime.resolve_backend() if args.device == "cpu" else "torch (fp16 autocast)",
        "threads": runtime.runtime_threads(),
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
                "head / baseline (median)",
                "first output s (incl. compile)",
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
