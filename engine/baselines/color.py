"""Classical colour matching: Reinhard colour transfer in Lab and histogram matching (the baselines a user
would pick), and the matched grade (the regrade head's base: an exposure / white-balance / gamma / contrast inverse
fitted on pixels aligned between the two frames).

Each takes a frame to fix and a reference frame (float32 RGB 0..1, H,W,3) and returns the fixed frame.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import cv2
import numpy as np
from skimage.exposure import match_histograms

from engine.lut import apply_lut


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


# The matched grade: the inverse of a global lighting change, fitted on pixels the two frames share.
#
# A change of exposure and white balance (per-channel gains k in linear light, display gamma 2.2), then a
# display-space gamma g_c (a colourist's gamma wheel: a power on each channel) and a contrast change c around
# mid-grey map each display channel y = ((x^2.2 k)^(g_c/2.2) - 0.5) c + 0.5, so its inverse is
# x = a_c u^(1/g_c) with u = (y - 0.5) / c + 0.5 and a_c = k_c^(-1/2.2). Two frames of one shot mostly show
# the same surfaces, so after aligning the reference onto the frame (DIS optical flow, checked forwards and
# backwards) each pixel pair (y, x) is one noisy sample of that map, and a robust fit of its seven numbers is
# far tighter than matching whole-frame statistics (Reinhard, histograms), which also follow whatever moved or
# came into view between the frames. Without the gammas (the fit before 2026-12-07) the regrade head scored
# -1.73 / -0.91 dB against histogram matching on held-out footage under production grades, with them +3.56 / +4.10
# (bench/base.py --degradations production; docs/benchmarks.md).

FIT_WIDTH = 160  # working width of the fit (pixels)
# 0.59..1.68 in even log steps, and 1 (index 22) exactly: without it a plain exposure change was fitted with a
# contrast of 0.986 or 1.010, which under a large gain lifted black (to 1.2/255 a stop under, 10/255 at five)
CONTRASTS = np.exp(np.arange(-22, 23) * 0.0237).astype(np.float64)
GAMMAS = np.exp(np.linspace(-0.5, 0.5, 41)).astype(np.float64)  # 0.61..1.65, and 1 (index 20) exactly
# The gammas are kept only where they explain the pairs clearly better than the plain fit (its robust cost
# under GAMMA_GAIN of the plain one's) and none sits at the grid's end: on footage under grades without a
# gamma change the freer fit traded contrast for gamma and lost up to 7 dB where the plain one was near exact.
GAMMA_GAIN = 0.96
COARSE = 4  # the coarse grids take every COARSE-th contrast and gamma; the fine ones the 2*COARSE-1 around
CLIPPED_LOW, CLIPPED_HIGH = 1.5 / 255, 253.5 / 255  # clipped values carry no information about the map


@dataclass(frozen=True)
class GradeFit:
    """The inverse of a lighting change: x = gains * u^(1 / gammas) with u = (y - 0.5) / contrast + 0.5, per
    display channel."""

    gains: tuple[float, float, float]
    contrast: float
    inliers: float  # share of the aligned pixel pairs the fit explains (0..1): how far to trust it
    # What a clipped value (0 or 1) most likely was: the mean of the reference where the frame is clipped
    # (the inverse only gives a bound there); None: the inverse itself.
    black: tuple[float, float, float] | None = None
    white: tuple[float, float, float] | None = None
    gammas: tuple[float, float, float] = (1.0, 1.0, 1.0)

    def apply(self, image: np.ndarray) -> np.ndarray:
        a = np.asarray(self.gains, np.float32)
        u = _inverse_curve(image, float(self.contrast))
        if self.gammas != (1.0, 1.0, 1.0):
            u = np.power(u, 1 / np.asarray(self.gammas, np.float32))
        out = np.clip(a * u, 0, 1).astype(np.float32)
        if self.white is not None:
            out = np.where(image >= CLIPPED_HIGH, np.maximum(out, np.asarray(self.white, np.float32)), out)
        if self.black is not None:
            out = np.where(image <= CLIPPED_LOW, np.minimum(out, np.asarray(self.black, np.float32)), out)
        return out

    def lut(self, size: int = 17) -> np.ndarray:
        """The inverse as a 3D LUT (size^3 x 3, indexed [r,g,b]): exact at the nodes, linear between them."""
        axis = np.linspace(0.0, 1.0, size, dtype=np.float32)
        grid = np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), -1)
        return self.apply(grid)


IDENTITY_FIT = GradeFit((1.0, 1.0, 1.0), 1.0, 0.0)


def _gray8(image: np.ndarray) -> np.ndarray:
    gray = cv2.cvtColor(np.clip(image, 0, 1).astype(np.float32), cv2.COLOR_RGB2GRAY)
    return np.asarray(gray * 255 + 0.5, np.uint8)


def _working(image: np.ndarray, width: int) -> np.ndarray:
    h, w = image.shape[:2]
    if w <= width:
        return image.astype(np.float32, copy=False)
    size = (width, max(8, round(h * width / w)))
    return np.asarray(cv2.resize(image.astype(np.float32, copy=False), size, interpolation=cv2.INTER_AREA))


def aligned_pairs(
    image: np.ndarray, reference: np.ndarray, width: int = FIT_WIDTH
) -> tuple[np.ndarray, np.ndarray]:
    """Pixel pairs (y from `image`, x from `reference` warped onto it), each (n, 3) float64, where the flow
    is consistent forwards and backwards. Both frames are brought to `width` first; the flow runs on
    brightness-normalised grey (histogram matching), so the lighting change does not fool it."""
    src = _working(image, width)
    ref = _working(reference, width)
    if ref.shape != src.shape:
        ref = np.asarray(cv2.resize(ref, (src.shape[1], src.shape[0]), interpolation=cv2.INTER_AREA))
    a8, b8 = _gray8(histogram_match(src, ref)), _gray8(ref)
    cv: Any = cv2  # the stubs lack DISOpticalFlow_create
    dis = cv.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    fwd = dis.calc(a8, b8, None)
    bwd = dis.calc(b8, a8, None)
    h, w = a8.shape
    gy, gx = np.mgrid[0:h, 0:w].astype(np.float32)
    mx, my = gx + fwd[..., 0], gy + fwd[..., 1]
    warped = cv2.remap(ref, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    back = cv2.remap(bwd, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    ok = (np.linalg.norm(fwd + back, axis=2) < 1.0) & (mx >= 0) & (mx <= w - 1) & (my >= 0) & (my <= h - 1)
    # a light blur on both sides forgives sub-pixel misalignment at edges; a clipped value blurred into
    # its neighbours would bias them, so each channel's clipped pixels stay as they were
    clipped = (src <= CLIPPED_LOW) | (src >= CLIPPED_HIGH)
    near = cv2.dilate(clipped.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    y = np.where(near, src, cv2.GaussianBlur(src, (0, 0), 1.0))[::2, ::2].reshape(-1, 3)
    x = cv2.GaussianBlur(warped, (0, 0), 1.0)[::2, ::2].reshape(-1, 3)
    near_valid = (near & ~clipped)[::2, ::2].reshape(-1, 3)
    y = np.where(near_valid, -1.0, y)  # next to a clip: neither clipped nor a usable sample
    keep = ok[::2, ::2].reshape(-1)
    return y[keep].astype(np.float64), x[keep].astype(np.float64)


def _fit_at(
    contrasts: np.ndarray, gammas: np.ndarray, y: np.ndarray, x: np.ndarray, w0: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """For each contrast (m,) and gamma (k, 3: each channel's own): the gains (m, k, 3) by Cauchy re-weighted
    least squares and a robust cost per channel (m, k, 3). Channels are fitted apart (only the contrast is
    shared), each on its own usable pairs."""
    gains, costs = np.zeros((len(contrasts), len(gammas), 3)), np.zeros((len(contrasts), len(gammas), 3))
    for ch in range(3):
        used = w0[:, ch] > 0
        yc, xc = y[used, ch], x[used, ch]
        base = _inverse_curve(yc[None], contrasts[:, None])[:, None]  # (m, 1, n)
        u = base ** (1 / gammas[None, :, ch, None])  # (m, k, n)
        w = np.ones_like(u)
        for _ in range(4):
            a = (w * u * xc).sum(2) / ((w * u * u).sum(2) + 1e-9)  # (m, k)
            err = a[..., None] * u - xc
            scale = np.maximum(0.01, 1.4826 * np.median(np.abs(err), axis=2))  # (m, k)
            w = 1 / (1 + (err / (2 * scale[..., None])) ** 2)
        gains[..., ch], costs[..., ch] = a, np.log1p((err / 0.02) ** 2).sum(2)
    return gains, costs


def _inverse_curve(y: np.ndarray, contrast: np.ndarray | float) -> np.ndarray:
    """The contrast change undone: u = (y - 0.5) / contrast + 0.5, at least 0 (the gammas' base)."""
    return np.maximum((y - 0.5) / contrast + 0.5, 0)


def _grid_fit(y: np.ndarray, x: np.ndarray, w0: np.ndarray, curved: bool) -> tuple[GradeFit, float]:
    """The best contrast, and with `curved` each channel's gamma (else 1), on a coarse then a fine grid, the
    gains in closed form for each; and its robust cost."""
    coarse = GAMMAS[::COARSE] if curved else np.ones(1)
    _, cost = _fit_at(CONTRASTS[::COARSE], np.repeat(coarse[:, None], 3, 1), y, x, w0)
    ci = int(np.argmin(cost.min(1).sum(1))) * COARSE  # the contrast whose channels' best gammas cost least
    contrasts = CONTRASTS[max(0, ci - COARSE + 1) : ci + COARSE]
    gammas = np.ones((1, 3))
    if curved:
        gi = np.argmin(cost[ci // COARSE], 0) * COARSE  # (3,) each channel's coarse gamma
        steps = np.arange(1 - COARSE, COARSE)[:, None]
        gammas = GAMMAS[np.clip(gi[None] + steps, 0, len(GAMMAS) - 1)]  # (k, 3): each channel's fine grid
    a, cost = _fit_at(contrasts, gammas, y, x, w0)
    best = int(np.argmin(cost.min(1).sum(1)))
    g, channel = np.argmin(cost[best], 0), np.arange(3)
    gains, picked = a[best, g, channel], gammas[g, channel]
    fit = GradeFit(
        (float(gains[0]), float(gains[1]), float(gains[2])),
        float(contrasts[best]),
        0.0,
        gammas=(float(picked[0]), float(picked[1]), float(picked[2])),
    )
    return fit, float(cost[best, g, channel].sum())


def fit_pairs(y: np.ndarray, x: np.ndarray, max_pairs: int = 2000) -> GradeFit:
    """Robust (Cauchy, re-weighted least squares) fit of the inverse map to pixel pairs (n, 3) each: the
    contrast, and each channel's gamma, on a coarse then a fine grid, the three gains in closed form for each."""
    if len(y) > max_pairs:
        pick = np.linspace(0, len(y) - 1, max_pairs).astype(np.int64)
        y, x = y[pick], x[pick]
    w0 = ((y > CLIPPED_LOW) & (y < CLIPPED_HIGH) & (x > CLIPPED_LOW) & (x < CLIPPED_HIGH)).astype(np.float64)
    if len(y) == 0 or w0.sum(0).min() < 16:
        return IDENTITY_FIT
    plain, plain_cost = _grid_fit(y, x, w0, curved=False)
    curved, curved_cost = _grid_fit(y, x, w0, curved=True)
    edges = {float(GAMMAS[0]), float(GAMMAS[-1])}
    trusted = curved_cost < GAMMA_GAIN * plain_cost and not edges.intersection(curved.gammas)
    fit = curved if trusted else plain
    residual = fit.gains * _inverse_curve(y, fit.contrast) ** (1 / np.asarray(fit.gammas)) - x
    return replace(
        fit,
        inliers=float((np.abs(residual) < 0.03)[w0 > 0].mean()),
        black=_clipped_mean(y <= CLIPPED_LOW, x),
        white=_clipped_mean(y >= CLIPPED_HIGH, x),
    )


def _clipped_mean(clipped: np.ndarray, x: np.ndarray, least: int = 8) -> tuple[float, float, float] | None:
    """Per channel, the mean reference value where the frame is clipped (None when too few pixels are)."""
    counts = clipped.sum(0)
    if counts.min() < least:
        return None
    m = (x * clipped).sum(0) / counts
    return (float(m[0]), float(m[1]), float(m[2]))


def fit_grade(image: np.ndarray, reference: np.ndarray, width: int = FIT_WIDTH) -> GradeFit:
    """The inverse of the lighting change between `image` and `reference`, two frames of one shot
    (float32 RGB 0..1, H,W,3; the reference may be another size)."""
    return fit_pairs(*aligned_pairs(image, reference, width))


def matched_grade(image: np.ndarray, reference: np.ndarray, size: int = 33) -> np.ndarray:
    """`image` through the fitted inverse baked in a LUT of `size`: the classical matched grade, as an image
    (exactly what the regrade head's base LUT gives)."""
    lut = fit_grade(image, reference).lut(size)
    return apply_lut(image, lut)
