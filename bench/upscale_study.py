"""Scratch study of the upscale head on real footage: what closes the gap to a plain residual CNN.

    .venv/bin/python bench/upscale_study.py --variant head --seconds 120 [--protocol clips|tails]
    .venv/bin/python bench/upscale_study.py --variant head --cpu-seconds 240 --unshuffle 2 --depth 5

--cpu-seconds budgets this process's CPU time instead of wall-clock (fair between variants run at once on
a loaded machine: a cheaper net takes more steps in the same budget). The head variant is built from the
head's config with --channels/--depth/--unshuffle.

Decodes the camera/ and cg/ clips at --resolution short side (through the bench frame cache), trains one
variant for --seconds of CPU time and scores it on held-out frames against lanczos and bicubic. The
degradation is fixed and documented: HR frame (even size) -> cv2.INTER_AREA 2x downscale. PSNR is over RGB,
with --border HR pixels cut from every side, the same pixels for every method.

Variants:
  head      the UpscaleHead as it is in engine/heads/upscale.py (its own sample/loss/upscale)
  lr-mixed  LR net + pixel shuffle over torch bicubic, trained on area-or-bicubic (the head before this study)
  lr-area   LR net + pixel shuffle over torch bicubic, trained on area only
  hr-area   VDSR-style: net at HR on the torch-bicubic upsampled image, trained on area only

Generalisation to unseen clips (issue 10, point 3c): `--loo NAME` holds out that training clip instead (the
`clips` protocol's other four train), so a setting is checked without the held-out clips. The head variant's
training examples can be changed: `--rescale LO` box-downscales the source crop by a random factor in [LO, 1]
before the pair is cut, `--permute P` reorders the colours of a share P of them, `--perturb S` adds to the low
resolution input gaussian noise of sigma up to S (on 0..1) or, half the time, JPEG coding at quality 80-95.
`--detail N` trains on the most textured of N random crops (mean horizontal gradient) instead of one.
`--extra` also trains on the frame sequences of davis/ (never scored): two more real scenes.
The learning rate follows a cosine from `--lr` to `--lr-floor` of it (0.1, the training loop's); `--ema D` also
scores a running average of the weights (decay D), made in the same run, as the inference mode `ema`.
Each net is scored plain and, per `--infer`, at inference with the 8 flips/rotations averaged (`ens`), and
fine-tuned on the shot's own low-resolution frames for N steps (`adaptN`, the head's `adapt_steps`).
`--net PATH` scores a saved net without training.

Multi-frame input (`--neighbours K`, head variant; 0 is the head as it is): the net's input for frame t is its
low-resolution frame and, for each of the frames t-1..t-K and t+1..t+K, that frame backward-warped to t with
DIS flow from t to it on the low-resolution frames (`MF_FLOW`) and an alignment confidence, exp(-forward-
backward error in pixels): 3 + K*2*4 channels into the first conv, the residual still over frame t's bicubic.
Neighbours never cross a cut (engine/shots.py); a missing one at a shot's edge is frame t with confidence 0.
The aligned stacks are made once per frame of the training clips (whole frames) before the CPU budget starts;
a step cuts the same box from the stack and the frame and flips/turns them together (no flow vectors are in
the input, so augmenting after the warp keeps it valid). `adaptN` fine-tunes on the scored frames' triplets
downscaled 2x again, aligned at that scale, with frame t's low-resolution crop as the target. The `blind`
inference mode scores the net with every neighbour replaced by frame t at confidence 0 (what it makes of
the neighbours), and the report gives per clip how well the warped neighbours match frame t (`align_*`).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import OUT, footage_clips, sequence_clips

from engine.baselines.restore import downscale, upscale_bicubic, upscale_lanczos
from engine.flow import FlowConfig, backward_warp, dis_flow, fb_error
from engine.heads import get_head
from engine.heads.base import as_float, augment, chw, crop_box, permute_colours
from engine.heads.upscale import ADAPT_BATCH, ADAPT_CROP
from engine.metrics import psnr
from engine.nets import ResidualCNN
from engine.shots import find_cuts, shot_ranges
from engine.train import TrainClip
from engine.train.dataset import load_clip
from engine.train.precision import train_autocast

HELD = ("03_blocks", "tears_of_steel")  # the clips bench/quality.py holds out with seed 0
MF_FLOW = FlowConfig(preset="fast", downscale=1.0, max_work_pixels=None)  # full-size DIS on the LR frames


def load(footage: Path, resolution: int, frames: int) -> dict[str, np.ndarray]:
    clips = {}
    for p in footage_clips(footage):
        c = TrainClip(id=f"{p.parent.name}/{p.name}", path=p)
        clips[c.id] = np.asarray(load_clip(c, resolution, OUT / "cache", frames).frames)
    return clips


def load_sequences(footage: Path, resolution: int, frames: int) -> list[np.ndarray]:
    """davis/'s frame sequences (common.sequence_clips), for `--extra`: training clips only."""
    clips = sequence_clips(
        footage, resolution, OUT / "cache", frames, "bench: ../shared/footage/davis (its README)"
    )
    return [np.asarray(c.frames) for c in clips]


