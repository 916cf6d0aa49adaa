"""Single image files (PNG, JPEG, DPX, TIFF, EXR): header, decode and atomic encode."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal, TypeVar

import av
import numpy as np
import numpy.typing as npt

from . import exr
from .alpha import alpha_of
from .aspect import SQUARE, pixel_aspect
from .dpx import (
    HEADER_BYTES,
    dpx_bit_depth,
    dpx_orientation,
    read_dpx_rate,
    read_dpx_timecode,
    with_dpx_header,
)
from .files import atomic_output
from .frames import PixelDepth, bit_depth, to_float32, to_uint8
from .info import NO_MARGINS, Margins, MediaError
from .pixels import check_rgb
from .pixels import to_uint8 as quantize8
from .pixels import to_uint16 as quantize16
from .png import read_colour_chunks, with_colour_chunks

# file extension -> (FFmpeg decoder/encoder, codec name reported by probe)
CODECS: dict[str, tuple[str, str]] = {
    ".png": ("png", "png"),
    ".jpg": ("mjpeg", "jpeg"),
    ".jpeg": ("mjpeg", "jpeg"),
    ".dpx": ("dpx", "dpx"),
    ".tif": ("tiff", "tiff"),
    ".tiff": ("tiff", "tiff"),
    ".exr": ("exr", "exr"),
}


@dataclass(frozen=True)
class ImageHeader:
    codec: str
    width: int
    height: int
    pix_fmt: str | None
    color_range: Literal["tv", "pc"] | None
    fps: Fraction | None = None
    pixel_aspect: Fraction = SQUARE
    timecode: str | None = None  # an EXR's or a DPX's own (engine.media.dpx); `fps` too
    reel: str | None = None  # an EXR's `reelName`
    overscan: tuple[int, int, int, int] = (0, 0, 0, 0)  # an EXR's pixels past its display window
    layers: tuple[str, ...] = ()  # an EXR's channels besides its picture (AOVs, depth, IDs)


def _codec(path: Path) -> tuple[str, str]:
    try:
        return CODECS[path.suffix.lower()]
    except KeyError:
        raise MediaError(f"unknown image type {path.suffix!r}", str(path)) from None


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise MediaError("frame file is missing", str(path)) from None
    except PermissionError:
        raise MediaError("cannot read: permission denied", str(path)) from None


def decode_av(path: Path) -> av.VideoFrame:
    """Decode one non-EXR image file with FFmpeg's image decoders."""
    return _decoded(path)[0]


def _decoded(path: Path) -> tuple[av.VideoFrame, Fraction, bytes]:
    """One non-EXR image file's frame, its pixel aspect (its header's) and its bytes."""
    decoder, name = _codec(path)
    data = _read_bytes(path)
    if not data:
        raise MediaError("empty file (0 bytes)", str(path))
    try:
        ctx: Any = av.CodecContext.create(decoder, "r")
        frames = ctx.decode(av.Packet(data)) or ctx.decode(None)
    except av.error.FFmpegError as e:
        raise MediaError(f"cannot decode {name} frame: {e.strerror or e}", str(path)) from None
    if not frames:
        raise MediaError(f"cannot decode {name} frame: truncated or not a {name} file", str(path))
    return frames[0], pixel_aspect(ctx.sample_aspect_ratio), data


