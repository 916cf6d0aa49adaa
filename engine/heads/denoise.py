"""denoise: a residual CNN trained on the show's frames with synthetic gaussian noise.

With "frames": 3 (the default) the net also sees the previous and next frames, aligned to the current one
by OpenCV DIS flow computed on the noisy frames: what a camera saw three times it can average, which one
frame alone cannot. With "frames": 1 it is a single-image denoiser.

Training noise: engine.degrade.gaussian_noise, sigma uniform in sigma_min..sigma_max per example; a
`grain_share` of the examples get grain as cameras make it instead (engine.degrade.production.signal_grain:
signal-dependent, spatially correlated, through 4:2:0 coding). evaluate(options={"noise": "grain"}) scores on
that grain instead of gaussian sigma 15. A `colour_share` of the examples have their colour channels reordered
(engine.heads.base.permute_colours) before the noise: a base trained two hours on a few clips without it turned
a saturated magenta it had never seen blue, 21.6 dB where the noisy input had 24.8 (docs/benchmarks.md).

`ensemble` n (1 by default; the fix parameter `quality=best` asks for BEST_ENSEMBLE, DenoiseParams) denoises each
tile as the mean of its first n turned copies (engine.heads.orientation), turned back inside the tile's forward so
the inference runtime compiles them with the net. On the held-out frames of the base protocol, on grain, 2 copies
gained +0.08 to +0.13 dB, 4 copies +0.12 to +0.19 and 8 copies +0.13 to +0.22 (four show models), at 2.2x and 4.7x
the time of a 1080p fix for 2 and 4: too slow for the default, whose speed goal is NL-means' (docs/benchmarks.md).

Base: the noisy frame itself (a fresh net returns its input). Baselines: OpenCV non-local means on the
frame alone ("nlmeans") and over the same three frames ("nlmeans_multi", fastNlMeansDenoisingColoredMulti),
each at the best of a few strengths chosen on the evaluation frames themselves (which favours them). Their
scores on a held-out frame are computed once per input (engine.baselines.scores): the parent's net, scored on the
same noisy frames, and later runs on the same held-out clips reuse them.
"""

from __future__ import annotations

import functools
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from engine.baselines.restore import NLMEANS_STRENGTHS, denoise_nlmeans, denoise_nlmeans_multi
from engine.baselines.scores import store as baseline_store
from engine.degrade import gaussian_noise
from engine.degrade.production import signal_grain
from engine.heads.base import (
    Batch,
    Head,
    HeadError,
    NumberedFrame,
    as_float,
    augment,
    chw,
    crop_box,
    eval_indices,
    frame_pair,
    permute_colours,
    register,
)
from engine.heads.orientation import ORIENTATIONS, orientations, turn_tensor, turn_tensor_back
from engine.heads.params import EnsembleParams
from engine.heads.scoring import summarize
from engine.infer.run import run_on_parts
from engine.infer.tiling import TileSpec
from engine.kinds import PARAM_KEYS
from engine.media.pixels import to_uint8
from engine.metrics import psnr, ssim
from engine.nets import ResidualCNN

EVAL_SIGMA = 15 / 255
FLOW_SIDE = 540  # larger frames are aligned at about this short side
ENSEMBLE = 1  # turned copies of each tile averaged (`ensemble` evaluate option and apply parameter)
BEST_ENSEMBLE = 4  # with the fix parameter `quality=best`
BEST = f"{BEST_ENSEMBLE} turned copies of each tile, about 5x the time"  # `quality=best` (docs/benchmarks.md)


@dataclass(frozen=True)
class DenoiseParams(EnsembleParams):
    """With `quality` "best", each tile is denoised as the mean of its BEST_ENSEMBLE turned copies (`ensemble`)."""

    keys: ClassVar[tuple[str, ...]] = PARAM_KEYS["denoise"]
    best_ensemble: ClassVar[int] = BEST_ENSEMBLE
    best_cost: ClassVar[str] = BEST


def _gray(img: np.ndarray) -> np.ndarray:
    g = cv2.cvtColor(to_uint8(img), cv2.COLOR_RGB2GRAY)  # in strips: no full-size float scratch
    return np.asarray(cv2.GaussianBlur(g, (5, 5), 1.0))  # noise would drag the flow


