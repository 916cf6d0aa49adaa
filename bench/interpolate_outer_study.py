"""Do the outer frames say which side is right? (issue 10, 3a; the eighth session, `outer`)

    .venv/bin/python bench/interpolate_outer_study.py --footage ../shared/footage            # cache + oracle
    .venv/bin/python bench/interpolate_outer_study.py --rules                               # hand rules only

The `ifuse` oracle choosing per 8x8 block between the flow path and its two one-sided warps (warp0: frame t-1
warped to t, warp1: frame t+1) is +1.40 dB on the training clips, but nothing a net saw said which side is
right. Here each side is checked against the frame beyond it:
- `outer0`: frame t-3 carried to t along side 0's trajectory: the flow path's reversed flow t -> t-1 (`ft0`,
  recomputed here with the reversal steps of `flow.interpolate_reverse`) composed with the flow t-1 -> t-3
  (`PairFlows.f0m`), both at the frame's size; `outer1` likewise t+3 via `ft1` and `f12`;
- `ext0` / `ext1`: frame t-3 / t+3 sampled where the reversed flow extrapolated linearly puts the pixel of
  frame t (3 ft0, 3 ft1): the motion of frame t's pixel carried on, not that of what warp0 shows;
- cues: `c0 = mean_abs(warp0 - outer0)` (per pixel, mean over RGB; blurred where used) and likewise `c1`,
  `e0`, `e1` for the extrapolated ones; missing where t-3 or t+3 is outside the shot (`has_prev`, `has_next`).
Candidates, the flow path's stacked parts (the refiner's 17 channels) and the truth of each triplet of the
`ifuse` sets (`interpolate_fusion_study.sets()`: 256p, shots split, first 90 frames) are cached (float16)
under bench/out/outer_cache/<set>/ for bench/interpolate_outer.py. Reported, as dB over the flow path per set:
- the oracle per pixel and per 8x8 block over {flow, warp0, warp1} (the `ifuse` figure), {flow, warp0,
  warp1, outer0, outer1}, the same with ext0 / ext1, and all;
- which side the cue picks: over 8x8 blocks, the share (weighted by |SSE(warp0) - SSE(warp1)|) where the side
  with the smaller mean cue is the side with the smaller error, beside the same for the visibility;
- hand rules (no learning): the flow path's blend of warp0 and warp1, its weights b_i = (1/2) (vis_i +
  1e-3)^0.3 times exp(-cue_i / sigma), cue blurred over k x k; sigma and k chosen on `select`; and
  (`full_rule_*`) the mean of such a rule's frame and the full-size-flow synthesis `full` (as
  `flow.BEST_QUALITY` averages the flow path and `full`; `flow_full` is that mean without the rule).
The report goes to bench/out/interpolate_outer_study.json.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import OUT, machine, write_json
from interpolate_fusion_study import block_mse, psnr_of, sets, window

from engine import flow
from engine.heads.interpolate import _stack_parts
from engine.shots import split_shots

CACHE = OUT / "outer_cache"
SETS = ("train", "select", "held", "held_head", "held_tail")
CANDIDATES = ("flow", "full", "warp0", "warp1", "outer0", "outer1", "ext0", "ext1")
ORACLES = {
    "warps": ("flow", "warp0", "warp1"),
    "outer": ("flow", "warp0", "warp1", "outer0", "outer1"),
    "ext": ("flow", "warp0", "warp1", "ext0", "ext1"),
    "all": CANDIDATES,
}
SIGMAS = (0.01, 0.03, 0.1, 0.2, 0.3, 0.5, 1.0)
BLURS = (1, 5, 9, 17)
MISSING = 1.0  # cue where the outer frame is outside the shot (larger than any mean colour difference)


def reversed_flows(
    f0: np.ndarray, f1: np.ndarray, pf: flow.PairFlows, config: flow.FlowConfig
) -> tuple[np.ndarray, np.ndarray]:
    """The flow path's reversed flows t -> 0 and t -> 1 at t = 0.5 at the frame's size, as
    `flow.interpolate_reverse` makes them (same steps; its frame is checked against the flow path's)."""
    h, w = f0.shape[:2]
    t = 0.5
    fh, fw = pf.f01.shape[:2]
    s0, s1 = flow.resize_frame(f0, fh, fw), flow.resize_frame(f1, fh, fw)
    m0, m1 = flow.motion_to(pf, t, config.quadratic)
    cs = config.consistency_scale
    z0 = (
        flow._softmax_weight(s0, s1, pf.f01, config.softmax_alpha) * flow.consistency(pf.f01, pf.f10, cs)
        + 1e-4
    )
    z1 = (
        flow._softmax_weight(s1, s0, pf.f10, config.softmax_alpha) * flow.consistency(pf.f10, pf.f01, cs)
        + 1e-4
    )
    a0, n0 = flow.forward_splat(-m0, m0, z0)
    a1, n1 = flow.forward_splat(-m1, m1, z1)
    ft0 = a0 / np.maximum(n0, 1e-6)[..., None]
    ft1 = a1 / np.maximum(n1, 1e-6)[..., None]
    h0, h1 = n0 < 1e-2, n1 < 1e-2
    both = (~h0) & (~h1)
    if (h0 & ~h1).any():
        ft0[h0 & ~h1] = -ft1[h0 & ~h1]
    if (h1 & ~h0).any():
        ft1[h1 & ~h0] = -ft0[h1 & ~h0]
    if not both.all():
        ft0 = flow._fill(ft0, ~(h0 & h1))
        ft1 = flow._fill(ft1, ~(h0 & h1))
    if config.static_tolerance > 0:
        keep = 1 - flow.static_share(s0, s1, ft0, ft1, config.static_tolerance)
        ft0, ft1 = ft0 * keep[..., None], ft1 * keep[..., None]
    return flow.resize_flow(ft0, h, w), flow.resize_flow(ft1, h, w)


def warp(image: np.ndarray, displacement: np.ndarray) -> np.ndarray:
    return np.clip(flow.backward_warp(image, displacement, "cubic"), 0, 1).astype(np.float32)


def candidates(shot: np.ndarray, t: int) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray, bool, bool]:
    """Candidates of frame t of `shot`, the flow path's stacked parts (17 channels), the truth, and whether
    frames t-3 and t+3 are in the shot. Where one is not, its outer / ext candidates are the one-sided warp."""
    f0, f1, truth, prev, nxt = window(shot, t)
    h, w = f0.shape[:2]
    rec = flow.RECOMMENDED
    pf = flow.pair_flows(f0, f1, prev, nxt, rec)
    parts = flow.interpolate_reverse(f0, f1, pf, 0.5, rec)
    ft0, ft1 = reversed_flows(f0, f1, pf, rec)
    w0, w1 = warp(f0, ft0), warp(f1, ft1)
    assert np.abs(w0 - parts.warped0).max() < 1e-4 and np.abs(w1 - parts.warped1).max() < 1e-4
    full_cfg = flow.FlowConfig(downscale=1.0, max_work_pixels=rec.max_work_pixels)
    full = flow.interpolate_reverse(f0, f1, flow.pair_flows(f0, f1, prev, nxt, full_cfg), 0.5, full_cfg).frame
    big = flow.full_size(pf, h, w)
    out = {"flow": parts.frame, "full": full, "warp0": w0, "warp1": w1}
    for side, frame, ft, far, near in (("0", prev, ft0, big.f0m, w0), ("1", nxt, ft1, big.f12, w1)):
        if frame is None or far is None:
            out["outer" + side] = out["ext" + side] = near
            continue
        out["outer" + side] = warp(frame, ft + flow.backward_warp(far, ft))  # along what the warp shows
        out["ext" + side] = warp(frame, 3 * ft)  # along frame t's own motion, carried on
    return (
        {k: v.astype(np.float32) for k, v in out.items()},
        _stack_parts(parts),
        truth,
        prev is not None,
        nxt is not None,
    )


