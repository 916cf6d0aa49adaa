"""The fusion net of bench/interpolate_fusion.py with the outer frames' side cues (issue 10, 3a; `outer`).

    .venv/bin/python bench/interpolate_outer.py --protocol clips --steps 400 --every 200 --seed 0

Reads the cache of bench/interpolate_outer_study.py (run it first). Candidates (`--group`): the flow path
first, then e.g. warp0, warp1, outer0, outer1 (and `full`, ext0, ext1). Inputs: those of
`interpolate_fusion.Fusion` (the flow path, every other candidate as its difference from it, their
disagreement, the refiner's occlusion cues) plus the side cues of the study, per pixel: |warp0 - outer0|,
|warp1 - outer1|, |warp0 - ext0|, |warp1 - ext1| (mean over RGB, x4; 0 where the outer frame is missing) and
the two masks of whether t-3 / t+3 are in the shot. Training as the `ifuse` setting G by default (logits
bounded 4 tanh(x / 4), the flow path's logit biased by 6, lr 2e-4, 96-pixel crops, batches of 8, half with the
sides swapped, half mirrored, L1). Scores per set the flow path, the fused frame, the fixed mean of the flow
path and `full`, and the hand rule `--rule` of the study (chosen there on `select`); with `--start rule` the
hand rule's frame is a candidate, first (the bias favours it: what the net adds to the rule); writes
bench/out/interpolate_outer_<protocol>_<tag>_seed<seed>.json.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import OUT, machine, write_json
from interpolate_fusion import DIFF_GAIN, Fusion, as_batch
from interpolate_outer_study import CACHE, cue, hand_rule, load

from engine.heads.interpolate_net import SWAP
from engine.metrics import psnr
from engine.nets import ResidualCNN

GROUPS = {
    "outer": ("flow", "warp0", "warp1", "outer0", "outer1"),
    "outer_full": ("flow", "full", "warp0", "warp1", "outer0", "outer1"),
    "both": ("flow", "warp0", "warp1", "outer0", "outer1", "ext0", "ext1"),
    "warps": ("flow", "warp0", "warp1"),
}
# Extra channels after the 17 parts: cue outer 0, 1, cue ext 0, 1, has t-3, has t+3, and the hand rule's
# offset of the blend logit (-(c0 - c1) / sigma, its cues blurred; negated when the sides swap); their swap.
EXTRA = 7
EXTRA_SWAP = [18, 17, 20, 19, 22, 21, 23]
RULE = 23
PAIRS = (("warp0", "warp1"), ("outer0", "outer1"), ("ext0", "ext1"))


@dataclass
class Triplet:
    parts: np.ndarray  # (H, W, 17 + EXTRA)
    cands: np.ndarray  # (K, H, W, 3), the flow path (or, `--start rule`, the hand rule) first
    truth: np.ndarray
    flow: np.ndarray  # the flow path's frame (what every gain is over)
    rule: np.ndarray  # the hand rule's frame
    mean: np.ndarray  # the fixed mean of the flow path and `full`


def load_set(
    name: str, names: tuple[str, ...], rule: tuple[str, int, float], start: str = "flow"
) -> list[Triplet]:
    """The set's cached triplets: parts with the extra cue channels, candidates `names`, truth, and the hand
    rule's frame and the fixed mean of the flow path and `full` (both scored against). With `start` "rule",
    the hand rule's frame goes first among the candidates (the one the bias favours)."""
    out = []
    for p in sorted((CACHE / name).glob("*.npz")):
        z = load(p)
        c, has = z["cands"], (z["has_prev"], z["has_next"])
        maps = [
            np.where(has[i], cue(c[f"warp{i}"], c[f"{kind}{i}"], has[i], 1), 0.0) * DIFF_GAIN
            for kind in ("outer", "ext")
            for i in (0, 1)
        ]
        maps += [np.full(maps[0].shape, float(h), np.float32) for h in has]
        kind, k, sigma = rule
        c0 = cue(c["warp0"], c[kind + "0"], has[0], k)
        c1 = cue(c["warp1"], c[kind + "1"], has[1], k)
        if has[0] != has[1]:
            c0 = c1 = np.zeros_like(c0)
        ruled = hand_rule(c, z["parts"][..., 9:11], c0, c1, sigma)
        maps.append(-(c0 - c1) / sigma)
        parts = np.concatenate([z["parts"], np.stack(maps, -1)], -1).astype(np.float32)
        cands = np.stack([c[n] for n in names])
        if start == "rule":
            cands = np.concatenate([ruled[None], cands])
        out.append(Triplet(parts, cands, z["truth"], c["flow"], ruled, (c["flow"] + c["full"]) / 2))
    if not out:
        raise SystemExit(f"no cached triplets in {CACHE / name}: run bench/interpolate_outer_study.py first")
    return out