def flow_image(img: np.ndarray) -> np.ndarray:
    """What the flow of `img` is computed on: blurred 8-bit gray at about FLOW_SIDE pixels (once a frame)."""
    h, w = img.shape[:2]
    scale = min(1.0, FLOW_SIDE / min(h, w))
    g = _gray(img)
    if scale < 1.0:
        g = cv2.resize(g, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
    return np.asarray(g)


@functools.lru_cache(maxsize=4)
def _grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return gx, gy


def align(
    target: np.ndarray,
    other: np.ndarray,
    target_flow: np.ndarray | None = None,
    other_flow: np.ndarray | None = None,
) -> np.ndarray:
    """`other` warped onto `target` (both noisy H,W,3) with DIS flow target -> other; `*_flow` are their
    flow_image()s when the caller has them already (a streaming window computes each frame's once)."""
    h, w = target.shape[:2]
    a = flow_image(target) if target_flow is None else target_flow
    b = flow_image(other) if other_flow is None else other_flow
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)  # type: ignore[attr-defined]
    flow = dis.calc(a, b, None)
    scale = min(1.0, FLOW_SIDE / min(h, w))
    if scale < 1.0:
        flow = cv2.resize(flow, (w, h), interpolation=cv2.INTER_LINEAR)
        flow /= scale  # in place: one full-size flow, not two (66 MB each at 4K)
    gx, gy = _grid(h, w)
    flow[..., 0] += gx
    flow[..., 1] += gy
    warped = cv2.remap(other, flow, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)  # type: ignore[call-overload]
    return np.asarray(warped)


_NLMEANS_SCORES = tuple(f"{mode}@{s:g}" for mode in ("single", "multi") for s in NLMEANS_STRENGTHS)


def _nlmeans_scores(noisy: list[np.ndarray], truth: np.ndarray) -> dict[str, float]:
    """PSNR of NL-means at every strength on the middle noisy frame alone and over the three frames."""
    scores = {f"single@{s:g}": psnr(denoise_nlmeans(noisy[1], s), truth) for s in NLMEANS_STRENGTHS}
    scores.update({f"multi@{s:g}": psnr(denoise_nlmeans_multi(noisy, s), truth) for s in NLMEANS_STRENGTHS})
    return scores


def _neighbours(length: int, t: int) -> list[int]:
    """Frame indices t-1, t, t+1 of a clip of `length`, clamped to it."""
    return [min(max(t + d, 0), length - 1) for d in (-1, 0, 1)]


def stack_aligned(
    frames: Sequence[np.ndarray], index: int, count: int, flows: Sequence[np.ndarray] | None = None
) -> np.ndarray:
    """H,W,3*count: frames[index] then its neighbours (index-1, index+1, clamped) aligned to it; `flows`:
    the frames' flow_image()s, when known."""
    parts = aligned_parts(frames, index, count, flows)
    return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=2)


def aligned_parts(
    frames: Sequence[np.ndarray], index: int, count: int, flows: Sequence[np.ndarray] | None = None
) -> list[np.ndarray]:
    """stack_aligned's pieces (H,W,3 each), not yet concatenated: the runtime path cuts tiles from them."""
    centre = frames[index]
    if count == 1:
        return [centre]
    parts = [centre]
    for d in (-1, 1):
        j = min(max(index + d, 0), len(frames) - 1)
        if j == index:
            parts.append(centre)
        else:
            pair = (flows[index], flows[j]) if flows is not None else (None, None)
            parts.append(align(centre, frames[j], *pair))
    return parts