def read_header(path: Path) -> ImageHeader:
    """Codec, size and pixel format of one image file (decodes it once)."""
    if path.suffix.lower() == ".exr":
        h = exr.read_exr_header(path)
        return ImageHeader(
            "exr", h.width, h.height, h.pix_fmt, None, h.fps, h.pixel_aspect, h.timecode, h.reel, h.overscan,
            h.layers,
        )  # fmt: skip
    if path.suffix.lower() in (".tif", ".tiff"):
        _check_tiff(path)
    frame, aspect, data = _decoded(path)
    dpx = path.suffix.lower() == ".dpx"
    if dpx and dpx_orientation(data[:HEADER_BYTES]) not in (0, 0xFFFF):  # 0xFFFF: not set, as 0
        raise MediaError(
            f"its DPX image orientation ({dpx_orientation(data[:HEADER_BYTES])}) has the picture mirrored or "
            "turned, which Rushes does not undo (its frames would be fixed and delivered as stored, upside down "
            "or reversed): write it left to right, top to bottom (orientation 0)",
            str(path),
        )
    timecode = read_dpx_timecode(data[:HEADER_BYTES]) if dpx else None
    rate = read_dpx_rate(data[:HEADER_BYTES]) if dpx else None
    ranges: dict[int, Literal["tv", "pc"]] = {1: "tv", 2: "pc"}
    color_range = ranges.get(int(frame.color_range))
    if color_range is None and frame.format.name.startswith("yuvj"):
        color_range = "pc"
    codec = _codec(path)[1]
    return ImageHeader(
        codec, frame.width, frame.height, frame.format.name, color_range, rate, aspect, timecode
    )


# TIFF frames refused by their tags: FFmpeg's decoder reads a tiled TIFF as black and a 16-bit float one as
# integers (a picture of wrong values), without a word, and lays out any orientation but the first as stored.
_ORIENTATION = 274  # the TIFF tag; 1: top-left
_FLOAT = 3  # SampleFormat: IEEE floating point


def _check_tiff(path: Path) -> None:
    """MediaError naming what to write instead, for a TIFF frame FFmpeg's decoder would misread (its tags only)."""
    import tifffile

    try:
        with tifffile.TiffFile(path) as tiff:
            page = tiff.pages.first
            tiled, sample, bits = page.is_tiled, int(page.sampleformat), int(page.bitspersample)
            orientation = int(page.tags.valueof(_ORIENTATION, 1))
    except (OSError, ValueError, IndexError, tifffile.TiffFileError):
        return  # the decoder says what is wrong with it
    why = None
    if tiled:
        why = "a tiled TIFF, which is read as black: write it in strips (scanlines)"
    elif sample == _FLOAT and bits == 16:
        why = "a 16-bit float (half) TIFF, which is read as integers: write it as 32-bit float, 16-bit integer or EXR"
    elif orientation != 1:
        why = (
            f"its TIFF orientation ({orientation}) has the picture mirrored or turned, which Rushes does not undo: "
            "write it top-left (orientation 1)"
        )
    if why is not None:
        raise MediaError(why, str(path))


def read_image(
    path: str | Path, depth: PixelDepth = "float32", grow: Margins = NO_MARGINS
) -> npt.NDArray[Any]:
    """HxWx3 RGB of one image file: float32 (EXR values kept as they are) or uint8; an EXR's over its display
    window grown by `grow` (its overscan)."""
    path = Path(path)
    if path.suffix.lower() == ".exr":
        rgb = exr.read_exr(path, grow)
        return quantize8(rgb) if depth == "uint8" else rgb
    frame = decode_av(path)
    if depth == "uint8" and bit_depth(frame.format.name) <= 8:
        return to_uint8(frame, hd_default_709=False)
    rgb = to_float32(frame, hd_default_709=False)
    return quantize8(rgb) if depth == "uint8" else rgb  # deep images: rounded, not truncated


def read_alpha_image(path: str | Path, grow: Margins = NO_MARGINS) -> npt.NDArray[np.float32]:
    """HxW float32 alpha (0..1) of one image file (an EXR's grown as read_image's); 1 everywhere when it has
    none."""
    path = Path(path)
    if path.suffix.lower() == ".exr":
        return exr.read_exr_alpha(path, grow)
    return alpha_of(decode_av(path))


def _encode_image(
    codec: str,
    rgb: npt.NDArray[Any],
    src_fmt: str,
    dst_fmt: str,
    options: dict[str, str],
    aspect: Fraction = SQUARE,
) -> bytes:
    ctx: Any = av.CodecContext.create(codec, "w")
    ctx.width, ctx.height, ctx.pix_fmt = rgb.shape[1], rgb.shape[0], dst_fmt
    if aspect != SQUARE:
        ctx.sample_aspect_ratio = aspect
    ctx.time_base = Fraction(1, 24)
    ctx.options = options
    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format=src_fmt)
    if dst_fmt != src_fmt:
        frame = frame.reformat(format=dst_fmt)
    packets = ctx.encode(frame) + ctx.encode(None)
    return b"".join(bytes(p) for p in packets)


