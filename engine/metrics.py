"""Image quality metrics on H,W,C (or H,W) float arrays in 0..1."""

from __future__ import annotations

import cv2
import numpy as np


def mse(a: np.ndarray, b: np.ndarray) -> float:
    d = a.astype(np.float64) - b.astype(np.float64)
    return float(np.mean(d * d))


def _psnr_from_mse(err: float, peak: float) -> float:
    return float(10.0 * np.log10(peak * peak / max(err, 1e-12)))


def psnr(a: np.ndarray, b: np.ndarray, peak: float = 1.0) -> float:
    """Peak signal-to-noise ratio in dB (capped at 120 dB for identical images)."""
    if a.shape != b.shape:
        raise ValueError(f"psnr needs images of one shape, got {a.shape} and {b.shape}")
    return _psnr_from_mse(mse(a, b), peak)


def masked_psnr(a: np.ndarray, b: np.ndarray, mask: np.ndarray, peak: float = 1.0) -> float:
    """PSNR over the pixels where `mask` (H,W bool) is set: the filled region of a cleanup."""
    m = mask.astype(bool)
    if not m.any():
        raise ValueError("masked_psnr needs a mask with at least one set pixel")
    d = a[m].astype(np.float64) - b[m].astype(np.float64)
    return _psnr_from_mse(float(np.mean(d * d)), peak)


def ssim(a: np.ndarray, b: np.ndarray, peak: float = 1.0) -> float:
    """Structural similarity (Wang et al. 2004, gaussian window sigma 1.5), mean over pixels and channels."""
    if a.shape != b.shape:
        raise ValueError(f"ssim needs images of one shape, got {a.shape} and {b.shape}")
    x = a.astype(np.float32)
    y = b.astype(np.float32)
    c1, c2 = (0.01 * peak) ** 2, (0.03 * peak) ** 2

    def blur(img: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(img, (11, 11), 1.5, borderType=cv2.BORDER_REFLECT)

    mx, my = blur(x), blur(y)
    sxx = blur(x * x) - mx * mx
    syy = blur(y * y) - my * my
    sxy = blur(x * y) - mx * my
    num = (2 * mx * my + c1) * (2 * sxy + c2)
    den = (mx * mx + my * my + c1) * (sxx + syy + c2)
    return float(np.mean(num / den))