def cue(a: np.ndarray, b: np.ndarray, present: bool, k: int) -> np.ndarray:
    """Mean absolute RGB difference of two (H, W, 3) frames, box-blurred over k x k; MISSING where absent."""
    if not present:
        return np.full(a.shape[:2], MISSING, np.float32)
    d = np.mean(np.abs(a.astype(np.float32) - b.astype(np.float32)), -1)
    return d if k == 1 else cv2.blur(d, (k, k))


def hand_rule(
    cands: dict[str, np.ndarray], vis: np.ndarray, c0: np.ndarray, c1: np.ndarray, sigma: float
) -> np.ndarray:
    """The flow path's blend of warp0 / warp1 with each weight times exp(-cue / sigma), applied as the
    change of the blend to the flow path's own frame (sigma -> inf: the flow path exactly)."""
    w0, w1 = cands["warp0"].astype(np.float32), cands["warp1"].astype(np.float32)
    b0 = 0.5 * (vis[..., 0].astype(np.float32) + 1e-3) ** 0.3
    b1 = 0.5 * (vis[..., 1].astype(np.float32) + 1e-3) ** 0.3
    old = (b0[..., None] * w0 + b1[..., None] * w1) / (b0 + b1)[..., None]
    lo = np.minimum(c0, c1)  # only the difference of the cues matters; keeps exp() from underflowing
    g0 = b0 * np.exp(-(c0 - lo) / sigma)
    g1 = b1 * np.exp(-(c1 - lo) / sigma)
    new = (g0[..., None] * w0 + g1[..., None] * w1) / (g0 + g1)[..., None]
    return np.clip(cands["flow"].astype(np.float32) + new - old, 0, 1)


