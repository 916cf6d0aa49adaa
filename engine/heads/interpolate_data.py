"""Training examples of the interpolate head: flow-path parts of real frame triplets, computed per window
and reused.

The flow path (DIS flows both ways and to the outer neighbours, flow reversal, warping) costs 0.2-0.5 s
per 455x256 frame on one core, against a few milliseconds for a refiner step on a 128-pixel crop.
Computed afresh for every example (as before), it left the refiner 3 to 49 steps in a show or base run
(bench/base.py), too few to learn anything. Here the parts are computed on a window of twice the crop
(so the flows see context around the crop, closer to the whole frames a fix works on), and a window serves
on average `reuse` examples (random crops of it) before a new one is computed; at most `capacity` windows
per clip are kept (float16), the oldest dropped first. The windows of a clip live as long as the clip's
array (a weak reference), so nothing of one show is ever served to another show's training.

A window: frame t rebuilt from t-1 and t+1 (t-3, t+3 for quadratic motion) of the clip, with a
`wide_share` of the windows cut from every 2nd-4th frame (large motion and occlusion,
engine.degrade.production.wide_stride) and half of them with time running backwards.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from engine.degrade.production import wide_stride
from engine.heads.base import crop_box

Window = tuple[np.ndarray, np.ndarray]  # stacked parts (H, W, 11), truth (H, W, 3), float16
# (clip, t, box) -> stacked parts and truth of frame t inside box (y, x, h, w)
PartsFn = Callable[[np.ndarray, int, tuple[int, int, int, int]], Window]


@dataclass
class PartsPool:
    """The windows computed so far for one clip."""

    capacity: int
    windows: list[Window] = field(default_factory=list)

    def draw(self, rng: np.random.Generator, reuse: float, make: Callable[[], Window]) -> Window:
        if not self.windows or rng.random() < 1.0 / max(reuse, 1.0):
            self.windows.append(make())
            if len(self.windows) > self.capacity:
                self.windows.pop(0)
            return self.windows[-1]
        return self.windows[int(rng.integers(0, len(self.windows)))]


_POOLS: dict[int, PartsPool] = {}


def _pool_for(clip: np.ndarray, capacity: int) -> PartsPool:
    key = id(clip)
    pool = _POOLS.get(key)
    if pool is None:
        pool = PartsPool(capacity)
        try:
            weakref.finalize(clip, _POOLS.pop, key, None)
        except TypeError:  # an array that cannot be weakly referenced: no reuse
            return pool
        _POOLS[key] = pool
    return pool


def new_window(
    clip: np.ndarray, rng: np.random.Generator, crop: int, wide_share: float, parts: PartsFn
) -> Window:
    """The parts and truth of one random triplet of `clip`, on a random window of twice `crop`."""
    if rng.random() < wide_share:  # large motion: every k-th frame
        start, stride = wide_stride(len(clip), rng)
        clip = clip[start::stride]
    t = int(rng.integers(1, len(clip) - 1))
    if rng.random() < 0.5:  # time runs both ways
        clip = clip[::-1]
        t = len(clip) - 1 - t
    box = crop_box(clip.shape[1], clip.shape[2], 2 * crop, rng)
    stacked, truth = parts(clip, t, box)
    return stacked.astype(np.float16), truth.astype(np.float16)


def training_example(
    clip: np.ndarray,
    rng: np.random.Generator,
    crop: int,
    parts: PartsFn,
    wide_share: float = 0.3,
    reuse: float = 8.0,
    capacity: int = 12,
) -> Window:
    """A `crop`-sided example (stacked parts, truth; float32) from a window of `clip`, new or reused."""
    pool = _pool_for(clip, capacity)
    stacked, truth = pool.draw(rng, reuse, lambda: new_window(clip, rng, crop, wide_share, parts))
    y, x, h, w = crop_box(stacked.shape[0], stacked.shape[1], crop, rng)
    return (
        stacked[y : y + h, x : x + w].astype(np.float32),
        truth[y : y + h, x : x + w].astype(np.float32),
    )
