"""A frame's alpha channel (its coverage, 0..1): which pixel formats carry one, reading it, joining it to RGB.

The heads work on RGB. A fix keeps the source's alpha beside them: `read_alpha` (engine.media.decode) yields
it frame by frame, and `with_alpha` joins it to a fixed frame as a fourth channel, resized when the fix
changed the frame's size (upscale). The writers take HxWx4 frames where their format holds alpha: PNG, TIFF
and DPX (8 or 16 bit), EXR (an A channel) and ProRes 4444 (`ALPHA_PIX_FMT`); JPEG and H.264 have none.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

import av
import cv2
import numpy as np
import numpy.typing as npt

from .frames import bit_depth, rotation_of, upright
from .info import MediaError
from .pixels import uint8_to_float, uint16_to_float

F32 = npt.NDArray[np.float32]
U8 = npt.NDArray[np.uint8]
U16 = npt.NDArray[np.uint16]

# The ProRes pixel format that holds alpha (prores_ks writes it as 4444).
ALPHA_PIX_FMT = "yuva444p10le"


def has_alpha(pix_fmt: str | None) -> bool:
    """Whether an FFmpeg pixel format (as probe reports it; EXR reports gbrapf16le/gbrapf32le) has alpha."""
    if not pix_fmt:
        return False
    try:
        return any(c.is_alpha for c in av.VideoFormat(pix_fmt).components)
    except (ValueError, TypeError):
        return False


def alpha_of(frame: av.VideoFrame) -> F32:
    """HxW float32 alpha of a decoded frame, turned upright as its pixels are (opaque when it has none)."""
    if not has_alpha(frame.format.name):
        return np.ones((frame.height, frame.width), np.float32)
    if bit_depth(frame.format.name) > 8:
        plane = uint16_to_float(cast(U16, frame.to_ndarray(format="rgba64le")[..., 3]))
    else:
        plane = uint8_to_float(cast(U8, frame.to_ndarray(format="rgba")[..., 3]))
    return cast(F32, upright(plane, rotation_of(frame)))


def with_alpha(rgb: npt.NDArray[Any], alpha: F32) -> F32:
    """The HxWx4 float32 frame of `rgb` (float 0..1, or uint8/uint16) and `alpha`, the alpha resized to the
    frame's size when they differ (bicubic, kept within 0..1)."""
    height, width = rgb.shape[:2]
    if alpha.shape != (height, width):
        alpha = np.clip(cv2.resize(alpha, (width, height), interpolation=cv2.INTER_CUBIC), 0.0, 1.0)
    if rgb.dtype == np.uint8:
        colour = uint8_to_float(rgb)
    elif rgb.dtype == np.uint16:
        colour = uint16_to_float(rgb)
    else:
        colour = rgb.astype(np.float32, copy=False)
    return np.dstack([colour, alpha.astype(np.float32, copy=False)])


# Coverage at or below this is none: the grade leaves such a pixel as it was (transparent, or light added over
# nothing: a glow, fire), where dividing and multiplying back by a near-zero alpha would make noise of it.
COVERED = 1e-4


def premultiplied(path: str, pix_fmt: str | None) -> bool:
    """Whether a source's colour is stored multiplied by its alpha: an EXR's with an A channel (OpenEXR's rule).
    Other formats (PNG, ProRes 4444, TIFF and DPX as usually written) hold it straight."""
    return path.lower().endswith(".exr") and has_alpha(pix_fmt)


def unpremultiply(rgb: F32, alpha: F32) -> F32:
    """Premultiplied colour divided by its alpha where covered: the colour a grade should see."""
    coverage = np.where(alpha > COVERED, alpha, 1.0).astype(np.float32)[..., None]
    return cast(F32, (rgb / coverage).astype(np.float32, copy=False))


def premultiply(graded: F32, alpha: F32, source: F32) -> F32:
    """Graded straight colour multiplied back by its alpha where covered; elsewhere the `source` frame's pixels
    as they were (a grade that lifts black must not paint the transparent area)."""
    covered = (alpha > COVERED)[..., None]
    return cast(F32, np.where(covered, graded * alpha[..., None], source).astype(np.float32, copy=False))


class SourceAlpha:
    """The alpha of a source's frames by number, read once as the fix asks for ascending numbers."""

    def __init__(self, alphas: Iterable[tuple[int, F32]]) -> None:
        self._alphas = iter(alphas)

    def of(self, number: int) -> F32:
        """The alpha of source frame `number` (MediaError when the source has no such frame)."""
        for found, alpha in self._alphas:
            if found == number:
                return alpha
            if found > number:
                break
        raise MediaError(f"the source has no alpha for frame {number}")
