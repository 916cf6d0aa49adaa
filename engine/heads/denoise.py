"""denoise: a residual CNN trained on the show's frames with synthetic gaussian noise.

Base: the noisy frame itself (a fresh net returns its input). Baseline: OpenCV non-local means at the
best of a few strengths (chosen on the evaluation frames themselves, which favours the baseline).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from engine.baselines.restore import NLMEANS_STRENGTHS, denoise_nlmeans
from engine.heads.base import (
    Batch,
    Head,
    NumberedFrame,
    as_float,
    augment,
    chw,
    crop_box,
    eval_indices,
    frame_pair,
    register,
)
from engine.infer.run import run_on_image
from engine.infer.tiling import TileSpec
from engine.metrics import psnr, ssim
from engine.nets import ResidualCNN

EVAL_SIGMA = 15 / 255


@register
class DenoiseHead(Head):
    name = "denoise"
    baselines = ("nlmeans",)

    def default_config(self) -> dict[str, Any]:
        return {
            "channels": 32,
            "depth": 7,
            "unshuffle": 1,
            "sigma_min": 5 / 255,
            "sigma_max": 25 / 255,
            "eval_frames": 3,
        }

    def build(self, config: Mapping[str, Any]) -> torch.nn.Module:
        cfg = {**self.default_config(), **config}
        return ResidualCNN(
            3, 3, channels=int(cfg["channels"]), depth=int(cfg["depth"]), unshuffle=int(cfg["unshuffle"])
        )

    def sample(self, clip: np.ndarray, rng: np.random.Generator, crop: int) -> dict[str, np.ndarray]:
        cfg = self.default_config()
        t = int(rng.integers(0, len(clip)))
        y, x, h, w = crop_box(clip.shape[1], clip.shape[2], crop, rng)
        (clean,) = augment([as_float(clip[t, y : y + h, x : x + w])], rng)
        sigma = float(rng.uniform(cfg["sigma_min"], cfg["sigma_max"]))
        noisy = np.clip(clean + rng.normal(0, sigma, clean.shape).astype(np.float32), 0, 1)
        return {"noisy": chw(noisy), "target": chw(clean)}

    def forward(self, net: torch.nn.Module, noisy: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = noisy + net(noisy)
        return out

    def loss(self, net: torch.nn.Module, batch: Batch) -> torch.Tensor:
        return F.l1_loss(self.forward(net, batch["noisy"]), batch["target"])

    def denoise(self, net: torch.nn.Module, frame: np.ndarray, spec: TileSpec | None = None) -> np.ndarray:
        return run_on_image(lambda x: self.forward(net, x), frame, net, spec=spec)

    def evaluate(
        self,
        net: torch.nn.Module,
        clips: list[np.ndarray],
        rng: np.random.Generator,
        options: Mapping[str, Any] | None = None,
    ) -> dict[str, float]:
        opts = {**self.default_config(), **(options or {})}
        sigma = float(opts.get("sigma", EVAL_SIGMA))
        ours: list[float] = []
        ours_ssim: list[float] = []
        base: dict[float, list[float]] = {s: [] for s in NLMEANS_STRENGTHS}
        for clip in clips:
            for t in eval_indices(len(clip), int(opts["eval_frames"])):
                clean = as_float(clip[t])
                noisy = np.clip(clean + rng.normal(0, sigma, clean.shape).astype(np.float32), 0, 1)
                out = self.denoise(net, noisy)
                ours.append(psnr(out, clean))
                ours_ssim.append(ssim(out, clean))
                for s in NLMEANS_STRENGTHS:
                    base[s].append(psnr(denoise_nlmeans(noisy, s), clean))
        if not ours:
            raise ValueError("denoise evaluation needs at least one held-out frame")
        best_strength = max(base, key=lambda s: float(np.mean(base[s])))
        best = float(np.mean(base[best_strength]))
        return {
            "psnr": float(np.mean(ours)),
            "ssim": float(np.mean(ours_ssim)),
            "psnr_nlmeans": best,
            "nlmeans_strength": float(best_strength),
            "baseline_best": best,
            "frames": float(len(ours)),
        }

    def demo(
        self,
        net: torch.nn.Module,
        clip: np.ndarray,
        rng: np.random.Generator,
        options: Mapping[str, Any] | None = None,
    ) -> dict[str, np.ndarray]:
        clean = as_float(clip[len(clip) // 2])
        noisy = np.clip(clean + rng.normal(0, EVAL_SIGMA, clean.shape).astype(np.float32), 0, 1)
        strength = float((options or {}).get("nlmeans_strength", 8.0))
        return {
            "input": noisy,
            "nlmeans": denoise_nlmeans(noisy, strength),
            "head": self.denoise(net, noisy),
            "truth": clean,
        }

    def apply(
        self,
        net: torch.nn.Module,
        frames: Iterable[Any],
        params: Mapping[str, Any] | None = None,
    ) -> Iterator[NumberedFrame]:
        spec = TileSpec(tile=int((params or {}).get("tile", 256)))
        for number, frame in map(frame_pair, frames):
            yield number, self.denoise(net, as_float(frame), spec)
