"""Pixel aspect: frames whose pixels are not square (anamorphic photography, some video formats).

A 2x anamorphic lens squeezes a 2.39:1 picture onto a sensor area of about 1.2:1, and the frames store it so,
with a pixel aspect of 2 (each pixel shows twice as wide as it is tall); DV and some HD formats have their own.
Movies carry it as the sample aspect ratio (SAR, MOV's `pasp`), DPX, PNG, TIFF and JPEG in their headers, EXR
as `pixelAspectRatio`. The heads work on the stored pixels; every file a fix writes carries the source's
pixel aspect, and review pictures are shown in square pixels (`square_size`, `desqueezed`), so a supervisor
sees the picture as the camera framed it in any player.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

SQUARE = Fraction(1)


def pixel_aspect(value: Any) -> Fraction:
    """A stored pixel aspect as a Fraction: 1 for none, 0 or unknown (FFmpeg's 0/1), a float to 1/1000."""
    try:
        aspect = Fraction(value).limit_denominator(1000) if value else SQUARE
    except (TypeError, ValueError, ZeroDivisionError):
        return SQUARE
    return aspect if aspect > 0 else SQUARE


def square_size(width: int, height: int, aspect: Fraction) -> tuple[int, int]:
    """The size of a picture of these stored pixels in square pixels, one side made smaller (never more pixels
    than stored): a 2x squeeze of 2880x2160 is 2880x1080; even sizes, for 4:2:0 review movies."""
    if aspect == SQUARE:
        return width, height
    if aspect > 1:
        width, height = width, max(2, round(height / aspect))
    else:
        width, height = max(2, round(width * aspect)), height
    return width + width % 2, height + height % 2


def desqueezed(rgb: npt.NDArray[Any], aspect: Fraction) -> npt.NDArray[Any]:
    """The frame in square pixels (square_size), area-averaged; the frame itself when its pixels are square."""
    if aspect == SQUARE:
        return rgb
    width, height = square_size(rgb.shape[1], rgb.shape[0], aspect)
    return np.asarray(cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA))
