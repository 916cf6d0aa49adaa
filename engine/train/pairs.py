"""Approved before/after pairs as weighted training examples of the next show version.

A supervisor's approval says "this output is what the show wants from this input": for the heads whose
input and target are frames of the same place (denoise: a grainy daily and its approved clean render;
upscale: a plate and its approved 2x render) a pair is a supervised example, cut into aligned crops the
way the head's own samples are. A head draws a pair batch instead of a self-supervised one with
probability `min(MAX_SHARE, SHARE_PER_WEIGHT * sum of its pairs' weights)`: one approved pair of weight 1
steers a tenth of that head's steps, five or more half of them, never all (the show's own footage keeps
the head general). Pairs of other heads (regrade, interpolate, cleanup) are listed in the manifest with
`trained: false`: their inputs are not a function of the before frames alone (a reference, a mask, a
retime), so this build does not learn from them. Draws come from the head's training rng, so a run with
the same pairs and seed is reproducible.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from engine.heads import Head, get_head
from engine.heads.base import as_float, augment, chw
from engine.heads.denoise import stack_aligned
from engine.model.manifest import ExampleRecord

TRAINABLE = ("denoise", "upscale")
SHARE_PER_WEIGHT = 0.1
MAX_SHARE = 0.5


@dataclass(frozen=True)
class PairExample:
    """One approved fix: `before` (the daily's frames) and `after` (the approved render), T,H,W,3 each
    (uint8 or float 0..1), frame for frame; `after` is twice the size for upscale."""

    id: str
    head: str
    before: np.ndarray
    after: np.ndarray
    weight: float = 1.0
    before_hash: str = ""
    after_hash: str = ""
    label: str = ""  # how people know the pair (the manifest's ExampleRecord.label)


def _fit(frames: np.ndarray, short: int) -> np.ndarray:
    h, w = frames.shape[1:3]
    if min(h, w) <= short:
        return frames
    s = short / min(h, w)
    size = (round(w * s), round(h * s))
    return np.stack([cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in frames])


class PairPool:
    """The pairs of one training run, grouped by head, brought to the resolution the head trains at: the
    training resolution, or `native_resolution` for the heads that train on frames at the footage's own
    size (Head.native) when the run does (engine.train.native; None: it does not)."""

    def __init__(
        self, examples: Sequence[PairExample], resolution: int, native_resolution: int | None = None
    ) -> None:
        self.examples = list(examples)
        self.by_head: dict[str, list[tuple[np.ndarray, np.ndarray, float]]] = {}
        for ex in self.examples:
            if ex.head not in TRAINABLE or ex.weight <= 0:
                continue
            n = min(len(ex.before), len(ex.after))
            head = get_head(ex.head)
            short = native_resolution if head.native and native_resolution is not None else resolution
            before = _fit(np.asarray(ex.before[:n]), short)
            after = _fit(np.asarray(ex.after[:n]), short * head.scale)
            h, w = before.shape[1:3]
            size = (w * head.scale, h * head.scale)
            if after.shape[1:3] != size[::-1]:  # the approved render, brought onto the grid
                after = np.stack([cv2.resize(f, size) for f in after])
            self.by_head.setdefault(ex.head, []).append((before, after, float(ex.weight)))

    def drawn(self, head: str, rng: np.random.Generator) -> bool:
        """Whether this step of `head` trains on approved pairs (no rng is used for heads without pairs)."""
        pairs = self.by_head.get(head)
        if not pairs:
            return False
        share = min(MAX_SHARE, SHARE_PER_WEIGHT * sum(w for _, _, w in pairs))
        return bool(rng.random() < share)

    def batch(
        self, head: Head, rng: np.random.Generator, size: int, crop: int, device: torch.device
    ) -> dict[str, torch.Tensor]:
        pairs = self.by_head[head.name]
        weights = np.array([w for _, _, w in pairs])
        examples = [
            self._example(head, pairs[int(rng.choice(len(pairs), p=weights / weights.sum()))], rng, crop)
            for _ in range(size)
        ]
        return {k: torch.from_numpy(np.stack([e[k] for e in examples])).to(device) for k in examples[0]}

    def _example(
        self, head: Head, pair: tuple[np.ndarray, np.ndarray, float], rng: np.random.Generator, crop: int
    ) -> dict[str, np.ndarray]:
        before, after, _ = pair
        s = head.scale
        t = int(rng.integers(0, len(before)))
        h, w = before.shape[1:3]
        ch, cw = min(crop, h), min(crop, w)
        y, x = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
        target = as_float(after[t, y * s : (y + ch) * s, x * s : (x + cw) * s])
        if head.name == "upscale":
            lr, hr = augment([as_float(before[t, y : y + ch, x : x + cw]), target], rng)
            return {"lr": chw(lr), "target": chw(hr)}
        idx = [min(max(t + d, 0), len(before) - 1) for d in (-1, 0, 1)]
        *noisy, clean = augment([as_float(before[i, y : y + ch, x : x + cw]) for i in idx] + [target], rng)
        count = int(head.default_config().get("frames", 1))
        return {"noisy": chw(stack_aligned(noisy, 1, count)), "target": chw(clean)}

    def records(self, steps: Mapping[str, int]) -> list[ExampleRecord]:
        """What the manifest lists: every pair, with whether this build trained on it (its head takes pairs and
        took a training step: one that took none learned from nothing, and used to list its pairs as learned)."""
        return [
            ExampleRecord(
                id=ex.id,
                head=ex.head,
                before_hash=ex.before_hash,
                after_hash=ex.after_hash,
                frames=min(len(ex.before), len(ex.after)),
                weight=ex.weight,
                trained=ex.head in self.by_head and steps.get(ex.head, 0) > 0,
                label=ex.label,
            )
            for ex in self.examples
        ]