def split(
    clips: dict[str, np.ndarray], protocol: str, loo: str = ""
) -> tuple[list[np.ndarray], list[tuple[str, np.ndarray]]]:
    if loo:
        out = loo.split(",")
        train = [v for k, v in clips.items() if not any(h in k for h in (*HELD, *out))]
        held = [
            (k, v) for k, v in clips.items() if any(o in k for o in out) and not any(h in k for h in HELD)
        ]
        if len(held) != len(out):
            raise SystemExit(f"--loo {loo!r} names {len(held)} training clips, not {len(out)}")
        return train, held
    if protocol == "clips":
        train = [v for k, v in clips.items() if not any(h in k for h in HELD)]
        held = [(k, v) for k, v in clips.items() if any(h in k for h in HELD)]
        return train, held
    cut = {k: int(len(v) * 0.6) for k, v in clips.items()}
    return [v[: cut[k]] for k, v in clips.items()], [(k, v[cut[k] :]) for k, v in clips.items()]


def sample(clip: np.ndarray, rng: np.random.Generator, crop: int, degrade: str) -> tuple[np.ndarray, ...]:
    t = int(rng.integers(0, len(clip)))
    y, x, h, w = crop_box(clip.shape[1], clip.shape[2], crop, rng)
    h, w = h - h % 2, w - w % 2
    (hr,) = augment([clip[t, y : y + h, x : x + w].astype(np.float32) / 255.0], rng)
    method = degrade if degrade != "mixed" else ("area" if rng.random() < 0.5 else "bicubic")
    return chw(downscale(hr, 2, method)), chw(hr)


def head_sample(
    clip: np.ndarray,
    rng: np.random.Generator,
    crop: int,
    rescale: float,
    permute: float,
    perturb: float,
    detail: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """The head's training pair (area 2x), with the study's changes to the training distribution."""
    factor = float(rng.uniform(rescale, 1.0)) if rescale < 1.0 else 1.0
    side = min(round(crop / factor), clip.shape[1], clip.shape[2])
    best = -1.0
    for _ in range(max(detail, 1)):  # of `detail` random crops, the one with the most texture
        t = int(rng.integers(0, len(clip)))
        y, x, h, w = crop_box(clip.shape[1], clip.shape[2], side, rng)
        candidate = clip[t, y : y + h, x : x + w]
        energy = float(np.abs(np.diff(candidate.astype(np.int16), axis=1)).mean()) if detail > 1 else 0.0
        if energy > best:
            best, chosen = energy, candidate
    src = chosen.astype(np.float32) / 255.0
    out = min(crop, h, w) if side > crop else h
    if side > crop:
        src = cv2.resize(src, (out, out), interpolation=cv2.INTER_AREA)
    h, w = src.shape[0] - src.shape[0] % 2, src.shape[1] - src.shape[1] % 2
    (hr,) = augment([src[:h, :w]], rng)
    (hr,) = permute_colours([hr], rng, permute)
    lr = downscale(hr, 2, "area")
    if perturb > 0:
        if rng.random() < 0.5:
            lr = np.clip(lr + rng.normal(0, rng.uniform(0, perturb), lr.shape).astype(np.float32), 0, 1)
        else:
            q = int(rng.integers(80, 96))
            _, enc = cv2.imencode(".jpg", (lr * 255 + 0.5).astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, q])
            lr = cv2.imdecode(enc, cv2.IMREAD_UNCHANGED).astype(np.float32) / 255.0
    return chw(lr), chw(hr)


