"""A learned fusion of several classical syntheses of frame t: softmax weights per pixel over the candidates
of bench/interpolate_fusion_study.py (which must have run first: it caches them), trained a fixed number of
steps on one thread. (issue 10, point 3a)

    .venv/bin/python bench/interpolate_fusion.py --protocol clips --steps 800 --every 400 --seed 0

The net sees the flow path, every other candidate as its difference from the flow path, their disagreement
and the flow path's occlusion cues (the refiner's), and predicts one logit per candidate (and, with
`--residual`, a small colour residual). A fixed bias of `--bias` on the flow path's logit and a zero-started
last conv make a fresh net the flow path up to the other candidates' e^-bias share, so its first steps
cannot undo it. Training: random 96-pixel crops of the cached whole-frame triplets, batches of 8, half with
the outer frames swapped (warp0 <-> warp1, the parts by the refiner's SWAP), half mirrored; L1 loss.

Protocols (sets of the study's cache):
- `clips`: trains on `train` (the five training clips' first 70%), scores `select` (their last 30%: where
  settings are chosen) and `held` (the two held-out clips);
- `tails`: trains on `train` + `held_head` (every clip's first 70%), scores `select` + `held_tail`.
Prints the mean PSNR over the scored triplets of the flow path and the fusion, per set, every `--every` steps,
and writes bench/out/interpolate_fusion_<protocol>_<tag>_seed<seed>.json.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import OUT, machine, write_json
from interpolate_fusion_study import CACHE, CANDIDATES, SYNTHESES

from engine.heads.interpolate_net import SWAP
from engine.metrics import psnr
from engine.nets import ResidualCNN

DIFF_GAIN = 4.0
RESIDUAL_SCALE = 0.05
# "core": the flow path, the syntheses closest to it (half / full size, linear motion, no static check) and
# the one-sided warps.
GROUPS = {
    "all": CANDIDATES,
    "syntheses": SYNTHESES,
    "core": ("flow", "half", "full", "linear", "nostatic", "warp0", "warp1"),
}

Triplet = tuple[np.ndarray, np.ndarray, np.ndarray]  # parts (H, W, 17), candidates (K, H, W, 3), truth


def load_set(name: str, keep: list[int], ensemble: bool = False) -> list[Triplet]:
    """The cached triplets of a set, candidates `keep`; with `ensemble`, the fixed mean of the flow path and
    `full` goes first (the base the fusion starts from and is scored against)."""
    out = []
    for p in sorted((CACHE / name).glob("*.npz")):
        z = np.load(p)
        cands = z["cands"][keep]
        if ensemble:
            mean = (z["cands"][0].astype(np.float32) + z["cands"][CANDIDATES.index("full")]) / 2
            cands = np.concatenate([mean[None].astype(np.float16), cands])
        out.append((z["parts"], cands, z["truth"]))
    if not out:
        raise SystemExit(f"no cached triplets in {CACHE / name}: run bench/interpolate_fusion_study.py first")
    return out


class Fusion(nn.Module):
    """(N, 17, H, W) parts and (N, K, 3, H, W) candidates (index 0: the flow path) -> (N, 3, H, W)."""

    def __init__(
        self,
        k: int,
        residual: bool,
        bias: float,
        learn_prior: bool = False,
        bound: float = 0.0,
        channels: int = 32,
        depth: int = 5,
    ) -> None:
        super().__init__()
        self.k = k
        self.residual = residual
        self.bound = bound
        n_in = 3 + 3 * (k - 1) + 2 + 8
        dil = [1, 2, 4, 2, 1, 1, 1][: depth - 1]
        self.body = ResidualCNN(
            n_in, k + (3 if residual else 0), channels=channels, depth=depth, dilations=dil
        )
        prior = torch.zeros(1, k, 1, 1)
        prior[0, 0] = bias
        self.prior = nn.Parameter(prior, requires_grad=learn_prior)

    def features(self, parts: torch.Tensor, cands: torch.Tensor) -> torch.Tensor:
        base = cands[:, 0]
        diffs = (cands[:, 1:] - base[:, None]) * DIFF_GAIN  # (N, K-1, 3, H, W)
        spread = diffs.abs().mean(2)
        vis, fb, photo, motion = parts[:, 9:11], parts[:, 11:13], parts[:, 13:15], parts[:, 15:17]
        return torch.cat(
            [
                base - 0.5,
                diffs.flatten(1, 2),
                spread.mean(1, keepdim=True),
                spread.amax(1, keepdim=True),
                vis,
                torch.log1p(fb.clamp(min=0)),
                photo * DIFF_GAIN,
                torch.log1p(motion.clamp(min=0)),
            ],
            1,
        )

    def weights(self, parts: torch.Tensor, cands: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-pixel candidate weights (N, K, H, W) and the net's raw output."""
        out = self.body(self.features(parts, cands))
        logits = out[:, : self.k]
        if self.bound > 0:  # unbounded logits saturated the softmax: one candidate, no gradient, frozen
            logits = self.bound * torch.tanh(logits / self.bound)
        return torch.softmax(logits + self.prior, 1), out

    def forward(self, parts: torch.Tensor, cands: torch.Tensor) -> torch.Tensor:
        w, out = self.weights(parts, cands)
        fused = (w[:, :, None] * cands).sum(1)
        if self.residual:
            fused = fused + RESIDUAL_SCALE * out[:, self.k :]
        return fused