def side_share(e0: np.ndarray, e1: np.ndarray, s0: np.ndarray, s1: np.ndarray) -> tuple[float, float]:
    """Over 8x8 blocks: weight |E0 - E1| summed where the side with the smaller score (s) has the smaller
    error (E, per-pixel squared error), and that weight in all (ties in s count half)."""
    d = block_mse(e1, 8) - block_mse(e0, 8)  # > 0: side 0 better
    s = block_mse(s1, 8) - block_mse(s0, 8)  # > 0: side 0 has the smaller score
    right = np.where(s == 0, 0.5, (np.sign(s) == np.sign(d)).astype(np.float64))
    return float((np.abs(d) * right).sum()), float(np.abs(d).sum())


def scores(z: dict[str, Any]) -> dict[str, float]:
    """One triplet's PSNRs: candidates, oracles, hand rules, and the side shares."""
    cands, truth, vis = z["cands"], z["truth"].astype(np.float64), z["parts"][..., 9:11]
    errs = {k: np.mean((v.astype(np.float64) - truth) ** 2, -1) for k, v in cands.items()}
    row: dict[str, float] = {k: psnr_of(float(e.mean())) for k, e in errs.items()}
    row["flow_full"] = psnr_of(float(np.mean(((cands["flow"] + cands["full"]) / 2 - truth) ** 2)))
    for label, names in ORACLES.items():
        stack = np.stack([errs[n] for n in names])
        for size in (1, 8):
            row[f"oracle_{label}_{size}"] = psnr_of(
                float(np.stack([block_mse(e, size) for e in stack]).min(0).sum() / stack[0].size)
            )
    has = (bool(z["has_prev"]), bool(z["has_next"]))
    for kind in ("outer", "ext"):
        for k in BLURS:
            c0 = cue(cands["warp0"], cands[kind + "0"], has[0], k)
            c1 = cue(cands["warp1"], cands[kind + "1"], has[1], k)
            if has[0] != has[1]:  # one side's cue missing: no evidence either way
                c0 = c1 = np.zeros_like(c0)
            for sigma in SIGMAS:
                out = hand_rule(cands, vis, c0, c1, sigma)
                row[f"rule_{kind}_k{k}_s{sigma:g}"] = psnr_of(float(np.mean(np.mean((out - truth) ** 2, -1))))
                if kind == "outer" and k in (5, 9) and sigma in (0.1, 0.2):  # a classical ensemble beside
                    mix = (out + cands["full"]) / 2
                    row[f"full_rule_{kind}_k{k}_s{sigma:g}"] = psnr_of(float(np.mean((mix - truth) ** 2)))
            if k == 5 and all(has):
                right, total = side_share(errs["warp0"], errs["warp1"], c0, c1)
                row[f"side_{kind}"], row["side_total"] = right, total
    if all(has):
        v = vis.astype(np.float32)
        row["side_vis"] = side_share(errs["warp0"], errs["warp1"], -v[..., 0], -v[..., 1])[0]
    return row


