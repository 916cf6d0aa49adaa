"""OpenEXR frames through the OpenEXR 3.x python binding: RGB read and half/float write."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import OpenEXR

from .aspect import SQUARE, pixel_aspect
from .files import atomic_output
from .info import NO_MARGINS, Margins, MediaError
from .native import captured_output

_PIXEL_FORMATS = {np.dtype(np.float16): "gbrpf16le", np.dtype(np.float32): "gbrpf32le"}
_ALPHA_PIXEL_FORMATS = {np.dtype(np.float16): "gbrapf16le", np.dtype(np.float32): "gbrapf32le"}


@dataclass(frozen=True)
class ExrHeader:
    width: int
    height: int
    pix_fmt: str
    fps: Fraction | None
    pixel_aspect: Fraction = SQUARE
    timecode: str | None = None
    reel: str | None = None  # the standard `reelName` attribute
    # Pixels past the display window (overscan a CG render keeps for lens distortion): (left, top, right,
    # bottom) counts, all 0 for none. Frames are read, fixed and written over the display window alone.
    overscan: tuple[int, int, int, int] = (0, 0, 0, 0)
    # The channels besides the picture read as RGB and its alpha (a CG render's AOVs, depth, IDs), by name.
    layers: tuple[str, ...] = ()


@dataclass(frozen=True)
class ExrPart:
    """A part of a multi-part EXR after its first (a render's AOVs written as parts), as stored: its name, header,
    channels, and the size of its display window."""

    name: str
    header: dict[str, Any]
    channels: dict[str, npt.NDArray[Any]]
    size: tuple[int, int]  # width, height


@dataclass(frozen=True)
class ExrParts:
    """A multi-part EXR's first part's name (where its picture is read from) and its other parts."""

    first: str
    others: tuple[ExrPart, ...]


def _said(error: BaseException | None, lines: list[str]) -> str:
    """The one line worth keeping from an exception and what the library printed (paths dropped)."""
    for line in lines:
        if "EXR_ERR" in line:
            return line.split(") ", 1)[-1] if ") " in line else line
    text = str(error).strip() if error is not None else ""
    if text:
        return text.splitlines()[0]
    return lines[0] if lines else (type(error).__name__ if error is not None else "unknown error")


def _open(path: Path, header_only: bool) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    """(file, header, channels) of an EXR; channels is empty for header_only. MediaError when the library
    fails or prints that it could not read the pixels (it would hand back zeros for them)."""
    error: BaseException | None = None
    with captured_output() as said:
        try:  # the binding raises plain RuntimeError/ValueError/IndexError, also from header()/channels()
            f = OpenEXR.File(str(path), separate_channels=True, header_only=header_only)
            header = f.header()
            channels = {} if header_only else dict(f.channels())
        except Exception as e:
            error = e
    if error is not None:
        raise MediaError(f"not a readable EXR: {_said(error, said.lines)}", str(path))
    if any("EXR_ERR" in line or "Exception raised" in line for line in said.lines):
        raise MediaError(f"corrupt EXR pixel data: {_said(None, said.lines)}", str(path))
    if "dataWindow" not in header:
        raise MediaError("not a readable EXR: its header has no data window", str(path))
    views = _views(f, header)
    if (
        len(views) > 1
    ):  # the other eye would come back untouched beside a fixed one, or as a mono file's layer
        raise MediaError(
            f"a stereo EXR (views {', '.join(views)}): Rushes fixes one picture a frame, so one eye only; write "
            "each eye as a sequence of its own",
            str(path),
        )
    return f, header, channels


def _views(f: Any, header: dict[str, Any]) -> list[str]:
    """The views a file holds: its `multiView` list, else its parts' `view` names."""
    listed = header.get("multiView")
    if isinstance(listed, list | tuple):
        return [str(view) for view in listed]
    named = (part.header.get("view") for part in f.parts)
    return sorted({str(view) for view in named if isinstance(view, str) and view})


def _windows(header: dict[str, Any]) -> tuple[tuple[int, int, int, int], tuple[int, int, int, int]]:
    (dx0, dy0), (dx1, dy1) = header["dataWindow"]
    (vx0, vy0), (vx1, vy1) = header.get("displayWindow", header["dataWindow"])
    return (int(dx0), int(dy0), int(dx1), int(dy1)), (int(vx0), int(vy0), int(vx1), int(vy1))


# The names a renderer gives the layer of its picture (Blender's ViewLayer.Combined, a render's beauty), last
# part of the layer's name in any case: where a file has no plain R, G, B, the layer of R, G, B read as it.
_PICTURE_LAYERS = frozenset({"combined", "beauty", "rgba", "rgb"})


def _picture_rank(layer: str) -> tuple[bool, int, str]:
    """The order in which layers named as the picture are read as it: a composite's first, then the fewest
    parts to the name (a render's own before a pass nested in it)."""
    return (layer.split(".", 1)[0].casefold() != "composite", layer.count("."), layer)


def _rgb_names(names: list[str], path: Path) -> list[str]:
    for candidate in (["R", "G", "B"], ["r", "g", "b"]):
        if all(c in names for c in candidate):
            return candidate
    layers = [
        layer
        for layer in sorted({n.rsplit(".", 1)[0] for n in names if "." in n})
        if all(f"{layer}.{c}" in names for c in "RGB")
    ]
    named = [layer for layer in layers if layer.rsplit(".", 1)[-1].casefold() in _PICTURE_LAYERS]
    if named or len(layers) == 1:  # Blender's composited Composite.Combined before a view layer's Combined
        return [f"{min(named or layers, key=_picture_rank)}.{c}" for c in "RGB"]
    if layers:  # a render's passes (AO, albedo, diffuse...): fixing the first by name would fix the wrong one
        raise MediaError(
            f"EXR has no plain R, G, B and several layers of them ({', '.join(layers)}), none of them named as "
            "the picture (beauty, Combined, rgba): write the picture as R, G, B or as a layer named beauty",
            str(path),
        )
    for gray in ("Y", "L"):
        if gray in names:
            return [gray] * 3
    if len(names) == 1:
        return names * 3
    raise MediaError(f"EXR has no RGB channels (it has {', '.join(sorted(names))})", str(path))


def _alpha_name(names: list[str], rgb: list[str]) -> str | None:
    """The alpha channel beside the RGB channels `rgb` (A, a, or LAYER.A), or None."""
    layer = rgb[0].rsplit(".", 1)[0] + "." if "." in rgb[0] else ""
    for candidate in (f"{layer}A", f"{layer}a"):
        if candidate in names and candidate not in rgb:
            return candidate
    return None


def read_exr_header(path: Path, *, pixels: bool = True) -> ExrHeader:
    """Display size, pixel type and frame rate of an EXR. pixels=True reads (and so checks) the whole file;
    False reads the header alone (pix_fmt is then "unknown")."""
    f, header, channels = _open(path, header_only=not pixels)
    names = _channel_names(header)
    _rgb_names(
        names, path
    )  # a frame with no picture to read fails here, at ingest's header pass, not in a fix
    pix_fmt = "unknown"
    if pixels:
        names = list(channels)
        rgb = _rgb_names(names, path)
        dtype = channels[rgb[0]].pixels.dtype
        formats = _ALPHA_PIXEL_FORMATS if _alpha_name(names, rgb) else _PIXEL_FORMATS
        pix_fmt = formats.get(np.dtype(dtype), str(dtype))
    (dx0, dy0, dx1, dy1), (vx0, vy0, vx1, vy1) = _windows(header)
    fps = header.get("framesPerSecond")
    return ExrHeader(
        width=vx1 - vx0 + 1,
        height=vy1 - vy0 + 1,
        pix_fmt=pix_fmt,
        fps=Fraction(fps) if isinstance(fps, Fraction | int) and fps else None,
        pixel_aspect=pixel_aspect(header.get("pixelAspectRatio")),
        timecode=_timecode_text(header.get("timeCode")),
        reel=_text(header.get("reelName")),
        overscan=(max(0, vx0 - dx0), max(0, vy0 - dy0), max(0, dx1 - vx1), max(0, dy1 - vy1)),
        layers=_layer_names(names, path) + tuple(f"part {part.name()}" for part in f.parts[1:]),
    )


def _layer_names(names: list[str], path: Path) -> tuple[str, ...]:
    try:
        picture = _picture_names(names, path)
    except MediaError:  # no picture to read: reading the pixels says so
        return ()
    return tuple(n for n in names if n not in picture)


def _channel_names(header: dict[str, Any]) -> list[str]:
    return sorted(str(getattr(c, "name", c)) for c in header.get("channels", ()))


def _picture_names(names: list[str], path: Path) -> set[str]:
    """The channels an EXR is read as: its RGB (or a layer's, or grey) and the alpha beside them."""
    rgb = _rgb_names(names, path)
    alpha = _alpha_name(names, rgb)
    return {*rgb, *([alpha] if alpha else [])}


@dataclass(frozen=True)
class Beside:
    """What an EXR holds beside its picture, which a frame made from it keeps: its other channels (AOVs, depth,
    IDs) over its display window (grown by the overscan read), and its other parts."""

    layers: dict[str, npt.NDArray[Any]]
    parts: ExrParts | None = None


def read_exr_beside(path: Path, grow: Margins = NO_MARGINS) -> Beside:
    """read_exr_layers and read_exr_parts of one frame, reading its pixels at most once (none for a single-part
    file of the picture alone)."""
    f, header, _ = _open(path, header_only=True)
    names = _channel_names(header)
    others = [n for n in names if n not in _picture_names(names, path)]
    if not others and len(f.parts) < 2:
        return Beside({})
    f, header, channels = _open(path, header_only=False)
    data, _ = _windows(header)
    data_shape = (data[3] - data[1] + 1, data[2] - data[0] + 1)
    layers = {
        name: _placed(channels[name].pixels, data, _window(header, grow))
        for name in others
        if channels[name].pixels.shape == data_shape
    }
    return Beside(layers, _other_parts(f.parts) if len(f.parts) > 1 else None)


@dataclass(frozen=True)
class Kept:
    """What a frame made from an EXR keeps of its header: its attributes (read_exr_attributes) and, where its
    picture is a layer's (a Blender render's ViewLayer.Combined.R, .G, .B and .A), the channels to write the
    picture under (() for plain R, G, B)."""

    attributes: dict[str, Any]
    picture: tuple[str, ...]


def read_exr_kept(path: Path) -> Kept:
    """read_exr_attributes and the picture's layer channels of an EXR, its header read once."""
    _, header, _ = _open(path, header_only=True)
    names = _channel_names(header)
    rgb = _rgb_names(names, path)
    alpha = _alpha_name(names, rgb)
    picture = (*rgb, *([alpha] if alpha else [])) if "." in rgb[0] else ()
    return Kept(_kept_attributes(header), picture)


def read_exr_layers(path: Path, grow: Margins = NO_MARGINS) -> dict[str, npt.NDArray[Any]]:
    """An EXR's channels besides its picture (read_exr_header's `layers`: AOVs, depth, IDs), each over the
    display window (grown by `grow`) in its own type (half, float or uint, zero where the data window is not);
    {} when it has none, without reading the pixels. Subsampled channels are left out."""
    return read_exr_beside(path, grow).layers


def _window(header: dict[str, Any], grow: Margins) -> tuple[int, int, int, int]:
    """The display window grown by `grow`: what a frame is read over."""
    _, (vx0, vy0, vx1, vy1) = _windows(header)
    left, top, right, bottom = grow
    return vx0 - left, vy0 - top, vx1 + right, vy1 + bottom


def _placed(
    plane: npt.NDArray[Any], data: tuple[int, int, int, int], window: tuple[int, int, int, int]
) -> npt.NDArray[Any]:
    """A plane (or H,W,C planes) over the data window, cut or zero-padded to `window` (both x0, y0, x1, y1)."""
    (dx0, dy0, dx1, dy1), (wx0, wy0, wx1, wy1) = data, window
    if data == window:
        return plane
    out = np.zeros((wy1 - wy0 + 1, wx1 - wx0 + 1, *plane.shape[2:]), plane.dtype)
    x0, y0, x1, y1 = max(dx0, wx0), max(dy0, wy0), min(dx1, wx1), min(dy1, wy1)
    if x0 <= x1 and y0 <= y1:
        out[y0 - wy0 : y1 - wy0 + 1, x0 - wx0 : x1 - wx0 + 1] = plane[
            y0 - dy0 : y1 - dy0 + 1, x0 - dx0 : x1 - dx0 + 1
        ]
    return out


def read_exr_parts(path: Path) -> ExrParts | None:
    """The parts of a multi-part EXR besides the first, which the picture is read from, as stored (each with
    its own windows and channels); None for a single-part file."""
    return read_exr_beside(path).parts


def _other_parts(parts: list[Any]) -> ExrParts:
    others = []
    for part in parts[1:]:
        header = {k: v for k, v in part.header.items() if k not in ("channels", "chunkCount")}
        _, (vx0, vy0, vx1, vy1) = _windows(header)
        channels = {name: channel.pixels for name, channel in part.channels.items()}
        others.append(ExrPart(part.name(), header, channels, (vx1 - vx0 + 1, vy1 - vy0 + 1)))
    return ExrParts(parts[0].name(), tuple(others))


def _text(value: Any) -> str | None:
    """A text attribute's value, None for an empty or a non-text one."""
    return value.strip() or None if isinstance(value, str) else None


def _timecode_text(value: Any) -> str | None:
    """An EXR `timeCode` attribute as "HH:MM:SS:FF" (";FF" for drop-frame), or None."""
    try:
        parts = (int(value.hours), int(value.minutes), int(value.seconds), int(value.frame))
        drop = bool(value.dropFrame)
    except (AttributeError, TypeError, ValueError):
        return None
    hours, minutes, seconds, frame = parts
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}{';' if drop else ':'}{frame:02d}"