def swap_index(names: tuple[str, ...]) -> list[int]:
    """Candidate order with the outer frames swapped (warp0 <-> warp1; the syntheses are symmetric)."""
    idx = list(range(len(names)))
    if "warp0" in names and "warp1" in names:
        a, b = names.index("warp0"), names.index("warp1")
        idx[a], idx[b] = b, a
    return idx


def batch(
    pool: list[Triplet], rng: np.random.Generator, crop: int, swap: list[int]
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    ps, cs, ts = [], [], []
    for i in rng.integers(0, len(pool), 8):
        parts, cands, truth = pool[int(i)]
        y0 = int(rng.integers(0, parts.shape[0] - crop + 1))
        x0 = int(rng.integers(0, parts.shape[1] - crop + 1))
        p = parts[y0 : y0 + crop, x0 : x0 + crop]
        c = cands[:, y0 : y0 + crop, x0 : x0 + crop]
        t = truth[y0 : y0 + crop, x0 : x0 + crop]
        if rng.random() < 0.5:
            p, c = p[..., SWAP], c[swap]
        if rng.random() < 0.5:
            p, c, t = p[:, ::-1], c[:, :, ::-1], t[:, ::-1]
        ps.append(p)
        cs.append(c)
        ts.append(t)
    return as_batch(ps, cs, ts)


def as_batch(
    parts: list[np.ndarray], cands: list[np.ndarray], truths: list[np.ndarray]
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Crops (H, W, C parts; K, H, W, 3 candidates; H, W, 3 truth) as the net's channels-first float batches."""

    def tensor(xs: list[np.ndarray], axes: tuple[int, ...]) -> torch.Tensor:
        stacked = np.stack([x.transpose(axes) for x in xs])
        return torch.from_numpy(np.ascontiguousarray(stacked).astype(np.float32))

    return tensor(parts, (2, 0, 1)), tensor(cands, (0, 3, 1, 2)), tensor(truths, (2, 0, 1))


def score(net: Fusion, test: list[Triplet]) -> tuple[float, float, list[float], list[float]]:
    """Mean PSNR of the flow path and the fusion, each triplet's gain, and each candidate's mean weight."""
    base, fused, share = [], [], []
    with torch.no_grad():
        for parts, cands, truth in test:
            p = torch.from_numpy(parts.astype(np.float32).transpose(2, 0, 1))[None]
            c = torch.from_numpy(cands.astype(np.float32).transpose(0, 3, 1, 2))[None]
            share.append(net.weights(p, c)[0][0].mean((1, 2)).numpy())
            out = net(p, c)[0].clamp(0, 1).numpy().transpose(1, 2, 0)
            y = truth.astype(np.float32)
            base.append(psnr(cands[0].astype(np.float32), y))
            fused.append(psnr(out, y))
    gains = [f - b for f, b in zip(fused, base, strict=True)]
    return float(np.mean(base)), float(np.mean(fused)), gains, np.mean(share, 0).tolist()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--protocol", choices=("clips", "tails"), default="clips")
    ap.add_argument("--steps", type=int, default=800)
    ap.add_argument("--every", type=int, default=400)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--bias", type=float, default=6.0, help="fixed logit bias of the flow path")
    ap.add_argument(
        "--prior-lr",
        type=float,
        default=0.0,
        help="learning rate of the per-candidate logit bias (0: fixed at --bias on the flow path, 0 elsewhere)",
    )
    ap.add_argument("--bound", type=float, default=0.0, help="logits bounded to +-this by tanh (0: not)")
    ap.add_argument(
        "--ensemble",
        action="store_true",
        help="start from (and score against) the fixed mean of the flow path and `full`, not the flow path",
    )
    ap.add_argument("--group", choices=tuple(GROUPS), default="all")
    ap.add_argument("--residual", action="store_true")
    ap.add_argument("--crop", type=int, default=96)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    torch.set_num_threads(1)
    names = GROUPS[args.group]
    keep = [CANDIDATES.index(n) for n in names]
    if args.ensemble:
        names = ("flow+full", *names)
    train_sets = ["train"] + (["held_head"] if args.protocol == "tails" else [])
    tests = {"select": ["select"], "held": ["held"]} if args.protocol == "clips" else {}
    if args.protocol == "tails":
        tests = {"tails": ["select", "held_tail"]}
    pool = [t for s in train_sets for t in load_set(s, keep, args.ensemble)]
    test = {k: [t for s in v for t in load_set(s, keep, args.ensemble)] for k, v in tests.items()}
    net = Fusion(len(names), args.residual, args.bias, learn_prior=args.prior_lr > 0, bound=args.bound)
    groups: list[dict[str, Any]] = [{"params": net.body.parameters(), "lr": args.lr}]
    if args.prior_lr > 0:
        groups.append({"params": [net.prior], "lr": args.prior_lr})
    opt = torch.optim.Adam(groups)
    rng = np.random.default_rng(args.seed)
    swap = swap_index(names)
    tag = f"{args.group}{'_res' if args.residual else ''}_b{args.bias:g}_lr{args.lr:g}"
    tag += f"_prior{args.prior_lr:g}" if args.prior_lr > 0 else ""
    tag += f"_bound{args.bound:g}" if args.bound > 0 else ""
    tag += "_ensemble" if args.ensemble else ""
    print(f"{tag} {args.protocol} seed {args.seed}: {len(pool)} training triplets, "
          + ", ".join(f"{k} {len(v)}" for k, v in test.items()), flush=True)  # fmt: skip
    rows: list[dict[str, Any]] = []
    t0 = time.time()
    for step in range(0, args.steps + 1):
        if step:
            p, c, y = batch(pool, rng, args.crop, swap)
            loss = (net(p, c) - y).abs().mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        if step % args.every == 0 or step == 1:
            row: dict[str, Any] = {"step": step, "seconds": time.time() - t0}
            row["prior_weights"] = torch.softmax(net.prior.detach().flatten(), 0).tolist()
            text = []
            for k, v in test.items():
                b, f, gains, share = score(net, v)
                row[k] = {"flow_path": b, "fused": f, "gains": gains, "weights": share}
                top = sorted(zip(share, names, strict=True), reverse=True)[:4]
                text.append(
                    f"{k} {b:.2f} -> {f:.2f} ({f - b:+.3f}) weights "
                    + " ".join(f"{n} {w:.2f}" for w, n in top)
                )
            rows.append(row)
            print(f"step {step} " + " ".join(text) + f" {time.time() - t0:.0f}s", flush=True)
    torch.save(net.state_dict(), OUT / f"interpolate_fusion_{args.protocol}_{tag}_seed{args.seed}.pt")
    write_json(
        OUT / f"interpolate_fusion_{args.protocol}_{tag}_seed{args.seed}.json",
        {"machine": machine(), "args": vars(args), "candidates": names, "rows": rows},
    )


if __name__ == "__main__":
    main()