def even(img: np.ndarray) -> np.ndarray:
    return img[: img.shape[0] // 2 * 2, : img.shape[1] // 2 * 2]


def aligned_stack(frames: list[np.ndarray], t: int, k: int) -> np.ndarray:
    """Frame t of a shot's frames (H,W,3 float) and each of its k neighbours a side warped to it with its
    confidence: (H, W, 3 + k*2*4). A neighbour past the shot's edge is frame t with confidence 0."""
    ref = frames[t]
    parts = [ref]
    for d in range(1, k + 1):
        for n in (t - d, t + d):
            if 0 <= n < len(frames):
                ab, ba = dis_flow(ref, frames[n], MF_FLOW), dis_flow(frames[n], ref, MF_FLOW)
                warped = np.clip(backward_warp(frames[n], ab, "cubic"), 0, 1)
                conf = np.exp(-fb_error(ab, ba))[..., None]
            else:
                warped, conf = ref, np.zeros((*ref.shape[:2], 1), np.float32)
            parts += [warped, conf]
    return np.concatenate(parts, axis=-1).astype(np.float32)


def shot_stacks(
    lrs: list[np.ndarray], cuts: list[int], k: int, only: list[int] | None = None
) -> dict[int, np.ndarray]:
    """aligned_stack of every frame (or those in `only`), neighbours taken within the frame's shot."""
    out: dict[int, np.ndarray] = {}
    for a, b in shot_ranges(len(lrs), cuts):
        for t in range(a, b):
            if only is None or t in only:
                out[t] = aligned_stack(lrs[a:b], t - a, k)
    return out


class MFClip:
    """A training clip's HR frames (even size, uint8) and their LR aligned stacks (float16, made once)."""

    def __init__(self, clip: np.ndarray, k: int) -> None:
        self.hr = np.ascontiguousarray(clip[:, : clip.shape[1] // 2 * 2, : clip.shape[2] // 2 * 2])
        lrs = [downscale(as_float(f), 2, "area") for f in self.hr]
        st = shot_stacks(lrs, find_cuts(clip), k)
        self.stack = np.stack([st[t] for t in range(len(lrs))]).astype(np.float16)


def mf_sample(clip: MFClip, rng: np.random.Generator, crop: int) -> tuple[np.ndarray, np.ndarray]:
    """The head's pair (area 2x) with the aligned neighbours: one box, one flip/turn for all channels."""
    t = int(rng.integers(0, len(clip.hr)))
    y, x, h, w = crop_box(clip.hr.shape[1], clip.hr.shape[2], crop, rng)
    y, x, h, w = y - y % 2, x - x % 2, h - h % 2, w - w % 2
    hr = as_float(clip.hr[t, y : y + h, x : x + w])
    lr = clip.stack[t, y // 2 : (y + h) // 2, x // 2 : (x + w) // 2].astype(np.float32)
    hr, lr = augment([hr, lr], rng)
    return chw(lr), chw(hr)


def mf_adapt(
    net: torch.nn.Module,
    fwd: Callable[[torch.nn.Module, torch.Tensor], torch.Tensor],
    pairs: list[tuple[np.ndarray, np.ndarray]],
    steps: int,
    lr: float,
    seed: int = 0,
) -> torch.nn.Module:
    """As UpscaleHead.adapt on (LLR aligned stack, LR target) pairs: ADAPT_BATCH crops of ADAPT_CROP."""
    tuned = copy.deepcopy(net).train()
    rng = np.random.default_rng(seed)
    opt = torch.optim.Adam(tuned.parameters(), lr=lr)
    for _ in range(steps):
        xs, ys = [], []
        for _ in range(ADAPT_BATCH):
            stack, target = pairs[int(rng.integers(0, len(pairs)))]
            y, x, h, w = crop_box(target.shape[0], target.shape[1], ADAPT_CROP, rng)
            y, x, h, w = y - y % 2, x - x % 2, h - h % 2, w - w % 2
            a, b = augment(
                [stack[y // 2 : (y + h) // 2, x // 2 : (x + w) // 2], target[y : y + h, x : x + w]], rng
            )
            xs.append(chw(a))
            ys.append(chw(b))
        loss = F.l1_loss(fwd(tuned, torch.from_numpy(np.stack(xs))), torch.from_numpy(np.stack(ys)))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return tuned.eval()


def blind(x: torch.Tensor) -> torch.Tensor:
    """An aligned stack with every neighbour replaced by frame t at confidence 0 (what a shot's edge gets):
    the trained net's score on it says how much of its gain the neighbours carry."""
    out = x.clone()
    for j in range((x.shape[1] - 3) // 4):
        out[:, 3 + 4 * j : 6 + 4 * j] = x[:, :3]
        out[:, 6 + 4 * j] = 0
    return out


def alignment(
    stacks: dict[int, np.ndarray], lrs: list[np.ndarray], cuts: list[int], k: int
) -> dict[str, list[float]]:
    """PSNR of each present neighbour against frame t, warped (as the net sees it) and as it is, and the
    mean confidence: how much the alignment explains of what differs between the frames."""
    out: dict[str, list[float]] = {"align_warped_psnr": [], "align_raw_psnr": [], "align_conf": []}
    shots = shot_ranges(len(lrs), cuts)
    for t, st in stacks.items():
        a, b = next((a, b) for a, b in shots if a <= t < b)
        for j, n in enumerate(n for d in range(1, k + 1) for n in (t - d, t + d)):
            if a <= n < b:
                out["align_warped_psnr"].append(psnr(st[..., 3 + 4 * j : 6 + 4 * j], lrs[t]))
                out["align_raw_psnr"].append(psnr(lrs[n], lrs[t]))
                out["align_conf"].append(float(st[..., 6 + 4 * j].mean()))
    return out


def mf_forward(net: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Bicubic of the stack's frame t (its first 3 channels) plus the net's correction of the whole stack."""
    base = F.interpolate(x[:, :3], scale_factor=2, mode="bicubic", align_corners=False)
    out: torch.Tensor = base + net(x)
    return out


def make_variant(
    name: str, channels: int, depth: int, unshuffle: int = 1, neighbours: int = 0
) -> tuple[torch.nn.Module, Callable[[torch.Tensor], torch.Tensor], str]:
    """(net, forward lr->hr, training degradation)."""
    if name == "head" and neighbours > 0:
        net = ResidualCNN(3 + 8 * neighbours, 3, channels=channels, depth=depth, shuffle=2)
        return net, lambda x: mf_forward(net, x), "mf"
    if name == "head":
        head = get_head("upscale")
        cfg = {**head.default_config(), "channels": channels, "depth": depth, "unshuffle": unshuffle}
        net = head.build(cfg)
        return net, lambda lr: head.forward(net, lr), "head"  # type: ignore[attr-defined]
    if name.startswith("lr-"):
        net = ResidualCNN(3, 3, channels=channels, depth=depth, shuffle=2)

        def fwd_lr(lr: torch.Tensor) -> torch.Tensor:
            return F.interpolate(lr, scale_factor=2, mode="bicubic", align_corners=False) + net(lr)

        return net, fwd_lr, name[3:]
    net = ResidualCNN(3, 3, channels=channels, depth=depth)

    def fwd_hr(lr: torch.Tensor) -> torch.Tensor:
        base = F.interpolate(lr, scale_factor=2, mode="bicubic", align_corners=False)
        return base + net(base)

    return net, fwd_hr, name[3:]


def ensemble(fwd: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """The mean of fwd over the 8 flips/transposes of x, each undone."""
    outs = []
    for k in range(4):
        for flip in (False, True):
            xi = torch.rot90(x, k, (2, 3))
            xi = torch.flip(xi, (3,)) if flip else xi
            yi = fwd(xi)
            yi = torch.flip(yi, (3,)) if flip else yi
            outs.append(torch.rot90(yi, -k, (2, 3)))
    return torch.stack(outs).mean(0)


def evaluate(
    fwd: Callable[[torch.Tensor], torch.Tensor],
    held: list[tuple[str, np.ndarray]],
    frames: int,
    border: int,
    infer: list[str],
    net: torch.nn.Module | None = None,
    adapt_lr: float = 3e-4,
    neighbours: int = 0,
) -> dict[str, dict[str, float]]:
    """Per held-out clip, mean PSNR of each inference mode in `infer` (plain, ens, adaptN, adaptN+ens) and
    of the baselines. adaptN fine-tunes a copy of the head's net on the clip's own scored LR frames."""
    res: dict[str, dict[str, float]] = {}
    b = border
    head = get_head("upscale")
    for key, clip in held:
        acc: dict[str, list[float]] = {"lanczos": [], "bicubic": [], **{m: [] for m in infer}}
        idx = np.linspace(0, len(clip) - 1, frames).round().astype(int)
        hrs = [clip[t].astype(np.float32) / 255.0 for t in idx]
        hrs = [hr[: hr.shape[0] // 2 * 2, : hr.shape[1] // 2 * 2] for hr in hrs]
        lrs = [downscale(hr, 2, "area") for hr in hrs]
        inputs, pairs = lrs, []
        if neighbours > 0:  # aligned stacks of the scored frames, and their fine-tuning pairs one scale down
            all_lr = [downscale(even(as_float(f)), 2, "area") for f in clip]
            cuts = find_cuts(clip)
            st = shot_stacks(all_lr, cuts, neighbours, only=[int(t) for t in idx])
            inputs = [st[int(t)] for t in idx]
            llr = [downscale(even(f), 2, "area") for f in all_lr]
            lst = shot_stacks(llr, cuts, neighbours, only=[int(t) for t in idx])
            pairs = [(lst[int(t)], even(all_lr[int(t)])) for t in idx]
            acc.update(alignment(st, all_lr, cuts, neighbours))
        tuned_by_steps: dict[int, torch.nn.Module] = {}
        for mode in infer:
            f = fwd
            if mode.startswith("adapt"):
                assert net is not None
                steps = int(mode[5:].split("+")[0])
                if steps not in tuned_by_steps:
                    c0 = time.process_time()
                    if neighbours > 0:
                        tuned_by_steps[steps] = mf_adapt(net, mf_forward, pairs, steps, adapt_lr)
                    else:
                        tuned_by_steps[steps] = head.adapt(net, lrs, steps, lr=adapt_lr)  # type: ignore[attr-defined]
                    print(f"{key} adapt {steps} steps: {time.process_time() - c0:.1f} CPU s", flush=True)
                tuned = tuned_by_steps[steps]
                tuned_fwd = mf_forward if neighbours > 0 else head.forward  # type: ignore[attr-defined]

                def f(
                    x: torch.Tensor,
                    tuned: torch.nn.Module = tuned,
                    tf: Callable[..., torch.Tensor] = tuned_fwd,
                ) -> torch.Tensor:
                    return tf(tuned, x)

            for lr, hr in zip(inputs, hrs, strict=True):
                with torch.no_grad():
                    x = torch.from_numpy(chw(lr))[None]
                    x = blind(x) if mode == "blind" else x
                    y = ensemble(f, x) if mode.endswith("ens") else f(x)
                    out = np.clip(y[0].numpy().transpose(1, 2, 0), 0, 1)
                acc[mode].append(psnr(out[b:-b, b:-b], hr[b:-b, b:-b]) if b else psnr(out, hr))
        for lr, hr in zip(lrs, hrs, strict=True):
            for name, img in (("lanczos", upscale_lanczos(lr)), ("bicubic", upscale_bicubic(lr))):
                acc[name].append(psnr(img[b:-b, b:-b], hr[b:-b, b:-b]) if b else psnr(img, hr))
        res[key] = {k: float(np.mean(v)) for k, v in acc.items()}
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--footage", type=Path, default=Path("../shared/footage"))
    ap.add_argument("--variant", default="head")
    ap.add_argument("--protocol", choices=("clips", "tails"), default="clips")
    ap.add_argument("--resolution", type=int, default=256)
    ap.add_argument("--frames", type=int, default=90)
    ap.add_argument("--seconds", type=float, default=120.0)
    ap.add_argument("--steps", type=int, default=0, help="train this many steps instead (fair under load)")
    ap.add_argument("--cpu-seconds", type=float, default=0.0, help="train for this much CPU time instead")
    ap.add_argument("--unshuffle", type=int, default=1, help="head variant: fold 2x2 pixels first")
    ap.add_argument("--channels", type=int, default=32)
    ap.add_argument("--depth", type=int, default=7)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--crop", type=int, default=64)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--loss", choices=("l1", "l2"), default="l1")
    ap.add_argument("--eval-frames", type=int, default=5)
    ap.add_argument("--border", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (2 thrash on a loaded 2-core box)")
    ap.add_argument("--save", type=Path, default=None, help="write the trained net's state_dict here")
    ap.add_argument("--net", type=Path, default=None, help="score this saved head net, no training")
    ap.add_argument("--loo", default="", help="hold out these training clips (comma list of name parts)")
    ap.add_argument("--rescale", type=float, default=1.0, help="head: downscale sources by U(LO, 1) first")
    ap.add_argument("--permute", type=float, default=0.0, help="head: share of colour-reordered examples")
    ap.add_argument("--perturb", type=float, default=0.0, help="head: LR noise sigma up to S, or JPEG")
    ap.add_argument("--infer", default="plain", help="comma list: plain, ens, adaptN, adaptN+ens")
    ap.add_argument("--adapt-lr", type=float, default=3e-4)
    ap.add_argument("--neighbours", type=int, default=0, help="head: aligned LR neighbours a side (0: none)")
    ap.add_argument("--bf16", action="store_true", help="train under CPU bfloat16 autocast (fast with AMX)")
    ap.add_argument(
        "--detail", type=int, default=1, help="head: of N random crops train on the most textured"
    )
    ap.add_argument(
        "--extra", action="store_true", help="also train on the davis/ frame sequences (never scored)"
    )
    ap.add_argument("--lr-floor", type=float, default=0.1, help="cosine decay ends at this share of --lr")
    ap.add_argument(
        "--ema", type=float, default=0.0, help="also score a running average of the weights (decay)"
    )
    args = ap.parse_args()

    torch.set_num_threads(args.threads)

    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    train, held = split(load(args.footage, args.resolution, args.frames), args.protocol, args.loo)
    if args.extra:
        train += load_sequences(args.footage, args.resolution, args.frames)
    net, fwd, degrade = make_variant(args.variant, args.channels, args.depth, args.unshuffle, args.neighbours)
    mf_clips: list[MFClip] = []
    prep_cpu = time.process_time()
    if degrade == "mf" and not args.net:
        mf_clips = [MFClip(c, args.neighbours) for c in train]
    prep_cpu = time.process_time() - prep_cpu
    changed = args.rescale < 1.0 or args.permute > 0 or args.perturb > 0 or args.detail > 1
    if args.net:
        net.load_state_dict(torch.load(args.net, weights_only=True))
        args.cpu_seconds, args.steps = 0.0, -1
    head = get_head("upscale")
    opt = torch.optim.Adam(net.parameters(), lr=args.lr)
    loss_fn = F.l1_loss if args.loss == "l1" else F.mse_loss
    ema = None
    if args.ema > 0:
        ema = torch.optim.swa_utils.AveragedModel(
            net, multi_avg_fn=torch.optim.swa_utils.get_ema_multi_avg_fn(args.ema)
        )
    start, step, cpu0 = time.monotonic(), 0, time.process_time()
    while True:
        elapsed = time.monotonic() - start
        if args.cpu_seconds:
            f = (time.process_time() - cpu0) / args.cpu_seconds
        else:
            f = 1.0 if args.steps < 0 else step / args.steps if args.steps else elapsed / args.seconds
        if f >= 1.0:
            break
        for g in opt.param_groups:
            cosine = args.lr_floor + (1 - args.lr_floor) * 0.5 * (1 + np.cos(np.pi * f))
            g["lr"] = args.lr * cosine * min(1.0, (step + 1) / 20)
        if degrade == "mf":
            pairs = [
                mf_sample(mf_clips[int(rng.integers(0, len(mf_clips)))], rng, args.crop)
                for _ in range(args.batch)
            ]
            lr_t = torch.from_numpy(np.stack([p[0] for p in pairs]))
            hr_t = torch.from_numpy(np.stack([p[1] for p in pairs]))
        elif degrade == "head" and changed:
            pairs = [
                head_sample(
                    train[int(rng.integers(0, len(train)))],
                    rng,
                    args.crop,
                    args.rescale,
                    args.permute,
                    args.perturb,
                    args.detail,
                )
                for _ in range(args.batch)
            ]
            lr_t = torch.from_numpy(np.stack([p[0] for p in pairs]))
            hr_t = torch.from_numpy(np.stack([p[1] for p in pairs]))
        elif degrade == "head":
            ex = [
                head.sample(train[int(rng.integers(0, len(train)))], rng, args.crop)
                for _ in range(args.batch)
            ]
            lr_t = torch.from_numpy(np.stack([e["lr"] for e in ex]))
            hr_t = torch.from_numpy(np.stack([e["target"] for e in ex]))
        else:
            pairs = [
                sample(train[int(rng.integers(0, len(train)))], rng, args.crop, degrade)
                for _ in range(args.batch)
            ]
            lr_t = torch.from_numpy(np.stack([p[0] for p in pairs]))
            hr_t = torch.from_numpy(np.stack([p[1] for p in pairs]))
        with train_autocast(torch.device("cpu"), torch.bfloat16 if args.bf16 else None):
            out = fwd(lr_t)
        loss = loss_fn(out.float(), hr_t)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        if ema is not None:
            ema.update_parameters(net)
    net.eval()
    if args.save:
        torch.save(net.state_dict(), args.save)
    infer = args.infer.split(",")
    train_cpu = time.process_time() - cpu0
    res = evaluate(fwd, held, args.eval_frames, args.border, infer, net, args.adapt_lr, args.neighbours)
    if ema is not None and degrade == "head":
        averaged = ema.module.eval()
        forward = head.forward  # type: ignore[attr-defined]
        scored = evaluate(lambda x: forward(averaged, x), held, args.eval_frames, args.border, ["plain"])
        for key, r in scored.items():
            res[key]["ema"] = r["plain"]
        infer = [*infer, "ema"]
    mean = {k: float(np.mean([r[k] for r in res.values()])) for k in (*infer, "lanczos", "bicubic")}
    best = {k: float(np.mean([r[k] - max(r["lanczos"], r["bicubic"]) for r in res.values()])) for k in infer}
    report = {
        "args": {k: str(v) for k, v in vars(args).items()},
        "steps": step,
        "cpu_seconds": train_cpu,
        "cpu_ms_per_step": 1000 * train_cpu / max(step, 1),
        "prep_cpu_seconds": prep_cpu,
        "load_average": os.getloadavg(),
        "torch_threads": torch.get_num_threads(),
        "per_clip": res,
        "mean": mean,
        "margin_vs_best": best,
    }
    print(json.dumps(report))
    with (OUT / "upscale_study.jsonl").open("a") as fh:
        fh.write(json.dumps(report) + "\n")


if __name__ == "__main__":
    main()