def compute(name: str, clips: list[tuple[str, np.ndarray, int]]) -> None:
    folder = CACHE / name
    folder.mkdir(parents=True, exist_ok=True)
    for clip_name, fr, stride in clips:
        for k, shot in enumerate(split_shots(fr)):
            for t in range(1, len(shot) - 1, stride):
                t0 = time.time()
                cands, stacked, truth, has_prev, has_next = candidates(shot, t)
                np.savez(
                    folder / f"{clip_name}_{k}_{t:03d}.npz",
                    parts=stacked.astype(np.float16),
                    cands=np.stack([cands[c] for c in CANDIDATES]).astype(np.float16),
                    truth=truth.astype(np.float16),
                    has_prev=has_prev,
                    has_next=has_next,
                )
                print(f"{name} {clip_name}#{k} t={t} ({time.time() - t0:.1f}s)", flush=True)


def load(path: Path) -> dict[str, Any]:
    z = np.load(path)
    return {
        "cands": {c: z["cands"][i].astype(np.float32) for i, c in enumerate(CANDIDATES)},
        "parts": z["parts"].astype(np.float32),
        "truth": z["truth"].astype(np.float32),
        "has_prev": bool(z["has_prev"]),
        "has_next": bool(z["has_next"]),
    }


def summary(rows: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Per set: mean dB over the flow path of every key (flow: its mean PSNR), and the side shares."""
    out: dict[str, dict[str, float]] = {}
    for set_name in SETS:
        sub = [r for r in rows if r["set"] == set_name]
        if not sub:
            continue
        base = float(np.mean([r["flow"] for r in sub]))
        keys = [
            k for k in sub[0] if k not in ("set", "clip", "shot", "t", "flow") and not k.startswith("side")
        ]
        res = {"n": float(len(sub)), "flow": base} | {
            k: float(np.mean([r[k] for r in sub])) - base for k in keys
        }
        both = [r for r in sub if "side_total" in r]
        total = sum(r["side_total"] for r in both)
        for key in ("side_outer", "side_ext", "side_vis"):
            res[key] = sum(r[key] for r in both) / max(total, 1e-12)
        out[set_name] = res
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--footage", type=Path, default=Path("../shared/footage"))
    ap.add_argument("--frames", type=int, default=90)
    ap.add_argument("--resolution", type=int, default=256)
    ap.add_argument("--rules", action="store_true", help="score the cache only (no recomputation)")
    args = ap.parse_args()
    cv2.setNumThreads(1)
    if not args.rules:
        all_sets = sets(args.footage, args.frames, args.resolution)
        for name in SETS:
            compute(name, all_sets[name])
    rows: list[dict[str, Any]] = []
    for name in SETS:
        for p in sorted((CACHE / name).glob("*.npz")):
            rows.append({"set": name, "clip": p.stem.rsplit("_", 2)[0]} | scores(load(p)))
        print(f"{name}: {sum(r['set'] == name for r in rows)} triplets scored", flush=True)
    summ = summary(rows)
    rules = [k for k in summ["select"] if k.startswith("rule_")]
    chosen = {
        kind: max((k for k in rules if k.startswith(f"rule_{kind}_")), key=lambda k: summ["select"][k])
        for kind in ("outer", "ext")
    }
    for set_name, res in summ.items():
        print(set_name, {k: round(v, 3) for k, v in res.items()})
    print(
        "chosen on select:",
        chosen,
        {s: {k: round(r[v], 3) for k, v in chosen.items()} for s, r in summ.items()},
    )
    write_json(
        OUT / "interpolate_outer_study.json",
        {
            "machine": machine(),
            "args": vars(args) | {"footage": str(args.footage)},
            "summary": summ,
            "chosen_on_select": chosen,
            "rows": rows,
        },
    )


if __name__ == "__main__":
    main()