def _timecode_attribute(timecode: str) -> Any:
    """ "HH:MM:SS:FF" (or ";FF") as an EXR `timeCode` attribute."""
    value = OpenEXR.TimeCode()
    digits = [int(part) for part in timecode.replace(";", ":").split(":")]
    value.hours, value.minutes, value.seconds, value.frame = digits
    value.dropFrame = ";" in timecode
    return value


def read_exr(path: Path, grow: Margins = NO_MARGINS) -> npt.NDArray[np.float32]:
    """HxWx3 float32 RGB of the display window, grown by `grow` (the overscan a fix keeps; zero where the data
    window does not reach); values kept, may exceed 1 or be negative."""
    _, header, channels = _open(path, header_only=False)
    return _display(header, [channels[n].pixels for n in _rgb_names(list(channels), path)], path, grow)


def read_exr_alpha(path: Path, grow: Margins = NO_MARGINS) -> npt.NDArray[np.float32]:
    """HxW float32 alpha of the display window grown by `grow` (A beside the RGB channels; 1 where the file has
    none)."""
    _, header, channels = _open(path, header_only=False)
    names = list(channels)
    rgb = _rgb_names(names, path)
    alpha = _alpha_name(names, rgb)
    if alpha is None:
        x0, y0, x1, y1 = _window(header, grow)
        return np.ones((y1 - y0 + 1, x1 - x0 + 1), np.float32)
    return _display(header, [channels[alpha].pixels], path, grow)[..., 0]