def encode_image_bytes(
    ext: str,
    rgb: npt.NDArray[Any],
    *,
    bits: int | None = None,
    quality: int = 95,
    pixel_aspect: Fraction = SQUARE,
) -> bytes:
    """Encoded bytes of a PNG or TIFF (8/16 bit), JPEG or DPX (8/10/12/16 bit) image from HxWx3 RGB, or from
    HxWx4 RGBA for all but JPEG; a pixel aspect other than 1 goes into the header."""
    ext = ext.lower()

    rgba = rgb.shape[2] == 4
    if ext == ".png":
        depth = bits or (8 if rgb.dtype == np.uint8 else 16)
        if depth == 8:
            fmt = "rgba" if rgba else "rgb24"
            return _encode_image("png", quantize8(rgb), fmt, fmt, {}, pixel_aspect)
        if depth == 16:
            src, dst = ("rgba64le", "rgba64be") if rgba else ("rgb48le", "rgb48be")
            return _encode_image("png", quantize16(rgb), src, dst, {}, pixel_aspect)
        raise MediaError(f"PNG frames are 8 or 16 bit, not {depth}")
    if ext in (".jpg", ".jpeg"):
        if rgba:
            raise MediaError("JPEG has no alpha channel; write .png, .tif, .dpx or .exr to keep it")
        q = str(min(31, max(1, round(1 + (100 - quality) * 0.3))))
        opts = {"qmin": q, "qmax": q, "b": "1000000000"}
        return _encode_image("mjpeg", quantize8(rgb), "rgb24", "yuvj444p", opts, pixel_aspect)
    if ext == ".dpx":
        depth = bits or (16 if rgba else 10)  # FFmpeg's DPX has no 10-bit format with alpha
        if depth == 8:
            fmt = "rgba" if rgba else "rgb24"
            return _encode_image("dpx", quantize8(rgb), fmt, fmt, {}, pixel_aspect)
        if depth in (10, 12) and not rgba:  # rounded here: swscale's 16 -> 10/12 bit step truncates
            top = (1 << depth) - 1
            fewer = (quantize16(rgb).astype(np.uint32) * top + 32767) // 65535
            fmt = f"gbrp{depth}le"
            return _encode_image("dpx", fewer.astype(np.uint16), fmt, fmt, {}, pixel_aspect)
        if depth == 16:
            fmt = "rgba64le" if rgba else "rgb48le"
            return _encode_image("dpx", quantize16(rgb), fmt, fmt, {}, pixel_aspect)
        raise MediaError(f"DPX frames are 8, 10, 12 or 16 bit (8 or 16 with alpha), not {depth}")
    if ext in (".tif", ".tiff"):
        depth = bits or (8 if rgb.dtype == np.uint8 else 16)
        lzw = {"compression_algo": "lzw"}
        if depth == 8:
            fmt = "rgba" if rgba else "rgb24"
            return _encode_image("tiff", quantize8(rgb), fmt, fmt, lzw, pixel_aspect)
        if depth == 16:
            fmt = "rgba64le" if rgba else "rgb48le"
            return _encode_image("tiff", quantize16(rgb), fmt, fmt, lzw, pixel_aspect)
        raise MediaError(f"TIFF frames are 8 or 16 bit, not {depth}")
    raise MediaError(f"cannot write {ext!r} images; use .png, .jpg, .dpx, .tif or .exr")


