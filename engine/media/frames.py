"""Decoded frames: the Frame record and PyAV frame -> numpy RGB conversion."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, cast

import av
import numpy as np
import numpy.typing as npt
from av.video.reformatter import Colorspace, Interpolation

from .pixels import uint8_to_float, uint16_to_float

PixelDepth = Literal["uint8", "float32"]
U8 = npt.NDArray[np.uint8]
U16 = npt.NDArray[np.uint16]

_UNSPECIFIED_COLORSPACE = 2  # AVCOL_SPC_UNSPECIFIED
_ACCURATE = Interpolation.BILINEAR | Interpolation.ACCURATE_RND | Interpolation.FULL_CHR_H_INT


@dataclass(frozen=True)
class Frame:
    """One decoded picture: its frame number and HxWx3 RGB pixels (float32 0..1 or uint8)."""

    number: int
    rgb: npt.NDArray[Any]

    @property
    def height(self) -> int:
        return int(self.rgb.shape[0])

    @property
    def width(self) -> int:
        return int(self.rgb.shape[1])


def bit_depth(pix_fmt: str | None) -> int:
    """Bits per component of a PyAV/FFmpeg pixel format name (8 when unknown)."""
    return known_bit_depth(pix_fmt) or 8


def known_bit_depth(pix_fmt: str | None) -> int | None:
    """Bits per component of a PyAV/FFmpeg pixel format name; None when there is none or FFmpeg does not know
    it."""
    if not pix_fmt:
        return None
    try:
        return max(c.bits for c in av.VideoFormat(pix_fmt).components)
    except (ValueError, TypeError):
        return None


def exr_bit_depth(source_pix_fmt: str | None) -> int | None:
    """The bits an EXR made from a source of `source_pix_fmt` is written in: 32 (full float) where the source's
    pixels are 32-bit float (a float EXR plate: half would round it to 11 bits and turn a light past 65504 into
    infinity), else None (half)."""
    return 32 if known_bit_depth(source_pix_fmt) == 32 else None


def _reformat_kwargs(frame: av.VideoFrame, hd_default_709: bool) -> dict[str, Any]:
    # Untagged HD video is BT.709 by convention (players do the same); swscale alone would assume BT.601.
    if (
        hd_default_709
        and frame.height >= 720
        and frame.colorspace == _UNSPECIFIED_COLORSPACE
        and not frame.format.name.startswith(("rgb", "bgr", "gbr", "gray", "pal", "yuvj"))
    ):
        return {"src_colorspace": Colorspace.ITU709}
    return {}


def to_uint8(frame: av.VideoFrame, *, hd_default_709: bool = True) -> npt.NDArray[np.uint8]:
    """HxWx3 uint8 RGB of a decoded frame."""
    return cast(U8, frame.to_ndarray(format="rgb24", **_reformat_kwargs(frame, hd_default_709)))


def to_float32(frame: av.VideoFrame, *, hd_default_709: bool = True) -> npt.NDArray[np.float32]:
    """HxWx3 float32 RGB 0..1 of a decoded frame (through 16-bit RGB for sources deeper than 8 bits).

    8-bit YUV is converted with swscale's accurate rounding: its fast path (used by to_uint8 and
    by the ffmpeg CLI) darkens by about 1.2 code values, which would bias training and metrics.
    """
    kwargs = _reformat_kwargs(frame, hd_default_709)
    if bit_depth(frame.format.name) > 8:
        return uint16_to_float(cast(U16, frame.to_ndarray(format="rgb48le", **kwargs)))
    if frame.format.name.startswith(("yuv", "nv")):
        kwargs["interpolation"] = _ACCURATE
    return uint8_to_float(cast(U8, frame.to_ndarray(format="rgb24", **kwargs)))


def rotation_of(frame: av.VideoFrame) -> int:
    """The display rotation of a decoded frame (its display matrix, e.g. a phone held upright): 0, 90, 180
    or 270 degrees counter-clockwise."""
    try:
        degrees = float(frame.rotation or 0)
    except (AttributeError, TypeError, ValueError):
        return 0
    return (round(degrees / 90) % 4) * 90


def upright(rgb: npt.NDArray[Any], rotation: int) -> npt.NDArray[Any]:
    """Pixels turned as the display matrix asks (np.rot90 also turns counter-clockwise)."""
    turns = (rotation // 90) % 4
    return rgb if turns == 0 else np.ascontiguousarray(np.rot90(rgb, turns))


def converter(depth: PixelDepth, *, hd_default_709: bool = True) -> Any:
    """The frame -> ndarray function for a pixel depth; frames come out upright (display rotation applied)."""
    fn = to_uint8 if depth == "uint8" else to_float32
    return lambda frame: upright(fn(frame, hd_default_709=hd_default_709), rotation_of(frame))