def _display(
    header: dict[str, Any], planes: list[Any], path: Path, grow: Margins = NO_MARGINS
) -> npt.NDArray[np.float32]:
    """The planes stacked as HxWxC float32 over the display window grown by `grow` (zero where the data window
    is not)."""
    if any(p.ndim != 2 or p.shape != planes[0].shape for p in planes):
        raise MediaError("EXR with subsampled or mismatched channels is not supported", str(path))
    data = np.empty((*planes[0].shape, len(planes)), dtype=np.float32)
    for i, p in enumerate(planes):
        data[..., i] = p
    return _placed(data, _windows(header)[0], _window(header, grow))


def write_exr(
    path: Path,
    rgb: npt.NDArray[np.generic],
    *,
    half: bool = True,
    fps: Fraction | None = None,
    pixel_aspect: Fraction = SQUARE,
    timecode: str | None = None,
    attributes: Mapping[str, Any] | None = None,
    beside: Beside | None = None,
    overscan: Margins = NO_MARGINS,
    reel: str | None = None,
    picture: tuple[str, ...] = (),
) -> None:
    """Write HxWx3 float RGB (or HxWx4 RGBA: an A channel) as a scanline EXR (half or float; ZIP-compressed
    unless `attributes` name the compression of the frame it was made from), atomically, with its pixel aspect
    (`pixelAspectRatio`), timecode (`timeCode`, "HH:MM:SS:FF") and `attributes` (read_exr_attributes of the
    frame it was made from); should the library refuse one of those,
    the frame is written without them rather than not at all. `beside` (read_exr_beside of that frame): its
    other channels are written beside the picture as they are, those of the frame's size, and its other parts
    after the picture's, those whose display window is the frame's size. `overscan`: the frame's pixels past its
    display window (left, top, right, bottom), which its data window keeps around a display window at (0, 0).
    `reel`: the source's reel (tape) name, the standard `reelName` a conform goes by, unless `attributes` have one.
    `picture`: the layer's channels to write the picture under (read_exr_kept of the frame it was made from)."""
    pixels = np.ascontiguousarray(rgb, dtype=np.float16 if half else np.float32)
    header: dict[str, Any] = {
        "compression": OpenEXR.ZIP_COMPRESSION,  # unless the frame it was made from says otherwise
        **(attributes or {}),
        "type": OpenEXR.scanlineimage,
    }
    if fps:
        header["framesPerSecond"] = Fraction(fps)
    if pixel_aspect != SQUARE:
        header["pixelAspectRatio"] = float(pixel_aspect)
    if timecode is not None:
        header["timeCode"] = _timecode_attribute(timecode)
    if reel and "reelName" not in header:
        header["reelName"] = reel
    if any(overscan):
        left, top, right, bottom = overscan
        height, width = pixels.shape[:2]
        corner = np.array([width - left - 1, height - top - 1], np.int32)
        header["displayWindow"] = (np.zeros(2, np.int32), corner - np.array([right, bottom], np.int32))
        header["dataWindow"] = (np.array([-left, -top], np.int32), corner)
    error: Exception | None = None
    channels = _picture_channels(pixels, picture)
    for name, plane in (beside.layers if beside else {}).items():
        if plane.shape == pixels.shape[:2] and name not in channels and name not in ("R", "G", "B", "A"):
            channels[name] = np.ascontiguousarray(plane)
    shown = (pixels.shape[1] - overscan[0] - overscan[2], pixels.shape[0] - overscan[1] - overscan[3])
    parts = beside.parts if beside else None
    others = [p for p in (parts.others if parts else ()) if p.size == shown]

    def exr_file(head: dict[str, Any]) -> Any:
        if not others or parts is None:
            return OpenEXR.File(head, channels)
        first = OpenEXR.Part(head, channels, parts.first)
        return OpenEXR.File([first, *(OpenEXR.Part(p.header, p.channels, p.name) for p in others)])

    with atomic_output(path) as tmp:
        with captured_output() as said:  # the library prints its own account of a failed write
            try:
                exr_file(header).write(str(tmp))
            except Exception as e:
                error = e
            if error is not None and attributes:
                error = None
                try:
                    own = {k: v for k, v in header.items() if k not in attributes or k in _STRUCTURAL}
                    exr_file(own).write(str(tmp))
                except Exception as e:
                    error = e
        if error is not None:
            raise MediaError(f"cannot write EXR: {_said(error, said.lines)}", str(path))


