"""The cleanup head's check of a neighbour's alignment before the neighbour fills the hole.

A neighbour aligned by one homography is right where the picture moves as the homography says, and wrong
across an undetected cut, on a part moving otherwise (a body, an arm), or where parallax bends the motion.
Nothing inside the hole says which (its pixels are the thing to remove), so the check reads the ring around
it: the mean absolute difference (over the channels) between the aligned neighbour and the target on the
ring's pixels the neighbour saw, carried into the hole by a gaussian-weighted mean of the nearby ring's
errors (`expected_error`, sigma SPREAD of the ring's reach; the whole ring's mean where no seen ring pixel is
near). A neighbour fills a pixel only where that expected error is below the check's `limit`: MAX_ERROR over
the error two aligned frames show from their noise alone (NOISE_ERROR times the target's noise sigma on the
ring, `noise_level`), so grainy footage is not refused for its grain. A neighbour that saw none of the ring
cannot be checked and fills nothing.
All of it on the box around the hole and its ring (`fill_check`): the cost follows the hole.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

MAX_ERROR = 0.05  # mean absolute difference (0..1) expected at a pixel, over the noise's, not trusted there
NOISE_ERROR = 2 * np.sqrt(1 / np.pi)  # mean |a - b| of two frames' independent gaussian noises, per sigma
NOISE_KERNEL = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float32)  # Immerkaer's noise estimator
SPREAD = 0.25  # the gaussian carrying the ring's error into the hole: sigma as a share of the ring's reach
SPREAD_PIXELS = 3.0  # that sigma at the (reduced) scale the expected error is computed at
MEAN_OF_CHANNELS = np.full((1, 3), 1 / 3, np.float32)  # cv2.transform: an RGB image's per-pixel channel mean
Box = tuple[int, int, int, int]  # y0, y1, x0, x1 (end exclusive)


@dataclass(frozen=True)
class FillCheck:
    """What a neighbour's alignment is checked against, at full resolution on `box` (the hole's box grown by
    the ring's reach): the target there, its hole, and the ring (pixels within reach of the hole, outside it)."""

    box: Box
    target: np.ndarray
    hole: np.ndarray
    ring: np.ndarray
    spread: float  # sigma (pixels) of the ring's error carried into the hole
    inner: Box  # the hole's own box, in `box`'s coordinates (where pixels are filled)
    limit: float  # expected errors at or above it are not trusted: MAX_ERROR over the target's noise's

    def expected(self, aligned: np.ndarray, seen: np.ndarray) -> np.ndarray:
        """The error expected at each pixel of the box for a neighbour `aligned` onto it, that saw the
        background where `seen`."""
        error = cv2.transform(cv2.absdiff(aligned, self.target), MEAN_OF_CHANNELS).reshape(aligned.shape[:2])
        return expected_error(error, self.ring & seen, self.spread)


def fill_check(target: np.ndarray, hole: np.ndarray, box: Box, inner: Box, reach: int) -> FillCheck:
    """The check for `target`'s `hole`: `box` holds every pixel within `reach` of it, `inner` the hole
    (both in frame coordinates)."""
    y0, y1, x0, x1 = box
    inside = hole[y0:y1, x0:x1]
    distance = cv2.distanceTransform((~inside).astype(np.uint8), cv2.DIST_L2, 5)
    ring = ~inside & (distance <= reach)  # the hole lies inside the box: in-box distances are the true ones
    crop = target[y0:y1, x0:x1]
    floor = NOISE_ERROR * noise_level(crop, ring & (distance >= 2))  # the hole's own pixels kept out
    hy0, hy1, hx0, hx1 = inner
    shifted = (hy0 - y0, hy1 - y0, hx0 - x0, hx1 - x0)
    return FillCheck(box, crop, inside, ring, SPREAD * reach, shifted, MAX_ERROR + floor)


def noise_level(image: np.ndarray, where: np.ndarray) -> float:
    """The noise sigma (per channel, image units) of `image` over the pixels `where`: the lower quartile
    of the absolute response of Immerkaer's difference-of-Laplacians kernel (zero on smooth ramps; the
    quartile keeps edges and most texture out), scaled to a gaussian noise's sigma (the kernel's response
    to it has sigma 6, and a quarter of |N(0, 1)| lies below 0.3186). 0 when `where` is empty."""
    if not where.any():
        return 0.0
    response = np.abs(cv2.filter2D(image, -1, NOISE_KERNEL, borderType=cv2.BORDER_REFLECT))
    return float(np.percentile(response[where], 25)) / (0.3186 * 6.0)


def expected_error(error: np.ndarray, seen: np.ndarray, spread: float) -> np.ndarray:
    """The alignment error (`error` where `seen`, the ring's pixels a neighbour saw) carried to every pixel:
    a gaussian-weighted mean of the nearby seen pixels' errors (sigma `spread`), and their mean over the
    whole ring where none is near; infinite everywhere when the neighbour saw none of the ring (its fill
    cannot be checked). Computed at a scale where the gaussian is SPREAD_PIXELS wide (a smooth field)."""
    weight = seen.astype(np.float32)
    total = float(weight.sum())
    if total == 0:
        return np.full(error.shape, np.inf, np.float32)
    mean = float((error * weight).sum()) / total
    h, w = error.shape
    shrink = max(1.0, spread / SPREAD_PIXELS)
    size = (max(round(w / shrink), 1), max(round(h / shrink), 1))

    def smooth(image: np.ndarray) -> np.ndarray:
        small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        return np.asarray(cv2.GaussianBlur(small, (0, 0), spread / shrink))

    num, den = smooth(error * weight), smooth(weight)
    field = np.where(den > 1e-3, num / np.maximum(den, 1e-6), mean).astype(np.float32)
    return cv2.resize(field, (w, h), interpolation=cv2.INTER_LINEAR) if shrink > 1 else field
