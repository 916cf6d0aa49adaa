"""How much could a learned fusion of several classical syntheses gain over the flow path? (issue 10, 3a)

    .venv/bin/python bench/interpolate_fusion_study.py --footage ../shared/footage

The refiner could only re-weight the flow path's two warped frames, and where both are wrong a blend weight
cannot help (docs/benchmarks.md, "Learned parts that learn"). Here frame t gets several full classical
syntheses, each wrong in different places (other motion model, flow scale, DIS setting, forward splatting,
naive backward warping, no static check, the plain frame average, each one-sided warp), and the oracle
picks the best per pixel and per 8x8 / 16x16 block (a net cannot be pixel-exact): the ceiling of a net
that chooses among them. Triplets as bench/learned_parts.py (`triplets()`: every clip split into shots,
frame t rebuilt from t-1, t+1 and t-3, t+3 of its shot, 256p, first 90 frames):
- `train`: the first 70% of the five training clips, every 3rd frame (the pool learned_parts trains on);
- `select`: their last 30%, every 8th frame (where settings are chosen);
- `held`: the two held-out clips (camera/03_blocks, cg/clip_01_tears_of_steel), every 8th frame;
- `held_head` / `held_tail`: the held-out clips' first 70% (every 3rd) and last 30% (every 8th), which
  with `train` / `select` make the `tails` protocol.
Each triplet's flow-path parts (the refiner's 17 channels), candidates and truth are cached (float16) under
bench/out/fusion_cache/<set>/ for bench/interpolate_fusion.py; the report goes to
bench/out/interpolate_fusion_study.json.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import OUT, footage_clips, machine, write_json

from engine import flow
from engine.heads.base import as_float
from engine.heads.interpolate import _stack_parts
from engine.shots import split_shots
from engine.train import TrainClip
from engine.train.dataset import load_clip

HELD = ("03_blocks", "clip_01_tears_of_steel")
CACHE = OUT / "fusion_cache"
# Full syntheses (each a whole classical interpolation) and pieces (the plain average, one-sided warps).
CANDIDATES = (
    "flow",  # the flow path (flow.RECOMMENDED)
    "linear",  # same flows, linear motion instead of quadratic
    "half",  # the flow path at half size (the old BEST_QUALITY's other member; its 3/4 one is the flow path)
    "best",  # the old BEST_QUALITY (before 2026-12-02 17:00): the mean of the two
    "full",  # flows and reversal at full size
    "fine1",  # DIS stopped one pyramid level above full resolution (smoother flows)
    "nostatic",  # the static check off
    "splat",  # softmax forward splatting of both frames (flow.interpolate_splat) instead of reversal
    "backward",  # naive backward warping with the flows at x
    "wavg",  # the plain average of the flow path's two warped frames
    "avg",  # the plain average of frames t-1 and t+1
    "warp0",  # the flow path's warp of frame t-1 alone
    "warp1",  # ... of frame t+1 alone
)
SYNTHESES = CANDIDATES[:9]  # the full syntheses only (no plain average, no one-sided warp)
BLOCKS = (1, 8, 16)


Window = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]


def window(shot: np.ndarray, t: int) -> Window:
    """Frames t-1, t+1, t (the truth), and t-3, t+3 of `shot` (None outside it), as floats."""

    def get(i: int) -> np.ndarray | None:
        return as_float(shot[i]) if 0 <= i < len(shot) else None

    f0, f1, truth = get(t - 1), get(t + 1), get(t)
    assert f0 is not None and f1 is not None and truth is not None
    return f0, f1, truth, get(t - 3), get(t + 3)


def candidates(shot: np.ndarray, t: int) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """The candidates of frame t of `shot`, the flow path's stacked parts (17 channels) and the truth."""
    f0, f1, truth, prev, nxt = window(shot, t)
    h, w = f0.shape[:2]
    rec = flow.RECOMMENDED
    pf = flow.pair_flows(f0, f1, prev, nxt, rec)
    parts = flow.interpolate_reverse(f0, f1, pf, 0.5, rec)

    def reverse(config: flow.FlowConfig, flows: flow.PairFlows | None = None) -> np.ndarray:
        flows = flows or flow.pair_flows(f0, f1, prev, nxt, config)
        return flow.interpolate_reverse(f0, f1, flows, 0.5, config).frame

    half = reverse(flow.FlowConfig(downscale=0.5, max_work_pixels=None))
    out = {
        "flow": parts.frame,
        "linear": reverse(replace(rec, quadratic=False), pf),
        "half": half,
        "best": ((half + parts.frame) / 2).astype(np.float32),
        "full": reverse(replace(rec, downscale=1.0)),
        "fine1": reverse(replace(rec, finest_scale=1)),
        "nostatic": reverse(replace(rec, static_tolerance=0.0), pf),
        "splat": np.clip(flow.interpolate_splat(f0, f1, flow.full_size(pf, h, w), 0.5, rec)[0], 0, 1),
        "backward": np.clip(flow.interpolate_backward(f0, f1, flow.full_size(pf, h, w), 0.5), 0, 1),
        "wavg": (parts.warped0 + parts.warped1) / 2,
        "avg": (f0 + f1) / 2,
        "warp0": parts.warped0,
        "warp1": parts.warped1,
    }
    return {k: v.astype(np.float32) for k, v in out.items()}, _stack_parts(parts), truth


