"""Classical colour-matching baselines: Reinhard colour transfer in Lab and histogram matching.

Both take a frame to fix and a reference frame (float32 RGB 0..1, H,W,3) and return the fixed frame.
"""

from __future__ import annotations

import cv2
import numpy as np
from skimage.exposure import match_histograms


def reinhard(image: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Reinhard et al. 2001: match the mean and standard deviation of each Lab channel to the reference."""
    src = cv2.cvtColor(np.clip(image, 0, 1).astype(np.float32), cv2.COLOR_RGB2Lab)
    ref = cv2.cvtColor(np.clip(reference, 0, 1).astype(np.float32), cv2.COLOR_RGB2Lab)
    s_mean, s_std = src.reshape(-1, 3).mean(0), src.reshape(-1, 3).std(0)
    r_mean, r_std = ref.reshape(-1, 3).mean(0), ref.reshape(-1, 3).std(0)
    out = (src - s_mean) * (r_std / np.maximum(s_std, 1e-6)) + r_mean
    return np.clip(cv2.cvtColor(out.astype(np.float32), cv2.COLOR_Lab2RGB), 0, 1).astype(np.float32)


def histogram_match(image: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Per-channel histogram matching of `image` to `reference` (scikit-image)."""
    out = match_histograms(image, reference, channel_axis=-1)
    return np.clip(out, 0, 1).astype(np.float32)


def reinhard_lut(image: np.ndarray, reference: np.ndarray, size: int = 17) -> np.ndarray:
    """Reinhard's transfer from `image` to `reference` as a 3D LUT (size^3 x 3, indexed [r,g,b]).

    The transfer is a per-pixel function of colour once the statistics are fixed, so it bakes exactly
    into a LUT; thumbnails give the statistics at a fraction of the cost.
    """
    axis = np.linspace(0.0, 1.0, size, dtype=np.float32)
    grid = np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), -1).reshape(1, -1, 3)
    src = cv2.cvtColor(np.clip(image, 0, 1).astype(np.float32), cv2.COLOR_RGB2Lab).reshape(-1, 3)
    ref = cv2.cvtColor(np.clip(reference, 0, 1).astype(np.float32), cv2.COLOR_RGB2Lab).reshape(-1, 3)
    lab = cv2.cvtColor(grid, cv2.COLOR_RGB2Lab)
    out = (lab - src.mean(0)) * (ref.std(0) / np.maximum(src.std(0), 1e-6)) + ref.mean(0)
    rgb = cv2.cvtColor(out.astype(np.float32), cv2.COLOR_Lab2RGB)
    return np.clip(rgb, 0, 1).reshape(size, size, size, 3).astype(np.float32)
