"""Classical restoration baselines a user would pick instead of the show model.

Frames are H,W,3 float32 in 0..1 (masks H,W bool, True = fill).
"""

from __future__ import annotations

import cv2
import numpy as np

NLMEANS_STRENGTHS = (5.0, 8.0, 11.0, 14.0, 18.0)


def _to_u8(img: np.ndarray) -> np.ndarray:
    return np.clip(img * 255.0 + 0.5, 0, 255).astype(np.uint8)


def _from_u8(img: np.ndarray) -> np.ndarray:
    return img.astype(np.float32) / 255.0


def upscale_lanczos(img: np.ndarray, scale: int = 2) -> np.ndarray:
    h, w = img.shape[:2]
    return np.clip(cv2.resize(img, (w * scale, h * scale), interpolation=cv2.INTER_LANCZOS4), 0, 1)


def upscale_bicubic(img: np.ndarray, scale: int = 2) -> np.ndarray:
    h, w = img.shape[:2]
    return np.clip(cv2.resize(img, (w * scale, h * scale), interpolation=cv2.INTER_CUBIC), 0, 1)


def downscale(img: np.ndarray, scale: int = 2, method: str = "area") -> np.ndarray:
    """The degradation the upscale head learns to undo: `area` (box average) or `bicubic`."""
    h, w = img.shape[:2]
    interp = {"area": cv2.INTER_AREA, "bicubic": cv2.INTER_CUBIC}[method]
    return np.clip(cv2.resize(img, (w // scale, h // scale), interpolation=interp), 0, 1)


def denoise_nlmeans(img: np.ndarray, strength: float = 10.0) -> np.ndarray:
    """OpenCV fast non-local means (colour) at filter strength `strength` (on the 0..255 scale)."""
    out = cv2.fastNlMeansDenoisingColored(_to_u8(img), None, strength, strength, 7, 21)
    return _from_u8(out)


def inpaint_telea(img: np.ndarray, mask: np.ndarray, radius: int = 5) -> np.ndarray:
    """OpenCV Telea inpainting of the pixels where `mask` is set (float in, float out, 8-bit inside)."""
    m = mask.astype(np.uint8)
    if not m.any():
        return img.copy()
    filled = _from_u8(cv2.inpaint(_to_u8(img), m, radius, cv2.INPAINT_TELEA))
    out = img.copy()
    out[mask.astype(bool)] = filled[mask.astype(bool)]
    return out


def denoise_nlmeans_multi(frames: list[np.ndarray], strength: float = 10.0) -> np.ndarray:
    """OpenCV fast non-local means (video) of the middle frame of an odd-length run of `frames`."""
    if len(frames) < 3 or len(frames) % 2 == 0:
        raise ValueError(f"denoise_nlmeans_multi needs an odd number (>= 3) of frames, got {len(frames)}")
    u8 = [_to_u8(f) for f in frames]
    out = cv2.fastNlMeansDenoisingColoredMulti(u8, len(u8) // 2, len(u8), None, strength, strength, 7, 21)
    return _from_u8(out)
