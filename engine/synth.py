"""Synthetic dailies for tests, benches and the demo: virtual camera moves over scikit-image photos.

Pure numpy (no I/O): callers encode the frames with engine.media. Every clip is reproducible from its seed.
The faults laid on them (noise, dropped frames, a lighting change) are engine.degrade's.
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