class OuterFusion(Fusion):
    """`Fusion` with the extra cue channels (parts: (N, 17 + EXTRA, H, W))."""

    def __init__(self, k: int, bias: float, bound: float, channels: int = 32, depth: int = 5) -> None:
        super().__init__(k, False, bias, bound=bound, channels=channels, depth=depth)
        n_in = 3 + 3 * (k - 1) + 2 + 8 + EXTRA
        self.body = ResidualCNN(
            n_in, k, channels=channels, depth=depth, dilations=[1, 2, 4, 2, 1, 1, 1][: depth - 1]
        )

    def features(self, parts: torch.Tensor, cands: torch.Tensor) -> torch.Tensor:
        extra = [parts[:, 17:RULE], parts[:, RULE:] / 4]
        return torch.cat([super().features(parts[:, :17], cands), *extra], 1)


class OuterBlend(OuterFusion):
    """The refiner's form with the side cues: the same inputs, one output, a correction d (bounded by
    `bound` tanh(d / bound), starting at zero) of the logit m of the blend weight of warp0 against warp1, where
    m is the flow path's (log of the ratio of (vis + 1e-3)^0.3) or, `rule`, the hand rule's (that plus the
    rule's offset). The output is the base frame (candidate 0: the flow path or the hand rule's frame) plus
    the change of the blend, so a fresh net is the base exactly."""

    def __init__(self, k: int, bound: float, i0: int, i1: int, rule: bool) -> None:
        super().__init__(k, 0.0, bound)
        self.body = ResidualCNN(
            3 + 3 * (k - 1) + 2 + 8 + EXTRA, 1, channels=32, depth=5, dilations=[1, 2, 4, 2]
        )
        self.i0, self.i1, self.rule = i0, i1, rule

    def delta(self, parts: torch.Tensor, cands: torch.Tensor) -> torch.Tensor:
        d = self.body(self.features(parts, cands))
        return self.bound * torch.tanh(d / self.bound) if self.bound > 0 else d

    def forward(self, parts: torch.Tensor, cands: torch.Tensor) -> torch.Tensor:
        m = 0.3 * (torch.log(parts[:, 9:10] + 1e-3) - torch.log(parts[:, 10:11] + 1e-3))
        if self.rule:
            m = m + parts[:, RULE : RULE + 1]
        change = torch.sigmoid(m + self.delta(parts, cands)) - torch.sigmoid(m)
        return cands[:, 0] + change * (cands[:, self.i0] - cands[:, self.i1])


def swap_index(names: tuple[str, ...]) -> list[int]:
    idx = list(range(len(names)))
    for a, b in PAIRS:
        if a in names and b in names:
            idx[names.index(a)], idx[names.index(b)] = names.index(b), names.index(a)
    return idx