def write_image(
    path: str | Path,
    rgb: npt.NDArray[Any],
    *,
    bit_depth: int | None = None,
    quality: int = 95,
    fps: Fraction | None = None,
    pixel_aspect: Fraction = SQUARE,
    timecode: str | None = None,
    like: Path | None = None,
    layers_from: Path | None = None,
    overscan: Margins = NO_MARGINS,
    reel: str | None = None,
) -> None:
    """Write one frame (HxWx3 RGB, or HxWx4 RGBA) atomically; the format follows the extension (EXR: half
    unless bit_depth=32); its header says the pixel aspect when it is not 1, and an EXR's or a DPX's the
    frame rate `fps` and the frame's `timecode` (at `fps`, else 24). `like`: the frame it was made from, whose
    header it keeps where both are EXR (every attribute but the layout, and the layer its picture is in:
    exr.read_exr_kept) or both DPX
    (film and television headers, transfer: dpx.with_dpx_header; and its bit depth, unless `bit_depth` says
    one) or both PNG (its ICC profile, gamma and primaries: png.with_colour_chunks); unreadable, it is passed
    over.
    `layers_from`: the EXR frame whose other channels (AOVs, depth, IDs) an EXR keeps beside its picture, where
    they are of its size, and whose other parts after it (exr.read_exr_beside). `overscan`: an EXR's pixels
    past its display window (a frame read with them, MediaInfo.with_overscan), which its data window keeps.
    `reel`: the source's reel name, which an EXR says (`reelName`) where `like` gives none."""
    path = Path(path)
    check_rgb(rgb, alpha=True)
    if path.suffix.lower() == ".exr":
        kept = _from_exr(exr.read_exr_kept, like)
        exr.write_exr(
            path,
            rgb if rgb.dtype.kind == "f" else quantize16(rgb) / 65535.0,
            half=bit_depth != 32,
            fps=fps,
            pixel_aspect=pixel_aspect,
            timecode=timecode,
            attributes=None if kept is None else kept.attributes,
            beside=_from_exr(lambda source: exr.read_exr_beside(source, overscan), layers_from),
            overscan=overscan,
            reel=reel,
            picture=() if kept is None else kept.picture,
        )
        return
    source = _dpx_header(like)
    if bit_depth is None and path.suffix.lower() == ".dpx":  # a 12-bit scan's fix stays 12 bits
        bit_depth = _kept_dpx_depth(source, alpha=rgb.shape[2] == 4)
    data = encode_image_bytes(path.suffix, rgb, bits=bit_depth, quality=quality, pixel_aspect=pixel_aspect)
    if path.suffix.lower() == ".dpx":  # the industry headers FFmpeg leaves out, with the rate and timecode
        data = with_dpx_header(data, fps=fps, timecode=timecode, like=source)
    if path.suffix.lower() == ".png":  # the ICC profile, gamma and primaries FFmpeg leaves out
        data = with_colour_chunks(data, _png_colour(like))
    with atomic_output(path) as tmp:
        tmp.write_bytes(data)


_Taken = TypeVar("_Taken")


def _from_exr(read: Callable[[Path], _Taken], source: Path | None) -> _Taken | None:
    """What `read` takes from the EXR frame `source` (its attributes, its other channels); None when there is
    none, or it is not an EXR or cannot be read: a frame is written without them rather than not at all."""
    if source is None or source.suffix.lower() != ".exr":
        return None
    try:
        return read(source)
    except (MediaError, OSError):
        return None


def _kept_dpx_depth(source: bytes | None, alpha: bool) -> int | None:
    """The bit depth of the DPX frame a frame was made from, where a frame with or without alpha can have it
    (FFmpeg writes DPX with alpha at 8 or 16 bits only); None for the default."""
    depth = dpx_bit_depth(source)
    return depth if not alpha or depth in (8, 16) else None


def _png_colour(like: Path | None) -> list[bytes]:
    if like is None or like.suffix.lower() != ".png":
        return []
    try:
        return read_colour_chunks(like)
    except OSError:
        return []


def _dpx_header(like: Path | None) -> bytes | None:
    if like is None or like.suffix.lower() != ".dpx":
        return None
    try:
        with like.open("rb") as f:
            return f.read(HEADER_BYTES)
    except OSError:
        return None
