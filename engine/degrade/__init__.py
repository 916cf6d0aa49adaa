"""Known degradations of frames: the changes the heads learn to undo, and the demo and tests apply.

Production code: the regrade head trains on `regrade` (a lighting change), the denoise head on
`gaussian_noise` and the cleanup head on `blob_mask` (object-like holes); `add_noise` and `drop_frames` make the demo's and the tests' faults.
Pure numpy / OpenCV, no I/O; every random one is reproducible from its seed.

The harder cases seen in production (exposure errors with clipped highlights, white balance far off,
grain that follows the signal through 4:2:0 coding, a reference a few frames away, wide frame gaps) are in
`engine.degrade.production`; the heads mix a share of them into training and `bench/quality.py` scores on them.
"""

from __future__ import annotations

import cv2
import numpy as np

GAMMA = 2.2  # the display transfer the heads assume: display = linear ** (1 / GAMMA)


def regrade(
    frames: np.ndarray,
    exposure_stops: float = 0.0,
    white_balance: tuple[float, float, float] = (1, 1, 1),
    contrast: float = 1.0,
) -> np.ndarray:
    """A known lighting change: exposure in stops, per-channel gains, contrast around mid-grey (display-referred)."""
    lin = (
        np.power(np.clip(frames, 0, 1), GAMMA) * (2.0**exposure_stops) * np.asarray(white_balance, np.float32)
    )
    disp = np.power(np.clip(lin, 0, 1), 1 / GAMMA)
    return np.clip((disp - 0.5) * contrast + 0.5, 0, 1).astype(np.float32)


def gaussian_noise(frames: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """`frames` plus gaussian noise of standard deviation `sigma` (0..1 units) drawn from `rng`, clipped."""
    return np.clip(frames + rng.normal(0, sigma, frames.shape).astype(np.float32), 0, 1)


def add_noise(frames: np.ndarray, sigma: float = 15 / 255, seed: int = 0) -> np.ndarray:
    """gaussian_noise with its own generator, seeded by `seed`."""
    return gaussian_noise(frames, sigma, np.random.default_rng(seed))


def drop_frames(frames: np.ndarray, dropped: list[int], duplicate: bool = True) -> np.ndarray:
    """Simulate dropped frames: each dropped index repeats the previous frame (as a capture glitch does)."""
    out = frames.copy()
    for i in sorted(dropped):
        if 0 < i < len(out):
            out[i] = out[i - 1] if duplicate else 0
    return out


def blob_mask(height: int, width: int, seed: int = 0, fraction: float = 0.05) -> np.ndarray:
    """A random object-like mask (bool HxW) covering about `fraction` of the frame."""
    rng = np.random.default_rng(seed)
    mask = np.zeros((height, width), np.uint8)
    radius = int(np.sqrt(fraction * height * width / np.pi))
    cx, cy = (
        rng.integers(radius, max(radius + 1, width - radius)),
        rng.integers(radius, max(radius + 1, height - radius)),
    )
    for _ in range(5):
        ox, oy = rng.integers(-radius // 2, radius // 2 + 1, size=2)
        axes = (int(radius * rng.uniform(0.5, 1.0)), int(radius * rng.uniform(0.5, 1.0)))
        cv2.ellipse(mask, (int(cx + ox), int(cy + oy)), axes, float(rng.uniform(0, 180)), 0, 360, 1, -1)
    return mask.astype(bool)