def batch(
    pool: list[Triplet], rng: np.random.Generator, crop: int, swap: list[int]
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    ps, cs, ts = [], [], []
    chans = [*SWAP, *EXTRA_SWAP]
    for i in rng.integers(0, len(pool), 8):
        tr = pool[int(i)]
        y0 = int(rng.integers(0, tr.parts.shape[0] - crop + 1))
        x0 = int(rng.integers(0, tr.parts.shape[1] - crop + 1))
        p = tr.parts[y0 : y0 + crop, x0 : x0 + crop]
        c = tr.cands[:, y0 : y0 + crop, x0 : x0 + crop]
        t = tr.truth[y0 : y0 + crop, x0 : x0 + crop]
        if rng.random() < 0.5:
            p, c = p[..., chans].copy(), c[swap]
            p[..., RULE] *= -1
        if rng.random() < 0.5:
            p, c, t = p[:, ::-1], c[:, :, ::-1], t[:, ::-1]
        ps.append(p)
        cs.append(c)
        ts.append(t)
    return as_batch(ps, cs, ts)


def score(net: OuterFusion, test: list[Triplet]) -> dict[str, Any]:
    """Mean PSNR of the flow path, and the gains over it of the fusion, the hand rule and the fixed mean."""
    rows = []
    share = []
    with torch.no_grad():
        for tr in test:
            p = torch.from_numpy(tr.parts.transpose(2, 0, 1))[None]
            c = torch.from_numpy(tr.cands.transpose(0, 3, 1, 2))[None]
            if isinstance(net, OuterBlend):
                share.append(np.array([float(net.delta(p, c).abs().mean())]))
            else:
                share.append(net.weights(p, c)[0][0].mean((1, 2)).numpy())
            out = net(p, c)[0].clamp(0, 1).numpy().transpose(1, 2, 0)
            base = psnr(tr.flow, tr.truth)
            rows.append(
                (
                    base,
                    psnr(out, tr.truth) - base,
                    psnr(tr.rule, tr.truth) - base,
                    psnr(tr.mean, tr.truth) - base,
                )
            )
    a = np.array(rows)
    return {
        "flow_path": float(a[:, 0].mean()),
        "fused": float(a[:, 1].mean()),
        "rule": float(a[:, 2].mean()),
        "flow_full": float(a[:, 3].mean()),
        "gains": a[:, 1].tolist(),
        "weights": np.mean(share, 0).tolist(),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--protocol", choices=("clips", "tails"), default="clips")
    ap.add_argument("--group", choices=tuple(GROUPS), default="outer")
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--every", type=int, default=200)
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--bias", type=float, default=6.0)
    ap.add_argument("--bound", type=float, default=4.0)
    ap.add_argument(
        "--net",
        choices=("fusion", "blend"),
        default="fusion",
        help="fusion: softmax weights over the candidates; blend: a correction of the warps' blend logit",
    )
    ap.add_argument("--no-cues", action="store_true", help="zero the extra cue channels (the control)")
    ap.add_argument(
        "--rule", default="outer,5,0.01", help="the study's hand rule scored beside: kind,k,sigma"
    )
    ap.add_argument(
        "--start",
        choices=("flow", "rule"),
        default="flow",
        help="the candidate the bias favours: the flow path, or the hand rule's frame (added first)",
    )
    ap.add_argument("--crop", type=int, default=96)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    torch.set_num_threads(1)
    names = GROUPS[args.group]
    kind, k, sigma = args.rule.split(",")
    rule = (kind, int(k), float(sigma))
    train_sets = ["train"] + (["held_head"] if args.protocol == "tails" else [])
    tests = (
        {"select": ["select"], "held": ["held"]}
        if args.protocol == "clips"
        else {"tails": ["select", "held_tail"]}
    )
    if args.protocol == "tails":
        tests |= {"tails_held": ["held_tail"]}
    pool = [t for s in train_sets for t in load_set(s, names, rule, args.start)]
    test = {key: [t for s in v for t in load_set(s, names, rule, args.start)] for key, v in tests.items()}
    if args.start == "rule":
        names = ("rule", *names)
    if args.no_cues:
        for tr in [*pool, *(t for v in test.values() for t in v)]:
            tr.parts[..., 17:] = 0
    if args.no_cues and args.start == "rule":
        raise SystemExit("--no-cues takes the rule's own cues away: use it with --start flow")
    net: OuterFusion = OuterFusion(len(names), args.bias, args.bound)
    if args.net == "blend":
        net = OuterBlend(
            len(names), args.bound, names.index("warp0"), names.index("warp1"), args.start == "rule"
        )
    opt = torch.optim.Adam(net.body.parameters(), lr=args.lr)
    rng = np.random.default_rng(args.seed)
    swap = swap_index(names)
    tag = f"{args.net}_{args.group}{'_nocues' if args.no_cues else ''}{'_fromrule' if args.start == 'rule' else ''}_b{args.bias:g}_lr{args.lr:g}_bound{args.bound:g}"
    print(f"{tag} {args.protocol} seed {args.seed}: {len(pool)} training triplets, "
          + ", ".join(f"{key} {len(v)}" for key, v in test.items()), flush=True)  # fmt: skip
    rows: list[dict[str, Any]] = []
    t0 = time.time()
    for step in range(args.steps + 1):
        if step:
            p, c, y = batch(pool, rng, args.crop, swap)
            loss = (net(p, c) - y).abs().mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        if step % args.every == 0:
            row: dict[str, Any] = {"step": step, "seconds": time.time() - t0}
            text = []
            for key, v in test.items():
                r = score(net, v)
                row[key] = r
                labels = ("|d|",) if args.net == "blend" else names
                top = sorted(zip(r["weights"], labels, strict=True), reverse=True)[:4]
                text.append(
                    f"{key} {r['flow_path']:.2f}: fused {r['fused']:+.3f} rule {r['rule']:+.3f} "
                    f"flow+full {r['flow_full']:+.3f} (fused-rule {r['fused'] - r['rule']:+.3f}) weights "
                    + " ".join(f"{n} {w:.2f}" for w, n in top)
                )
            rows.append(row)
            print(f"step {step} | " + " | ".join(text) + f" | {time.time() - t0:.0f}s", flush=True)
    write_json(
        OUT / f"interpolate_outer_{args.protocol}_{tag}_seed{args.seed}.json",
        {"machine": machine(), "args": vars(args), "candidates": names, "rows": rows},
    )


if __name__ == "__main__":
    main()