def block_mse(err: np.ndarray, size: int) -> np.ndarray:
    """Sum of a (H, W) error map over size x size blocks (edge blocks partial)."""
    if size == 1:
        return err
    rows = np.add.reduceat(err, np.arange(0, err.shape[0], size), axis=0)
    return np.add.reduceat(rows, np.arange(0, err.shape[1], size), axis=1)


def psnr_of(mse: float) -> float:
    return float(10 * np.log10(1.0 / max(mse, 1e-12)))


def oracle(errs: np.ndarray, size: int) -> float:
    """PSNR when each size x size block takes the candidate with least error there; errs (K, H, W)."""
    sums = np.stack([block_mse(e, size) for e in errs])
    return psnr_of(float(sums.min(0).sum() / errs[0].size))


def scores(cands: dict[str, np.ndarray], truth: np.ndarray) -> dict[str, float]:
    errs = {k: np.mean((v.astype(np.float64) - truth) ** 2, -1) for k, v in cands.items()}
    row = {k: psnr_of(float(e.mean())) for k, e in errs.items()}
    for label, names in (("all", CANDIDATES), ("syntheses", SYNTHESES)):
        stack = np.stack([errs[n] for n in names])
        for size in BLOCKS:
            row[f"oracle_{label}_{size}"] = oracle(stack, size)
    pair = np.stack([errs["warp0"], errs["warp1"], errs["flow"]])
    for size in BLOCKS:
        row[f"oracle_warps_{size}"] = oracle(pair, size)
    return row


def sets(footage: Path, frames: int, resolution: int) -> dict[str, list[tuple[str, np.ndarray, int]]]:
    """(clip name, frames, stride) per set, as the module docstring lists them."""
    out: dict[str, list[tuple[str, np.ndarray, int]]] = {
        "train": [],
        "select": [],
        "held": [],
        "held_head": [],
        "held_tail": [],
    }
    for p in footage_clips(footage):
        clip = TrainClip(id=f"{p.parent.name}/{p.name}", path=p)
        fr = np.asarray(load_clip(clip, resolution, OUT / "cache", frames).frames)
        cut = int(len(fr) * 0.7)
        if p.stem in HELD:
            out["held"].append((p.stem, fr, 8))
            out["held_head"].append((p.stem, fr[:cut], 3))
            out["held_tail"].append((p.stem, fr[cut:], 8))
        else:
            out["train"].append((p.stem, fr[:cut], 3))
            out["select"].append((p.stem, fr[cut:], 8))
    return out


def run_set(name: str, clips: list[tuple[str, np.ndarray, int]]) -> list[dict[str, Any]]:
    folder = CACHE / name
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for clip_name, fr, stride in clips:
        for k, shot in enumerate(split_shots(fr)):
            for t in range(1, len(shot) - 1, stride):
                t0 = time.time()
                cands, stacked, truth = candidates(shot, t)
                np.savez(
                    folder / f"{clip_name}_{k}_{t:03d}.npz",
                    parts=stacked.astype(np.float16),
                    cands=np.stack([cands[c] for c in CANDIDATES]).astype(np.float16),
                    truth=truth.astype(np.float16),
                )
                row = {"set": name, "clip": clip_name, "shot": k, "t": t} | scores(cands, truth)
                rows.append(row)
                print(
                    f"{name} {clip_name}#{k} t={t} flow {row['flow']:.2f} oracle8 all "
                    f"{row['oracle_all_8'] - row['flow']:+.2f} syntheses {row['oracle_syntheses_8'] - row['flow']:+.2f} "
                    f"({time.time() - t0:.1f}s)",
                    flush=True,
                )
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    """Markdown: mean PSNR per clip (and over the set) of each candidate and oracle, as dB over the flow path."""
    keys = [*CANDIDATES[1:], *(f"oracle_{g}_{s}" for g in ("warps", "syntheses", "all") for s in BLOCKS)]
    lines = []
    for set_name in dict.fromkeys(r["set"] for r in rows):
        sub = [r for r in rows if r["set"] == set_name]
        groups = {c: [r for r in sub if r["clip"] == c] for c in dict.fromkeys(r["clip"] for r in sub)}
        groups["mean"] = sub
        lines.append(f"\n{set_name}: | clip | n | flow | " + " | ".join(keys) + " |")
        for clip_name, rs in groups.items():
            base = float(np.mean([r["flow"] for r in rs]))
            gains = [float(np.mean([r[k] for r in rs])) - base for k in keys]
            lines.append(
                f"| {clip_name} | {len(rs)} | {base:.2f} | " + " | ".join(f"{g:+.2f}" for g in gains) + " |"
            )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--footage", type=Path, default=Path("../shared/footage"))
    ap.add_argument("--frames", type=int, default=90)
    ap.add_argument("--resolution", type=int, default=256)
    ap.add_argument("--sets", default="train,held,select,held_head,held_tail")
    args = ap.parse_args()
    import cv2

    cv2.setNumThreads(1)
    all_sets = sets(args.footage, args.frames, args.resolution)
    rows: list[dict[str, Any]] = []
    for name in args.sets.split(","):
        rows += run_set(name, all_sets[name])
        print(table([r for r in rows if r["set"] == name]), flush=True)
    print(table(rows))
    write_json(
        OUT / "interpolate_fusion_study.json",
        {"machine": machine(), "args": vars(args) | {"footage": str(args.footage)}, "rows": rows},
    )


if __name__ == "__main__":
    main()
