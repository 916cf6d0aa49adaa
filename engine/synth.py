"""Synthetic dailies for tests and the demo: virtual camera moves over real photos shipped with scikit-image.

Pure numpy (no I/O): callers encode the frames with engine.media. Every clip is reproducible from its seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from skimage import data as skdata

PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry", "hubble_deep_field", "retina")


def photo(name: str) -> np.ndarray:
    """A real RGB photo from scikit-image as float32 0..1."""
    try:
        img = getattr(skdata, name)()
    except (AttributeError, OSError) as exc:  # some photos need a download: refuse clearly
        raise ValueError(
            f"scikit-image photo {name!r} is not available offline; use one of {PHOTOS}"
        ) from exc
    if img.ndim == 2:
        img = np.stack([img] * 3, axis=-1)
    return (img[..., :3].astype(np.float32) / (65535.0 if img.dtype == np.uint16 else 255.0)).clip(0, 1)


@dataclass(frozen=True)
class CameraMove:
    """A smooth pan/zoom/rotate path in normalised units over the clip's length."""

    pan: tuple[float, float] = (0.15, 0.05)  # fraction of the output size travelled over the clip
    zoom: tuple[float, float] = (1.0, 1.15)  # scale at start and end
    rotate: float = 2.0  # degrees over the clip
    curve: float = 0.3  # 0 = linear path; > 0 bends the path (curved motion)


def camera_move(
    image: np.ndarray,
    frames: int,
    size: tuple[int, int] = (320, 180),
    move: CameraMove | None = None,
    seed: int = 0,
) -> np.ndarray:
    """Render `frames` frames (N,H,W,3 float32) of a virtual camera moving over `image`; size is (width, height)."""
    move = move or CameraMove()
    rng = np.random.default_rng(seed)
    width, height = size
    src_h, src_w = image.shape[:2]
    # Fit the output window inside the photo at the largest zoom-out, so no border is ever sampled.
    base = min(src_w / (width * 1.35), src_h / (height * 1.35))
    phase = rng.uniform(0, 2 * np.pi)
    out = np.empty((frames, height, width, 3), np.float32)
    for i in range(frames):
        t = i / max(frames - 1, 1)
        scale = base / (move.zoom[0] + (move.zoom[1] - move.zoom[0]) * t)
        bend = move.curve * np.sin(np.pi * t + phase) * 0.05
        cx = src_w / 2 + (t - 0.5) * move.pan[0] * width * scale + bend * width * scale
        cy = src_h / 2 + (t - 0.5) * move.pan[1] * height * scale + bend * height * scale
        angle = np.deg2rad((t - 0.5) * move.rotate)
        cos, sin = np.cos(angle) * scale, np.sin(angle) * scale
        # Output pixel (x, y) samples source at centre + R * scale * (x - w/2, y - h/2).
        m = np.array(
            [
                [cos, -sin, cx - cos * width / 2 + sin * height / 2],
                [sin, cos, cy - sin * width / 2 - cos * height / 2],
            ],
            np.float32,
        )
        out[i] = cv2.warpAffine(
            image,
            m,
            (width, height),
            flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_REFLECT,
        )
    return out.clip(0, 1)


def regrade(
    frames: np.ndarray,
    exposure_stops: float = 0.0,
    white_balance: tuple[float, float, float] = (1, 1, 1),
    contrast: float = 1.0,
) -> np.ndarray:
    """A known lighting change: exposure in stops, per-channel gains, contrast around mid-grey (display-referred)."""
    lin = np.power(np.clip(frames, 0, 1), 2.2) * (2.0**exposure_stops) * np.asarray(white_balance, np.float32)
    disp = np.power(np.clip(lin, 0, 1), 1 / 2.2)
    return np.clip((disp - 0.5) * contrast + 0.5, 0, 1).astype(np.float32)


def add_noise(frames: np.ndarray, sigma: float = 15 / 255, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(frames + rng.normal(0, sigma, frames.shape).astype(np.float32), 0, 1)


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