def _picture_channels(pixels: npt.NDArray[Any], picture: tuple[str, ...]) -> dict[str, npt.NDArray[Any]]:
    """The picture's channels: R, G, B (A), or the layer's it was read from (`picture`), its alpha named
    beside them where the source had none."""
    count = pixels.shape[2]
    if not picture:
        return {"RGBA"[:count]: pixels}
    layer = picture[0].rsplit(".", 1)[0]
    names = [*picture[:3], picture[3] if len(picture) > 3 else f"{layer}.A"][:count]
    return {name: np.ascontiguousarray(pixels[..., i]) for i, name in enumerate(names)}


# Header attributes that describe a file's own layout, channels or views (or that write_exr sets itself): never
# carried over to a frame of RGB(A) channels and its own size. The compression is carried (a DWAA plate's fix
# written as ZIP would take several times its space), with its DWA level.
_STRUCTURAL = frozenset(
    {
        "channels",
        "chunkCount",
        "dataWindow",
        "deepImageState",
        "displayWindow",
        "framesPerSecond",
        "idManifest",
        "lineOrder",
        "multiView",
        "name",
        "originalDataWindow",
        "pixelAspectRatio",
        "preview",
        "screenWindowCenter",
        "screenWindowWidth",
        "tiles",
        "timeCode",
        "type",
        "version",
        "view",
    }
)


def read_exr_attributes(path: Path) -> dict[str, Any]:
    """An EXR's header attributes a frame made from it keeps: its primaries (`chromaticities`), white point and
    luminance, owner, comments, camera and lens metadata, a vendor's own; everything but the file's layout
    (_STRUCTURAL), which the new frame has for itself."""
    _, header, _ = _open(path, header_only=True)
    return _kept_attributes(header)


def _kept_attributes(header: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in header.items() if key not in _STRUCTURAL}
