"""Compare frame-interpolation variants on real footage: drop every other frame, rebuild it, PSNR vs truth.

    .venv/bin/python bench/interpolate_study.py --footage ../shared/footage --frames 41 --scale 0.5

Each clip's first `--frames` frames are decoded (PyAV), optionally downscaled; the odd frames are the
truth, the even frames the input. Variants share their flows where the flow settings match. Prints a
per-clip PSNR table, the mean gain of each variant over DIS and over minterpolate, and seconds per frame.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np

from engine import flow, flow_sequence
from engine.baselines import interpolate as baselines

FlowKey = tuple[object, ...]
ENSEMBLES: list[
    str
] = []  # "a+b": the mean of variants a and b; ds05+ds075 was flow.BEST_QUALITY before it took full-size flows


def decode(path: Path, frames: int, scale: float, windows: int = 1, start: int = 0) -> list[np.ndarray]:
    """`windows` runs of `frames` consecutive frames, spread evenly from frame `start` to the clip's end
    (1: the frames from `start` on)."""
    with av.open(str(path)) as container:
        total = container.streams.video[0].frames
    span = total - frames - start
    starts = [start] if windows <= 1 else [start + round(i * span / (windows - 1)) for i in range(windows)]
    runs: list[list[np.ndarray]] = [[] for _ in starts]
    with av.open(str(path)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            wanted = [k for k, s in enumerate(starts) if s <= i < s + frames]
            if not wanted:
                if i >= starts[-1] + frames:
                    break
                continue
            img: np.ndarray = frame.to_ndarray(format="rgb24")
            if scale != 1.0:
                h, w = img.shape[:2]
                img = cv2.resize(img, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
            for k in wanted:
                runs[k].append(img)
    return [np.stack(r).astype(np.float32) / 255 for r in runs if len(r) >= 3]


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b) ** 2))
    return 10 * np.log10(1.0 / max(mse, 1e-12))


# The final warps' kernel and static check before 2026-12-02 (bench/interpolate_holdout_study.py).
BILINEAR_MOVING: dict[str, Any] = {"warp_kernel": "linear", "static_tolerance": 0.0}
BEST = flow.FlowConfig(downscale=0.5)  # half-size flows, tuned blend (the fastest setting)
VARIANTS: dict[str, flow.FlowConfig] = {
    # The previous default: full-size flows, sharper softmax splat and occlusion check, linear blend weights.
    "old_full": replace(
        BEST, downscale=1.0, softmax_alpha=20, consistency_scale=0.5, blend_power=1.0, **BILINEAR_MOVING
    ),
    "old_ds05": replace(BEST, softmax_alpha=20, consistency_scale=0.5, blend_power=1.0, **BILINEAR_MOVING),
    "ds05_bilinear": replace(BEST, **BILINEAR_MOVING),  # before bicubic warps and the static check
    "ds05": BEST,
    "ds075": replace(BEST, downscale=0.75),  # flow.RECOMMENDED, the default
    "full": replace(BEST, downscale=1.0),
    "ds075_s4": replace(BEST, downscale=0.75, patch_stride=4),
    "ds075_fast": replace(BEST, downscale=0.75, preset="fast", finest_scale=0),
    "ds05_linear": replace(BEST, quadratic=False),
    "ds05_backward": replace(BEST, method="backward", quadratic=False),
    "ds05_splat": replace(BEST, method="splat"),
    "ds05_gate": replace(BEST, gate=True),
    "ds05_r10": replace(BEST, refine_iterations=10),
    "ds05_p6": replace(BEST, patch_size=6, patch_stride=2),
    "ds05_b1": replace(BEST, blend_power=1.0),
    "ds05_a20": replace(BEST, softmax_alpha=20),
    "ds05_c05": replace(BEST, consistency_scale=0.5),
}


def flow_key(c: flow.FlowConfig) -> FlowKey:
    return (c.preset, c.finest_scale, c.patch_size, c.patch_stride, c.refine_iterations, c.downscale)


def run_flow_variants(
    inputs: np.ndarray, variants: dict[str, flow.FlowConfig]
) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """Midpoints of each variant, and seconds per rebuilt frame (flow time counted for each flow setting)."""
    results: dict[str, np.ndarray] = {}
    seconds: dict[str, float] = {}
    n = len(inputs)
    by_key: dict[FlowKey, list[str]] = {}
    for name, cfg in variants.items():
        by_key.setdefault(flow_key(cfg), []).append(name)
    for names in by_key.values():
        cfg0 = variants[names[0]]
        t0 = time.perf_counter()
        fwd = [flow.flow_field(inputs[k], inputs[k + 1], cfg0) for k in range(n - 1)]
        bwd = [flow.flow_field(inputs[k + 1], inputs[k], cfg0) for k in range(n - 1)]
        flow_s = (time.perf_counter() - t0) / (n - 1)
        for name in names:
            cfg = variants[name]
            t0 = time.perf_counter()
            mids = []
            for k in range(n - 1):
                first, last = k == 0, k + 1 >= n - 1
                pf = flow.PairFlows(
                    fwd[k],
                    bwd[k],
                    None if first else bwd[k - 1],
                    None if last else fwd[k + 1],
                    None if first or not cfg.gate else fwd[k - 1],
                    None if last or not cfg.gate else bwd[k + 1],
                )
                mids.append(flow.interpolate_with_flows(inputs[k], inputs[k + 1], pf, 0.5, cfg))
            results[name] = np.stack(mids)
            seconds[name] = flow_s + (time.perf_counter() - t0) / (n - 1)
    return results, seconds


def timed(fn: Callable[[], np.ndarray], count: int) -> tuple[np.ndarray, float]:
    t0 = time.perf_counter()
    out = fn()
    return out, (time.perf_counter() - t0) / count


def study_clip(
    runs: list[np.ndarray], variants: dict[str, flow.FlowConfig]
) -> tuple[dict[str, float], dict[str, float]]:
    """Mean PSNR and seconds per frame of every method over all runs of one clip."""
    per_run = [study_run(frames, variants) for frames in runs]
    names = per_run[0][0].keys()
    return (
        {k: float(np.mean([r[0][k] for r in per_run])) for k in names},
        {k: float(np.mean([r[1][k] for r in per_run])) for k in names},
    )


def study_run(
    frames: np.ndarray, variants: dict[str, flow.FlowConfig]
) -> tuple[dict[str, float], dict[str, float]]:
    inputs, truth = frames[0::2], frames[1::2]
    n = min(len(inputs) - 1, len(truth))
    inputs, truth = inputs[: n + 1], truth[:n]
    outs: dict[str, np.ndarray] = {}
    secs: dict[str, float] = {}
    outs["linear"], secs["linear"] = timed(
        lambda: np.stack([baselines.linear_blend(inputs[k], inputs[k + 1]) for k in range(n)]), n
    )
    outs["minterpolate"], secs["minterpolate"] = timed(lambda: baselines.minterpolate_midpoints(inputs), n)
    outs["dis"], secs["dis"] = timed(
        lambda: np.stack([baselines.dis_backward(inputs[k], inputs[k + 1]) for k in range(n)]), n
    )
    more, more_s = run_flow_variants(inputs, variants)
    outs.update(more)
    secs.update(more_s)
    for combo in ENSEMBLES:
        names = combo.split("+")
        if all(n in outs for n in names):
            outs[combo] = np.mean([outs[n] for n in names], axis=0)
            secs[combo] = sum(secs[n] for n in names)
    scores = {
        name: float(np.mean([psnr(o, t) for o, t in zip(out, truth, strict=True)]))
        for name, out in outs.items()
    }
    return scores, secs


def refiner_study(clips: list[Path], scale: float, seconds: float, frames: int) -> None:
    """Train the interpolate head's refiner for `seconds` on half of the clips, and score it against its own
    classical base (flow.RECOMMENDED) on the dropped frames of the other half."""
    import torch

    from engine.heads.base import as_float
    from engine.heads.interpolate import InterpolateHead

    head = InterpolateHead()
    torch.manual_seed(0)
    net = head.build({})
    train_clips = [
        (decode(c, 120, scale if "camera" in c.parts else 1.0)[0] * 255).astype(np.uint8) for c in clips[0::2]
    ]
    rng = np.random.default_rng(0)
    opt = torch.optim.Adam(net.parameters(), lr=3e-4)
    t0, steps = time.perf_counter(), 0
    while time.perf_counter() - t0 < seconds:
        examples = [head.sample(train_clips[int(rng.integers(len(train_clips)))], rng, 128) for _ in range(8)]
        batch = {k: torch.from_numpy(np.stack([e[k] for e in examples])) for k in examples[0]}
        loss = head.loss(net, batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
        steps += 1
    print(f"refiner: {steps} steps of 8 crops in {seconds:.0f} s on {[c.stem for c in clips[0::2]]}")
    config = head.flow_config()
    for clip in clips[1::2]:
        runs = decode(clip, frames, scale if "camera" in clip.parts else 1.0, 3)
        base, refined = [], []
        for run in runs:
            for t in range(1, len(run) - 1, 2):
                parts = flow_parts(run, t, config)
                with torch.no_grad():
                    out = head.refine(net, parts)
                base.append(psnr(parts.frame, run[t]))
                refined.append(psnr(as_float(out), run[t]))
        print(f"{clip.stem}: base {np.mean(base):.2f} refined {np.mean(refined):.2f} ({len(base)} frames)")


def _retime_all(kept: np.ndarray, config: flow.FlowConfig) -> list[tuple[int, np.ndarray]]:
    return list(flow_sequence.retime(((i, f) for i, f in enumerate(kept)), 2, config))


def timing_study(clips: list[Path], scale: float, frames: int, repeats: int = 3) -> None:
    """Seconds per rebuilt frame, best of `repeats`, of minterpolate and of flow_sequence.fill (the streaming
    path the head runs) at the variants' settings, on each clip's first `frames` frames (odd ones dropped)."""
    settings = {
        "ds05": VARIANTS["ds05"],
        "ds075 (default)": flow.RECOMMENDED,
        "old_full": VARIANTS["old_full"],
    }
    best: dict[str, list[float]] = {}
    for clip in clips:
        run = decode(clip, frames, scale if "camera" in clip.parts else 1.0)[0]
        kept = run[0::2]
        count = len(kept) - 1
        jobs: dict[str, Callable[[], object]] = {
            "minterpolate": partial(baselines.minterpolate_midpoints, kept)
        }
        for name, cfg in settings.items():
            jobs[name] = partial(_retime_all, kept, cfg)
        for name, job in jobs.items():
            times = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                job()
                times.append((time.perf_counter() - t0) / count)
            best.setdefault(name, []).append(min(times))
    for name, v in best.items():
        print(f"{name:18s} {np.mean(v):.3f} s/frame (best of {repeats}, mean over {len(v)} clips)")


def flow_parts(run: np.ndarray, t: int, config: flow.FlowConfig) -> flow.Parts:
    """Frame t of a run rebuilt from t-1, t+1 (and t-3, t+3 when there) by each member of config, averaged."""

    def get(i: int) -> np.ndarray | None:
        return run[i] if 0 <= i < len(run) else None

    f0, f1 = run[t - 1], run[t + 1]
    return flow.mean_parts(
        [
            flow.interpolate_reverse(f0, f1, flow.pair_flows(f0, f1, get(t - 3), get(t + 3), c), 0.5, c)
            for c in flow.members(config)
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--footage", type=Path, default=Path("../shared/footage"))
    parser.add_argument("--frames", type=int, default=41)
    parser.add_argument("--scale", type=float, default=0.5, help="downscale camera clips (720p) by this")
    parser.add_argument("--start", type=int, default=0, help="first frame of the first window")
    parser.add_argument("--windows", type=int, default=1, help="runs of --frames spread over each clip")
    parser.add_argument("--variants", default="", help="comma-separated subset of variants")
    parser.add_argument("--ensembles", default="", help="comma-separated a+b means of variants")
    parser.add_argument("--timing", action="store_true", help="run the timing study instead")
    parser.add_argument("--refiner-seconds", type=float, default=0, help="run the refiner study instead")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    variants = VARIANTS
    if args.variants:
        variants = {k: v for k, v in VARIANTS.items() if k in args.variants.split(",")}
    ENSEMBLES.extend(e for e in args.ensembles.split(",") if e)
    clips = sorted((args.footage / "camera").glob("*.mp4")) + sorted((args.footage / "cg").glob("*.mp4"))
    if args.timing:
        timing_study(clips, args.scale, args.frames)
        return
    if args.refiner_seconds:
        refiner_study(clips, args.scale, args.refiner_seconds, args.frames)
        return
    table: dict[str, dict[str, float]] = {}
    speed: dict[str, list[float]] = {}
    for clip in clips:
        scale = args.scale if "camera" in clip.parts else 1.0
        runs = decode(clip, args.frames, scale, args.windows, args.start)
        scores, secs = study_clip(runs, variants)
        table[clip.stem] = scores
        for k, v in secs.items():
            speed.setdefault(k, []).append(v)
        best = max(scores["dis"], scores["minterpolate"])
        line = " ".join(f"{k}={v:.2f}" for k, v in scores.items())
        size = f"{runs[0].shape[2]}x{runs[0].shape[1]}x{len(runs)}x{len(runs[0])}"
        print(f"{clip.stem} {size} best_baseline={best:.2f} | {line}", flush=True)
    names = list(next(iter(table.values())).keys())
    print(
        f"\n{'variant':22s} {'mean':>7s} {'vs DIS':>7s} {'vs mint':>7s} {'vs best':>7s} {'wins':>5s} {'s/frame':>8s}"
    )
    for name in names:
        vals = [table[c][name] for c in table]
        d_dis = [table[c][name] - table[c]["dis"] for c in table]
        d_min = [table[c][name] - table[c]["minterpolate"] for c in table]
        d_best = [table[c][name] - max(table[c]["dis"], table[c]["minterpolate"]) for c in table]
        wins = sum(d > 0 for d in d_best)
        print(
            f"{name:22s} {np.mean(vals):7.2f} {np.mean(d_dis):+7.2f} {np.mean(d_min):+7.2f} "
            f"{np.mean(d_best):+7.2f} {wins:2d}/{len(table):<2d} {np.mean(speed[name]):8.3f}"
        )
    if args.json:
        args.json.write_text(json.dumps({"psnr": table, "seconds_per_frame": speed}, indent=1))


if __name__ == "__main__":
    main()
