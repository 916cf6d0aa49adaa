"""Can per-bucket linear filters fitted in closed form be the interpolate head's learned part? (issue 10, 3a)

    .venv/bin/python bench/interpolate_filters_study.py [--patch 5] [--ridge 1e-3]

The refiner and the fusion nets learn by gradient steps, and a CPU show run gives them too few
(docs/benchmarks.md, "Learned parts that learn"). A filter bank fitted by least squares needs no steps:
each pixel of the flow path's frame falls in a bucket of its local structure (gradient angle, strength,
coherence of the frame's luma, and how far the two warped frames disagree there), and each bucket holds a
linear filter from a patch of the flow path's frame and of both warped frames (as differences from it) to
the correction the truth needs. Fitting is one pass of X^T X sums over the training pixels and a solve per
bucket: seconds, not steps.

It reads the triplets bench/interpolate_fusion_study.py caches (bench/out/fusion_cache/<set>/: the flow
path's 17 parts and the truth, 256p), fits on `train` (the five training clips' first 70%) and scores on
`select`, `held` (`clips` protocol) and `held_tail` after fitting on train + held_head (`tails`).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import OUT, machine, write_json

CACHE = OUT / "fusion_cache"
LUMA = np.array([0.2126, 0.7152, 0.0722], np.float32)


def load(name: str) -> list[tuple[str, np.ndarray, np.ndarray]]:
    out = []
    for p in sorted((CACHE / name).glob("*.npz")):
        z = np.load(p)
        out.append((p.stem, z["parts"].astype(np.float32), z["truth"].astype(np.float32)))
    return out


def _box(a: np.ndarray, r: int) -> np.ndarray:
    import cv2

    return cv2.blur(a, (2 * r + 1, 2 * r + 1), borderType=cv2.BORDER_REFLECT)


def buckets(base: np.ndarray, w0: np.ndarray, w1: np.ndarray, args: argparse.Namespace) -> np.ndarray:
    """Bucket index per pixel (H, W) from the flow path's luma structure and the warps' disagreement."""
    import cv2

    y = base @ LUMA
    gx = cv2.Sobel(y, cv2.CV_32F, 1, 0, ksize=3) / 8
    gy = cv2.Sobel(y, cv2.CV_32F, 0, 1, ksize=3) / 8
    jxx, jyy, jxy = _box(gx * gx, 2), _box(gy * gy, 2), _box(gx * gy, 2)
    tr = jxx + jyy
    root = np.sqrt(np.maximum((jxx - jyy) ** 2 + 4 * jxy**2, 0))
    l1, l2 = (tr + root) / 2, (tr - root) / 2
    angle = (np.arctan2(2 * jxy, jxx - jyy) / 2) % np.pi
    strength = np.sqrt(np.maximum(l1, 0))
    coherence = (np.sqrt(np.maximum(l1, 0)) - np.sqrt(np.maximum(l2, 0))) / (
        np.sqrt(np.maximum(l1, 0)) + np.sqrt(np.maximum(l2, 0)) + 1e-6
    )
    dis = _box(np.abs((w0 - w1) @ LUMA), 1)
    a = np.minimum((angle / np.pi * args.angles).astype(np.int64), args.angles - 1)
    s = np.searchsorted(np.array(args.strength_edges, np.float32), strength)
    c = np.searchsorted(np.array(args.coherence_edges, np.float32), coherence)
    d = np.searchsorted(np.array(args.disagree_edges, np.float32), dis)
    ns, nc = len(args.strength_edges) + 1, len(args.coherence_edges) + 1
    nd = len(args.disagree_edges) + 1
    return (((d * ns + s) * nc + c) * args.angles + a).reshape(-1), ns * nc * nd * args.angles


def _patches(img: np.ndarray, r: int) -> np.ndarray:
    """(H*W, (2r+1)^2) neighbourhood of each pixel of a (H, W) map, edges reflected."""
    p = np.pad(img, r, mode="reflect")
    h, w = img.shape
    cols = [p[dy : dy + h, dx : dx + w].reshape(-1) for dy in range(2 * r + 1) for dx in range(2 * r + 1)]
    return np.stack(cols, 1)


def features(parts: np.ndarray, ch: int, args: argparse.Namespace, swap: bool = False) -> np.ndarray:
    base, w0, w1 = parts[..., ch], parts[..., 3 + ch], parts[..., 6 + ch]
    if swap:
        w0, w1 = w1, w0
    v0, v1 = parts[..., 9], parts[..., 10]
    if swap:
        v0, v1 = v1, v0
    cols = [
        _patches(base, args.patch // 2),
        _patches(w0 - base, args.wpatch // 2),
        _patches(w1 - base, args.wpatch // 2),
    ]
    extra = [((v0 - v1) * (w0 - w1)).reshape(-1, 1), np.ones((base.size, 1), np.float32)]
    return np.concatenate([*cols, *extra], 1).astype(np.float32)


def fit(triplets: list[tuple[str, np.ndarray, np.ndarray]], args: argparse.Namespace) -> np.ndarray:
    rng = np.random.default_rng(args.seed)
    xtx = xty = None
    nb = 0
    for _, parts, truth in triplets:
        # Weighted by 1/MSE of the flow path on the triplet, the sums approach the mean PSNR gain (what is
        # scored) instead of the total squared error, which the hardest frames would own.
        weight = 1.0 / max(float(np.mean((parts[..., :3] - truth) ** 2)), 1e-6) if args.per_triplet else 1.0
        for swap in (False, True):
            bucket, nb = buckets(parts[..., :3], parts[..., 3:6], parts[..., 6:9], args)
            keep = rng.random(bucket.size) < args.sample
            for ch in range(3):
                x = features(parts, ch, args, swap)[keep].astype(np.float64)
                t = (truth[..., ch] - parts[..., ch]).reshape(-1)[keep].astype(np.float64)
                b = bucket[keep]
                if xtx is None:
                    xtx = np.zeros((nb, x.shape[1], x.shape[1]))
                    xty = np.zeros((nb, x.shape[1]))
                    count = np.zeros(nb)
                order = np.argsort(b, kind="stable")
                b, x, t = b[order], x[order], t[order]
                edges = np.searchsorted(b, np.arange(nb + 1))
                for k in range(nb):
                    lo, hi = edges[k], edges[k + 1]
                    if hi > lo:
                        xtx[k] += weight * (x[lo:hi].T @ x[lo:hi])
                        xty[k] += weight * (x[lo:hi].T @ t[lo:hi])
                        count[k] += hi - lo
    assert xtx is not None and xty is not None
    filters = np.zeros(xty.shape)
    for k in range(nb):
        n = xtx[k, -1, -1]
        if count[k] < args.min_samples:
            continue
        filters[k] = np.linalg.solve(xtx[k] + args.ridge * n * np.eye(xtx.shape[1]), xty[k])
    return filters


def apply(parts: np.ndarray, filters: np.ndarray, args: argparse.Namespace) -> np.ndarray:
    bucket, _ = buckets(parts[..., :3], parts[..., 3:6], parts[..., 6:9], args)
    out = parts[..., :3].copy()
    for ch in range(3):
        x = features(parts, ch, args)
        xs = features(parts, ch, args, swap=True)
        corr = 0.5 * (np.einsum("nf,nf->n", x, filters[bucket]) + np.einsum("nf,nf->n", xs, filters[bucket]))
        out[..., ch] += corr.reshape(out.shape[:2]) * args.gain
    return np.clip(out, 0, 1)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(1 / max(float(np.mean((a - b) ** 2)), 1e-12)))


def score(
    triplets: list[tuple[str, np.ndarray, np.ndarray]], filters: np.ndarray, args: argparse.Namespace
) -> dict:
    rows = []
    for name, parts, truth in triplets:
        base = psnr(parts[..., :3], truth)
        rows.append({"triplet": name, "flow": base, "filtered": psnr(apply(parts, filters, args), truth)})
    gain = float(np.mean([r["filtered"] - r["flow"] for r in rows]))
    by_clip: dict[str, list[float]] = {}
    for r in rows:
        by_clip.setdefault(r["triplet"].rsplit("_", 2)[0], []).append(r["filtered"] - r["flow"])
    return {
        "gain": gain,
        "n": len(rows),
        "by_clip": {k: float(np.mean(v)) for k, v in by_clip.items()},
        "rows": rows,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--patch", type=int, default=5)
    ap.add_argument("--wpatch", type=int, default=3)
    ap.add_argument("--angles", type=int, default=8)
    ap.add_argument("--strength-edges", type=float, nargs="*", default=[0.01, 0.04])
    ap.add_argument("--coherence-edges", type=float, nargs="*", default=[0.5])
    ap.add_argument("--disagree-edges", type=float, nargs="*", default=[0.01, 0.05])
    ap.add_argument("--ridge", type=float, default=1e-3)
    ap.add_argument("--min-samples", type=float, default=200)
    ap.add_argument("--sample", type=float, default=0.25)
    ap.add_argument("--gain", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--per-triplet", action="store_true")
    ap.add_argument("--protocols", default="clips,tails")
    args = ap.parse_args()
    import cv2

    cv2.setNumThreads(1)
    report: dict = {"machine": machine(), "args": vars(args)}
    train = load("train")
    for protocol in args.protocols.split(","):
        t0 = time.time()
        fit_set = train if protocol == "clips" else train + load("held_head")
        filters = fit(fit_set, args)
        fitted = time.time() - t0
        sets = ("select", "held") if protocol == "clips" else ("held_tail",)
        res = {s: score(load(s), filters, args) for s in sets}
        res["train_sample"] = score(fit_set[:: max(1, len(fit_set) // 12)], filters, args)
        report[protocol] = {"fit_s": fitted, **res}
        print(
            protocol,
            f"fit {fitted:.0f}s",
            " ".join(f"{s} {r['gain']:+.3f} ({r['n']}) {r['by_clip']}" for s, r in res.items()),
            flush=True,
        )
    write_json(OUT / "interpolate_filters_study.json", report)


if __name__ == "__main__":
    main()