@register
class DenoiseHead(Head):
    name = "denoise"
    params_type = DenoiseParams
    baselines = ("nlmeans", "nlmeans_multi")
    # 1.8x the steps per CPU second (AMX, AVX-512 bfloat16); with AMX +0.3 to +0.6 dB at equal CPU time
    cpu_bf16 = True

    def default_config(self) -> dict[str, Any]:
        return {
            "channels": 32,
            "depth": 7,
            "unshuffle": 1,
            "frames": 3,
            "sigma_min": 5 / 255,
            "sigma_max": 25 / 255,
            # share of training examples with grain as cameras make it (engine.degrade.production:
            # signal-dependent, correlated, through 4:2:0 coding), strength uniform in grain_min..grain_max. Most:
            # real footage's noise is grain, and gaussian noise is the easier of the two. 0.3 -> 0.5 gained +0.20 /
            # +0.46 dB on grain from the base, -0.09 / +0.02 at sigma 15; 0.5 -> 0.7 +0.07 / +0.47 on grain, -0.18 /
            # -0.40 at sigma 15, still 1.2 dB over its goal (docs/benchmarks.md, "Denoise on grain: a second run")
            "grain_share": 0.7,
            "grain_min": 0.02,
            "grain_max": 0.08,
            "eval_frames": 3,
            "colour_share": 0.5,  # share of training examples with their colour channels reordered
        }

    def build(self, config: Mapping[str, Any]) -> torch.nn.Module:
        cfg = {**self.default_config(), **config}
        net = ResidualCNN(
            3 * int(cfg["frames"]),
            3,
            channels=int(cfg["channels"]),
            depth=int(cfg["depth"]),
            unshuffle=int(cfg["unshuffle"]),
        )
        net.frames = int(cfg["frames"])  # type: ignore[assignment]
        return net

    def _frames(self, net: torch.nn.Module) -> int:
        return int(getattr(net, "frames", 1))

    def sample(self, clip: np.ndarray, rng: np.random.Generator, crop: int) -> dict[str, np.ndarray]:
        cfg = self.default_config()
        count = int(cfg["frames"])
        t = int(rng.integers(0, len(clip)))
        idx = [t] if count == 1 else _neighbours(len(clip), t)
        y, x, h, w = crop_box(clip.shape[1], clip.shape[2], crop, rng)
        clean = augment([as_float(clip[i, y : y + h, x : x + w]) for i in idx], rng)
        clean = permute_colours(clean, rng, float(cfg["colour_share"]))
        if rng.random() < float(cfg["grain_share"]):
            strength = float(rng.uniform(cfg["grain_min"], cfg["grain_max"]))
            noisy = list(signal_grain(np.stack(clean), rng, strength))
        else:
            sigma = float(rng.uniform(cfg["sigma_min"], cfg["sigma_max"]))
            noisy = [gaussian_noise(c, sigma, rng) for c in clean]
        centre = len(idx) // 2
        return {"noisy": chw(stack_aligned(noisy, centre, count)), "target": chw(clean[centre])}

    def forward(self, net: torch.nn.Module, noisy: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = noisy[:, :3] + net(noisy)
        return out

    def loss(self, net: torch.nn.Module, batch: Batch) -> torch.Tensor:
        return F.l1_loss(self.forward(net, batch["noisy"]), batch["target"])

    def ensembled(self, net: torch.nn.Module, x: torch.Tensor, count: int) -> torch.Tensor:
        """forward() as the mean of the input's first `count` ORIENTATIONS, each output turned back."""
        total = self.forward(net, x)
        for orientation in ORIENTATIONS[1:count]:
            total = total + turn_tensor_back(self.forward(net, turn_tensor(x, orientation)), orientation)
        return total / count if count > 1 else total

    def denoise(
        self,
        net: torch.nn.Module,
        frames: Sequence[np.ndarray] | np.ndarray,
        index: int = 0,
        spec: TileSpec | None = None,
        flows: Sequence[np.ndarray] | None = None,
        ensemble: int = ENSEMBLE,
    ) -> np.ndarray:
        """Denoise frames[index] (with its neighbours when the net uses them); a lone H,W,3 frame works too.
        `flows`: the frames' flow_image()s when the caller keeps them; `ensemble`: turned copies averaged
        in each tile (engine.heads.orientation), that many times the net's cost."""
        seq = [frames] if isinstance(frames, np.ndarray) and frames.ndim == 3 else list(frames)
        parts = aligned_parts(seq, index, self._frames(net), flows)
        return run_on_parts(lambda x: self.ensembled(net, x, ensemble), parts, net, spec=spec)

    def evaluate(
        self,
        net: torch.nn.Module,
        clips: list[np.ndarray],
        rng: np.random.Generator,
        options: Mapping[str, Any] | None = None,
    ) -> dict[str, float]:
        opts = {**self.default_config(), **(options or {})}
        sigma = float(opts.get("sigma", EVAL_SIGMA))
        grain = opts.get("noise", "gaussian") == "grain"  # real-like grain (strength opts["grain"]) instead
        ensemble = orientations(opts.get("ensemble", ENSEMBLE), self.name)
        ours: list[float] = []
        ours_ssim: list[float] = []
        single: dict[float, list[float]] = {s: [] for s in NLMEANS_STRENGTHS}
        multi: dict[float, list[float]] = {s: [] for s in NLMEANS_STRENGTHS}
        known = baseline_store(opts)  # NL-means scored once per input: the parent's net is scored on the same
        for clip in clips:
            for t in eval_indices(len(clip), int(opts["eval_frames"]), margin=1 if len(clip) >= 3 else 0):
                idx = _neighbours(len(clip), t)
                clean = [as_float(clip[i]) for i in idx]
                if grain:
                    noisy = list(signal_grain(np.stack(clean), rng, float(opts.get("grain", 0.05))))
                else:
                    noisy = [gaussian_noise(c, sigma, rng) for c in clean]
                out = self.denoise(net, noisy, 1, ensemble=ensemble)
                ours.append(psnr(out, clean[1]))
                ours_ssim.append(ssim(out, clean[1]))
                base = known.scores(
                    [*noisy, clean[1]], _NLMEANS_SCORES, functools.partial(_nlmeans_scores, noisy, clean[1])
                )
                for s in NLMEANS_STRENGTHS:
                    single[s].append(base[f"single@{s:g}"])
                    multi[s].append(base[f"multi@{s:g}"])
        empty = "denoise evaluation needs at least one held-out frame"
        if not ours:
            raise HeadError(empty)
        best_single = max(single, key=lambda s: float(np.mean(single[s])))
        best_multi = max(multi, key=lambda s: float(np.mean(multi[s])))
        sheet = {"psnr": ours, "ssim": ours_ssim, "psnr_nlmeans": single[best_single]}
        res = summarize(self, {**sheet, "psnr_nlmeans_multi": multi[best_multi]}, empty)
        return {**res, "nlmeans_strength": float(best_single), "nlmeans_multi_strength": float(best_multi)}

    def demo(
        self,
        net: torch.nn.Module,
        clip: np.ndarray,
        rng: np.random.Generator,
        options: Mapping[str, Any] | None = None,
    ) -> dict[str, np.ndarray]:
        t = min(max(len(clip) // 2, 1), len(clip) - 1)
        idx = _neighbours(len(clip), t)
        clean = [as_float(clip[i]) for i in idx]
        noisy = [gaussian_noise(c, EVAL_SIGMA, rng) for c in clean]
        strength = float((options or {}).get("nlmeans_strength", 8.0))
        return {
            "input": noisy[1],
            "nlmeans": denoise_nlmeans(noisy[1], strength),
            "head": self.denoise(net, noisy, 1),
            "truth": clean[1],
        }

    def apply(
        self,
        net: torch.nn.Module,
        frames: Iterable[Any],
        params: Mapping[str, Any] | None = None,
    ) -> Iterator[NumberedFrame]:
        """Streams with a window of one frame either side (when the net uses neighbours); each frame's
        flow image is made once, as it enters the window."""
        spec = TileSpec(tile=int((params or {}).get("tile", 256)))
        ensemble = orientations((params or {}).get("ensemble", ENSEMBLE), self.name)
        radius = 1 if self._frames(net) > 1 else 0
        window: deque[tuple[int, np.ndarray, np.ndarray | None]] = deque()
        pending = 0

        def emit(i: int) -> NumberedFrame:
            lo, hi = max(0, i - 1), min(len(window), i + 2)
            seq = [window[j][1] for j in range(lo, hi)]
            flows = [window[j][2] for j in range(lo, hi)]
            known = None if any(f is None for f in flows) else flows
            return window[i][0], self.denoise(net, seq, i - lo, spec, known, ensemble)  # type: ignore[arg-type]

        for number, frame in map(frame_pair, frames):
            img = as_float(frame)
            window.append((number, img, flow_image(img) if radius else None))
            while pending < len(window) and len(window) - 1 - pending >= radius:
                yield emit(pending)
                pending += 1
            while pending > radius:
                window.popleft()
                pending -= 1
        while pending < len(window):
            yield emit(pending)
            pending += 1
