"""Pixel array conversions between uint8/uint16 and float32 0..1 RGB."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from .info import MediaError

_INV255 = np.float32(1.0 / 255.0)
_INV65535 = np.float32(1.0 / 65535.0)


def check_rgb(
    rgb: npt.NDArray[np.generic], width: int | None = None, height: int | None = None, *, alpha: bool = False
) -> None:
    """MediaError unless `rgb` is an HxWx3 array (of the given size when given), or HxWx4 RGBA with `alpha`."""
    if rgb.ndim != 3 or rgb.shape[2] not in ((3, 4) if alpha else (3,)):
        shape = "HxWx3 RGB or HxWx4 RGBA" if alpha else "HxWx3 RGB"
        raise MediaError(f"a frame must be an {shape} array, got shape {rgb.shape}")
    if (width is not None and rgb.shape[1] != width) or (height is not None and rgb.shape[0] != height):
        raise MediaError(f"a frame of {rgb.shape[1]}x{rgb.shape[0]} does not fit a {width}x{height} output")
    if rgb.dtype not in (np.uint8, np.uint16) and not np.issubdtype(rgb.dtype, np.floating):
        raise MediaError(f"frames must be uint8, uint16 or float (0..1), got {rgb.dtype}")


def uint8_to_float(a: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
    out = a.astype(np.float32)  # cast then scale in place: faster than a mixed-type multiply
    out *= _INV255
    return out


def uint16_to_float(a: npt.NDArray[np.uint16]) -> npt.NDArray[np.float32]:
    out = a.astype(np.float32)
    out *= _INV65535
    return out


# Conversions run strip by strip (rows of at most this many values): the float32 scratch of one strip is
# 4 MB, where a whole 4K frame's would be 100 MB (the same values, bit for bit; faster, as it stays in cache).
STRIP_VALUES = 1 << 20


def _quantize(rgb: npt.NDArray[np.floating], peak: float, dtype: type[np.generic]) -> npt.NDArray[np.generic]:
    if rgb.ndim < 2 or rgb.size <= STRIP_VALUES:
        return _quantize_strip(rgb, peak, dtype)
    out = np.empty(rgb.shape, dtype)
    step = max(1, STRIP_VALUES // max(1, rgb[0].size))
    for top in range(0, rgb.shape[0], step):
        out[top : top + step] = _quantize_strip(rgb[top : top + step], peak, dtype)
    return out


def _quantize_strip(
    rgb: npt.NDArray[np.floating], peak: float, dtype: type[np.generic]
) -> npt.NDArray[np.generic]:
    scaled = np.multiply(rgb, np.float32(peak), dtype=np.float32)
    np.nan_to_num(scaled, copy=False, nan=0.0)
    np.clip(scaled, 0.0, peak, out=scaled)
    scaled += np.float32(0.5)
    return scaled.astype(dtype)


def to_uint8(rgb: npt.NDArray[np.generic]) -> npt.NDArray[np.uint8]:
    """uint8 RGB from uint8, uint16 or float 0..1 (clipped, rounded) RGB."""
    if rgb.dtype == np.uint8:
        return rgb  # type: ignore[return-value]
    if rgb.dtype == np.uint16:
        return _quantize(uint16_to_float(rgb), 255.0, np.uint8)  # type: ignore[arg-type,return-value]
    return _quantize(rgb, 255.0, np.uint8)  # type: ignore[arg-type,return-value]


def to_uint16(rgb: npt.NDArray[np.generic]) -> npt.NDArray[np.uint16]:
    """uint16 RGB from uint8 (x257), uint16 or float 0..1 (clipped, rounded) RGB."""
    if rgb.dtype == np.uint16:
        return rgb  # type: ignore[return-value]
    if rgb.dtype == np.uint8:
        return rgb.astype(np.uint16) * np.uint16(257)  # type: ignore[no-any-return]
    return _quantize(rgb, 65535.0, np.uint16)  # type: ignore[arg-type,return-value]


def to_float32(rgb: npt.NDArray[np.generic]) -> npt.NDArray[np.float32]:
    """float32 RGB (uint8/uint16 scaled to 0..1, floats kept as they are)."""
    if rgb.dtype == np.uint8:
        return uint8_to_float(rgb)  # type: ignore[arg-type]
    if rgb.dtype == np.uint16:
        return uint16_to_float(rgb)  # type: ignore[arg-type]
    return np.asarray(rgb, dtype=np.float32)
