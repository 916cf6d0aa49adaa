"""Writing movies (H.264, ProRes 422 HQ, FFV1) and image sequences, atomically."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import av
import numpy as np
import numpy.typing as npt
from av.codec.context import Flags
from av.video.reformatter import ColorRange, Colorspace

from .alpha import ALPHA_PIX_FMT, has_alpha
from .aspect import SQUARE
from .audio import SoundCarrier, SoundSpan, carried_streams
from .files import prepare_output, temp_name
from .frames import bit_depth
from .images import write_image
from .info import BT709, NO_MARGINS, ColourTags, MediaError, Overscan
from .pixels import check_rgb, to_uint8, to_uint16
from .sequences import parse_sequence
from .threads import codec_threads
from .timecode import FrameTimecode, TimecodeError, normalize_timecode

Codec = Literal["h264", "prores", "dnxhr", "ffv1"]

_CONTAINERS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".mxf": "mxf"}
MOVIE_SUFFIXES = frozenset(_CONTAINERS)  # the movies MovieWriter writes, by extension
_ENCODERS: dict[str, tuple[str, str, set[str]]] = {
    # codec: (FFmpeg encoder, default pix_fmt, containers that can hold it)
    "h264": ("libx264", "yuv420p", {"mp4", "mov", "matroska"}),
    "prores": ("prores_ks", "yuv422p10le", {"mov", "mxf", "matroska"}),
    "dnxhr": ("dnxhd", "yuv422p10le", {"mxf", "mov", "matroska"}),
    "ffv1": ("ffv1", "bgr0", {"matroska", "mov"}),
}
# The RGB -> YUV matrix of each H.273 matrix number swscale knows (BT.709 for any other).
_MATRICES = {
    1: Colorspace.ITU709,
    5: Colorspace.ITU601,
    6: Colorspace.ITU601,
    7: Colorspace.SMPTE240M,
    9: Colorspace.BT2020,
    10: Colorspace.BT2020,
}


def _container_format(path: Path) -> str:
    try:
        return _CONTAINERS[path.suffix.lower()]
    except KeyError:
        raise MediaError(
            f"cannot write movies with extension {path.suffix!r}; use .mp4, .mov, .mkv or .mxf"
        ) from None


def _subsampled_size(pix_fmt: str, width: int, height: int) -> tuple[int, int]:
    """The size rounded up to what the pixel format's chroma subsampling needs (even for 4:2:0)."""
    sub_w = any(t in pix_fmt for t in ("420", "422", "411", "410", "nv12", "nv21"))
    sub_h = any(t in pix_fmt for t in ("420", "410", "nv12", "nv21"))
    return width + (width % 2 if sub_w else 0), height + (height % 2 if sub_h else 0)


FULL_CHROMA_PIX_FMT = "yuv444p10le"  # ProRes 4444 without alpha


def prores_pix_fmt(source_pix_fmt: str | None, alpha: bool) -> str | None:
    """The pixel format of a ProRes made from frames of `source_pix_fmt`: 4444 with alpha where it keeps alpha,
    4444 where the source has full chroma (a 4444 camera file, RGB frames: EXR, DPX, PNG), so a fix does not
    halve it; None (422 HQ) for a subsampled or grey source."""
    if alpha:
        return ALPHA_PIX_FMT
    return FULL_CHROMA_PIX_FMT if _full_chroma(source_pix_fmt) else None


def _full_chroma(pix_fmt: str | None) -> bool:
    """Whether frames of an FFmpeg pixel format hold colour at every pixel (not subsampled, not grey)."""
    try:
        described = av.VideoFormat(pix_fmt or "", 2, 2)
    except (ValueError, TypeError):
        return False
    colour = len(described.components) >= 3
    return colour and (described.chroma_width(), described.chroma_height()) == (2, 2)


# A hole in a shot's frame numbers longer than this is a pause (a screen recorder paused, a render's missing
# chunk), not frames dropped: a movie leaves its frame times empty (MovieWriter.skip) rather than holding a frame
# over them, and interpolate does not make frames there.
PAUSE_SECONDS = 2


def pause_frames(fps: Fraction | float) -> int:
    """The most frames a hole holds before it is a pause (PAUSE_SECONDS at `fps`)."""
    return max(1, round(PAUSE_SECONDS * float(fps)))


# FFmpeg's field orders (AVFieldOrder) of a scan probe reports: TT and BB (each field coded in its own order).
_FIELD_ORDERS = {"top field first": 2, "bottom field first": 3}
# The same orders as interleaved fields (AVFieldOrder TB and BT: QuickTime's `fiel` 9 and 14), as ProRes codes an
# interlaced frame; TT and BB above are H.264's (engine.media.probe).
_INTERLEAVED = {2: 4, 3: 5}

# The smallest frame FFmpeg's DNxHR encoder takes.
DNXHR_MIN_SIZE = (256, 120)

# The edit rates an MXF holds (SMPTE ST 326's content package rates, all FFmpeg's MXF muxer writes): film and
# broadcast rates and their multiples up to 120. Another rate (a 12 fps time-lapse, a 15 fps screen recording)
# goes into a .mov.
MXF_RATES = frozenset(
    Fraction(rate) / scale
    for rate in (24, 25, 30, 48, 50, 60, 72, 75, 90, 96, 100, 120)
    for scale in ((1, Fraction(1001, 1000)) if rate % 24 == 0 or rate % 30 == 0 else (1,))
)


def mxf_rate_problem(fps: Fraction | int | float) -> str | None:
    """Why an MXF cannot hold frames at `fps`, in a clause naming the rates it holds; None where it can."""
    rate = Fraction(fps).limit_denominator(1001)
    if rate in MXF_RATES:
        return None
    shown = str(rate.numerator) if rate.denominator == 1 else f"{float(rate):.3f}"
    return (
        "an MXF holds only film and broadcast rates (23.976, 24, 25, 29.97, 30, 47.952, 48, 50, 59.94, 60 and "
        f"their multiples up to 120), not {shown} fps"
    )


def dnxhr_pix_fmt(source_pix_fmt: str | None) -> str:
    """The pixel format of a DNxHR made from frames of `source_pix_fmt`: 444 for full chroma, else 4:2:2, at 10
    bits (HQX) unless the source has 8 (HQ)."""
    if _full_chroma(source_pix_fmt):
        return FULL_CHROMA_PIX_FMT
    return "yuv422p" if source_pix_fmt and bit_depth(source_pix_fmt) <= 8 else "yuv422p10le"


def _dnxhr_profile(pix_fmt: str) -> str:
    if "444" in pix_fmt:
        return "dnxhr_444"
    return "dnxhr_hqx" if bit_depth(pix_fmt) > 8 else "dnxhr_hq"


def _checked_codec(path: Path, codec: str, width: int, height: int, fps: Fraction) -> tuple[str, str, str]:
    """(FFmpeg encoder, default pixel format, container format) of a movie of `codec` at `path`, this size and
    rate; MediaError in one line for a codec, container, size or rate that cannot be written."""
    if codec not in _ENCODERS:
        raise MediaError(f"unknown codec {codec!r}; use one of {', '.join(_ENCODERS)}")
    encoder, default_fmt, containers = _ENCODERS[codec]
    fmt = _container_format(path)
    if fmt not in containers:
        raise MediaError(f"{codec} cannot go into a {path.suffix} file; use {', '.join(sorted(containers))}")
    if width <= 0 or height <= 0:
        raise MediaError(f"movie size {width}x{height} is not positive")
    rate_problem = mxf_rate_problem(fps) if fmt == "mxf" else None
    if rate_problem is not None:
        raise MediaError(f"{rate_problem}: write a .mov instead")
    if codec == "dnxhr" and (width < DNXHR_MIN_SIZE[0] or height < DNXHR_MIN_SIZE[1]):
        raise MediaError(
            f"DNxHR takes frames of at least {DNXHR_MIN_SIZE[0]}x{DNXHR_MIN_SIZE[1]}, not {width}x{height}: "
            "write ProRes or a sequence"
        )
    return encoder, default_fmt, fmt


class MovieWriter:
    """Encode RGB frames into a movie; the file appears at `path` only when closed without error.

    codec: "h264" (libx264, yuv420p, `crf`, `preset`), "prores" (prores_ks profile 3 = 422 HQ,
    yuv422p10le; with pix_fmt yuva444p10le, ALPHA_PIX_FMT, 4444 with alpha), "dnxhr" (Avid's: HQX for
    yuv422p10le, HQ for yuv422p, 444 for yuv444p10le; frames of DNXHR_MIN_SIZE or more) or "ffv1" (lossless,
    bgr0).
    Frames are HxWx3 uint8, uint16 or float 0..1 RGB; HxWx4 RGBA where the pixel format has alpha.
    H.264 needs even dimensions: odd ones are padded by one edge pixel (pad_odd=True) or refused.
    MP4/MOV get their index up front (faststart) so players and uploads can stream them.
    `options` go to the encoder as-is (e.g. {"g": "12"} for a keyframe every 12 frames).
    Colour: `colour` (engine.media.info.ColourTags; default BT.709): the matrix RGB is turned into YUV with, and
    the primaries, transfer and matrix tagged in the stream; limited range for YUV. The timecode of the first
    frame ("HH:MM:SS:FF") is written into the container, where probe() reads it back, and the `reel` name
    beside it in a .mov, or as an .mxf's tape. `pixel_aspect` (other than 1: anamorphic frames) is the stream's
    sample aspect ratio.
    Sound: `sound` (engine.media.audio.SoundSpan) carries a movie's sound from that moment on, cut at the last
    frame's end: every stream as 24-bit PCM in .mov/.mkv/.mxf, the first as AAC in .mp4, each with its language and
    name (engine.media.audio.track_tags). No subtitles are written (a fix says it leaves a daily's out).
    `tags` (MediaInfo.tags: a camera's make, model, creation time) go into the container as they are: in a
    .mov/.mp4 as QuickTime metadata keys, where Apple's tools read them; an .mxf keeps its creation time only.
    `scan` (MediaInfo.interlaced: "top field first" or "bottom field first") says the frames hold two fields:
    H.264 is coded interlaced in that order, and a .mov says the order (its `fiel` atom) for ProRes and DNxHR.
    """

    def __init__(
        self,
        path: str | Path,
        fps: Fraction | int | float,
        width: int,
        height: int,
        codec: Codec = "h264",
        timecode: str | None = None,
        crf: int = 18,
        pix_fmt: str | None = None,
        *,
        preset: str = "medium",
        pad_odd: bool = True,
        faststart: bool = True,
        options: dict[str, str] | None = None,
        colour: ColourTags | None = None,
        sound: SoundSpan | None = None,
        pixel_aspect: Fraction = SQUARE,
        reel: str | None = None,
        tags: Mapping[str, str] | None = None,
        scan: str | None = None,
    ) -> None:
        self.path = Path(path)
        self.fps = Fraction(fps).limit_denominator(1001) if isinstance(fps, float) else Fraction(fps)
        encoder, default_fmt, fmt = _checked_codec(self.path, codec, width, height, self.fps)
        self.codec = codec
        self.colour = colour or BT709
        self.pixel_aspect = pixel_aspect
        self.width, self.height = width, height
        self.pix_fmt = pix_fmt or default_fmt
        self._padded = _subsampled_size(self.pix_fmt, width, height)
        if self._padded != (width, height) and not pad_odd:
            raise MediaError(
                f"{codec} {self.pix_fmt} needs even dimensions, got {width}x{height}; pad or crop one pixel"
            )
        self.timecode = self._check_timecode(timecode)
        self._field_order = _FIELD_ORDERS.get(scan or "")
        self._field_graph: Any = None  # _fields' filter, made at the first frame
        self.frames_written = 0
        self._position = 0  # the next frame's place in frames: frames written and frames skipped (skip())
        self._last: av.VideoFrame | None = None
        self._number: int | None = None  # the number of the last frame given to write_at
        self._tmp = temp_name(prepare_output(self.path))
        self._deep = bit_depth(self.pix_fmt) > 8
        self._yuv = self.pix_fmt.startswith("yuv")
        self._channels = 4 if has_alpha(self.pix_fmt) else 3
        self._container: Any = None
        self._sounds: list[SoundCarrier] = []
        try:
            flags = ("+faststart" if faststart else "") + ("+use_metadata_tags" if tags else "")
            muxer = {"movflags": flags} if flags and fmt in ("mp4", "mov") else {}
            self._container = av.open(str(self._tmp), "w", format=fmt, options=muxer)
            self._container.metadata.update(tags or {})
            self._stream = self._add_stream(encoder, codec, crf, preset, options or {})
            self._tag_timecode(fmt, reel)
            if sound is not None:
                for index in carried_streams(sound.path, fmt) or [0]:  # none: "has no sound to carry"
                    self._sounds.append(SoundCarrier(self._container, fmt, sound, index))
        except MediaError:
            self._discard()
            raise
        except av.error.FFmpegError as e:
            self._discard()
            raise MediaError(f"cannot start encoding {codec}: {e.strerror or e}", str(self.path)) from None

    def _tag_timecode(self, fmt: str, reel: str | None) -> None:
        """The first frame's timecode where probe() reads it back: an MP4's or MOV's stream, another container's
        own tags. The reel name goes beside it in a .mov (its timecode track's source reference), and in an .mxf
        as its tape (physical source package: the tape name Avid and an EDL conform by), timecode or not."""
        if reel and fmt == "mxf":
            self._container.metadata["reel_name"] = reel
        if not self.timecode:
            return
        target = self._stream if fmt in ("mp4", "mov") else self._container
        target.metadata["timecode"] = self.timecode
        if reel and fmt == "mov":  # MP4's timecode track has no source reference
            self._stream.metadata["reel_name"] = reel

    def _check_timecode(self, timecode: str | None) -> str | None:
        if timecode is None:
            return None
        try:
            return normalize_timecode(timecode, self.fps)
        except TimecodeError as e:
            raise MediaError(str(e), str(self.path)) from None

    def _add_stream(self, encoder: str, codec: str, crf: int, preset: str, extra: dict[str, str]) -> Any:
        stream = self._container.add_stream(encoder, rate=self.fps)
        stream.width, stream.height = self._padded
        stream.pix_fmt = self.pix_fmt
        ctx = stream.codec_context
        ctx.thread_count = codec_threads()  # 0: FFmpeg picks the thread count, like the ffmpeg CLI
        ctx.thread_type = "AUTO"  # frame threads where the encoder has them (PyAV defaults to slices)
        ctx.time_base = 1 / self.fps
        if self.pixel_aspect != SQUARE:  # the SAR in the stream and MOV's pasp atom
            ctx.sample_aspect_ratio = self.pixel_aspect
        # interlaced frames: the field order in the stream and MOV's fiel atom
        if self._field_order is not None and codec == "prores":  # coded as interleaved fields, each frame
            ctx.field_order = _INTERLEAVED[self._field_order]  # flagged in the source's order (_fields)
            ctx.flags = int(ctx.flags) | int(Flags.interlaced_dct) | int(Flags.interlaced_me)
        elif self._field_order is not None:  # DNxHR has no interlaced coding: the container says it alone
            ctx.field_order = self._field_order
        if self._yuv:
            ctx.color_range = ColorRange.MPEG if not self.pix_fmt.startswith("yuvj") else ColorRange.JPEG
            ctx.colorspace = self.colour.matrix
            ctx.color_primaries = self.colour.primaries
            ctx.color_trc = self.colour.transfer
        opts: dict[str, str] = {}
        if codec == "h264":
            opts = {"crf": str(crf), "preset": preset}
            if self._field_order is not None:  # coded as two fields, in the source's order
                top = self._field_order == _FIELD_ORDERS["top field first"]
                opts["x264-params"] = f"interlaced=1:{'tff' if top else 'bff'}=1"
        elif codec == "prores":  # 4444 for full chroma (and alpha), else 422 HQ
            opts = {"profile": "4" if "444" in self.pix_fmt else "3", "vendor": "apl0"}
        elif codec == "dnxhr":  # 444, HQX (10-bit 4:2:2) or HQ (8-bit), as the pixel format says
            opts = {"profile": _dnxhr_profile(self.pix_fmt)}
        elif codec == "ffv1":
            opts = {"level": "3", "slicecrc": "1"}
        stream.options = {**opts, **extra}
        return stream

    def __enter__(self) -> MovieWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self._discard()

    def _pad(self, rgb: npt.NDArray[Any]) -> npt.NDArray[Any]:
        pw, ph = self._padded[0] - self.width, self._padded[1] - self.height
        return np.pad(rgb, ((0, ph), (0, pw), (0, 0)), mode="edge") if pw or ph else rgb

    def _to_frame(self, rgb: npt.NDArray[Any]) -> av.VideoFrame:
        check_rgb(rgb, self.width, self.height, alpha=self._channels == 4)
        if rgb.shape[2] != self._channels:
            raise MediaError(f"{self.pix_fmt} frames are HxWx{self._channels}, got shape {rgb.shape}")
        rgba = self._channels == 4
        if self._deep and rgb.dtype != np.uint8:
            fmt = "rgba64le" if rgba else "rgb48le"
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(self._pad(to_uint16(rgb))), format=fmt)
        else:
            fmt = "rgba" if rgba else "rgb24"
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(self._pad(to_uint8(rgb))), format=fmt)
        if self._yuv:
            frame = frame.reformat(
                format=self.pix_fmt,
                dst_colorspace=_MATRICES.get(self.colour.matrix, Colorspace.ITU709),
                dst_color_range=self._stream.codec_context.color_range,
                # one slice for a frame of an odd size: swscale's threaded slices left flat grey blocks at their
                # seams there (rows 31 and 62 of a 161x91 ProRes), which ffmpeg's own conversion does not
                threads=1 if frame.width % 2 or frame.height % 2 else None,
            )
            # ProRes takes the frame header's colour from each frame, not from the stream: untagged, it says
            # "unspecified" there while the MOV's colr atom names the source's primaries and transfer.
            frame.color_primaries, frame.color_trc = self.colour.primaries, self.colour.transfer
        return frame

    def _fields(self, frame: av.VideoFrame) -> av.VideoFrame:
        """`frame` flagged interlaced in the source's field order where ProRes codes it so (PyAV cannot set a
        frame's flags: FFmpeg's setfield filter does). ProRes used to code an interlaced daily's fix as
        progressive frames under a container saying interlaced, and an MXF of it said progressive."""
        if self._field_order is None or self.codec != "prores":
            return frame
        if self._field_graph is None:
            graph = av.filter.Graph()
            source = graph.add_buffer(
                width=frame.width, height=frame.height, format=frame.format.name, time_base=frame.time_base
            )
            top = self._field_order == _FIELD_ORDERS["top field first"]
            flagged = graph.add("setfield", "tff" if top else "bff")
            source.link_to(flagged)
            flagged.link_to(graph.add("buffersink"))
            graph.configure()
            self._field_graph = graph
        self._field_graph.push(frame)
        out: av.VideoFrame = self._field_graph.pull()
        return out

    def write(self, rgb: npt.NDArray[Any]) -> None:
        """Append one HxWx3 RGB frame (uint8, uint16, or float 0..1; HxWx4 RGBA for a format with alpha)."""
        if self._container is None:
            raise MediaError("the movie writer is closed", str(self.path))
        self._encode(self._to_frame(rgb))

    def _encode(self, frame: av.VideoFrame) -> None:
        """Encode a converted frame at the next frame time, with the sound up to its end."""
        assert self._container is not None
        frame.pts = self._position
        frame.time_base = self._stream.codec_context.time_base
        try:
            self._container.mux(self._stream.encode(self._fields(frame)))
            for carrier in self._sounds:  # the sound up to this frame's end, interleaved with the frames
                self._container.mux(carrier.until(Fraction(self._position + 1) / self.fps))
        except av.error.FFmpegError as e:
            self._discard()
            raise MediaError(f"encoding failed: {e.strerror or e}", str(self.path)) from None
        except MediaError:
            self._discard()
            raise
        self.frames_written += 1
        self._position += 1
        self._last = frame  # held over a hole as it was encoded, whatever becomes of the caller's array

    def write_at(self, number: int, rgb: npt.NDArray[Any]) -> None:
        """Append the frame numbered `number` of a shot whose numbers ascend, keeping the shot's timing over a
        hole in them (a sequence's missing files, a recorder's dropped frames): the frame before is held over a
        hole of up to pause_frames(fps) frames, so the movie stays constant-rate; a longer one is a pause, left
        empty (skip())."""
        if self._number is not None:
            hole = number - self._number - 1
            if hole < 0:
                raise MediaError(
                    f"frame {number} comes after frame {self._number}; frames must ascend", str(self.path)
                )
            if hole > pause_frames(self.fps):
                self.skip(hole)
            elif hole:
                self._hold(hole)
        self.write(rgb)
        self._number = number

    def skip(self, frames: int) -> None:
        """Leave `frames` frame times empty before the next frame: the frame before plays on over them (a pause in
        a recording, kept as the source has it) and the sound goes on. An .mxf holds a frame at every frame time,
        so there the frame before is written again."""
        if self.frames_written == 0:
            raise MediaError("a movie cannot start with a pause: write a frame first", str(self.path))
        if _container_format(self.path) == "mxf":
            self._hold(frames)
            return
        self._position += frames

    def _hold(self, frames: int) -> None:
        """The last frame written, again at each of the next `frames` frame times."""
        held = self._last
        assert held is not None and self._container is not None
        for _ in range(frames):
            self._encode(held)

    def close(self) -> None:
        """Flush the encoder and move the finished file into place."""
        if self._container is None:
            return
        if self.frames_written == 0:
            self._discard()
            raise MediaError("no frames were written; a movie needs at least one", str(self.path))
        try:
            self._container.mux(self._stream.encode(None))
            for carrier in self._sounds:
                self._container.mux(carrier.finish(Fraction(self._position) / self.fps))
            self._container.close()
        except MediaError:
            self._discard()
            raise
        except av.error.FFmpegError as e:
            self._discard()
            raise MediaError(f"finishing the movie failed: {e.strerror or e}", str(self.path)) from None
        self._container = None
        os.replace(self._tmp, self.path)

    def _discard(self) -> None:
        for carrier in self._sounds:
            carrier.close()
        if self._container is not None:
            with contextlib.suppress(Exception):  # a broken muxer may fail again; the temp file goes anyway
                self._container.close()
            self._container = None
        self._tmp.unlink(missing_ok=True)


@dataclass(frozen=True)
class HeaderSource:
    """The source sequence whose frames' headers a fix's frames keep: each output frame the source frame it was
    made from, the one of its number, or for a retime (`factor` output frames per source frame) the one at or
    before its moment; a rebuilt frame of a hole, the frame before the hole."""

    pattern: str
    first_frame: int
    factor: int = 1
    # Whether an output frame that is its source frame at the same moment keeps that frame's other EXR channels
    # (AOVs, depth, IDs: exr.read_exr_layers); not for a fix that makes frames (interpolate).
    layers: bool = False

    def path(self, number: int) -> Path | None:
        """The source frame of output frame `number`, or for a frame the source lacks (a hole a fix rebuilt) the
        nearest one before it; None when there is none."""
        spec = parse_sequence(self.pattern)
        source = self.first_frame + (number - self.first_frame) // max(1, self.factor)
        for candidate in range(source, self.first_frame - 1, -1):
            path = spec.path(candidate)
            if path.is_file():
                return path
        return None

    def layer_source(self, number: int) -> Path | None:
        """The source frame whose other channels output frame `number` keeps: the frame of its number, when
        layers are kept and the fix keeps the source's moments (no retime); None for a frame the source lacks."""
        if not self.layers or self.factor != 1:
            return None
        path = parse_sequence(self.pattern).path(number)
        return path if path.is_file() else None


def write_movie(
    path: str | Path, frames: Iterable[npt.NDArray[Any]], fps: Fraction | int | float, **kw: Any
) -> Path:
    """Write frames (HxWx3 RGB arrays) to a movie; size from the first frame; kw as for MovieWriter."""
    iterator = iter(frames)
    first = next(iterator, None)
    if first is None:
        raise MediaError("no frames were given; a movie needs at least one", str(path))
    with MovieWriter(path, fps, first.shape[1], first.shape[0], **kw) as writer:
        writer.write(first)
        for rgb in iterator:
            writer.write(rgb)
    return writer.path


def write_sequence(
    pattern: str | Path,
    frames: Iterable[npt.NDArray[Any]],
    first_frame: int,
    fps: Fraction | int | None = None,
    *,
    bit_depth: int | None = None,
    quality: int = 95,
) -> list[Path]:
    """Write frames as an image sequence numbered from first_frame; returns the paths written.

    pattern: `shot.####.png` (or %04d); the extension picks the format: .png (8 bit for uint8
    frames, else 16; or bit_depth), .jpg (quality), .dpx (10 bit, or bit_depth 8/16) or .exr
    (half float; bit_depth=32 for full float; fps stored in the header). Each file is written
    to a temp name and renamed, so a crash never leaves a half frame.
    """
    numbered = enumerate(frames, start=first_frame)
    return write_numbered_sequence(pattern, numbered, fps, bit_depth=bit_depth, quality=quality)


def write_numbered_sequence(
    pattern: str | Path,
    frames: Iterable[tuple[int, npt.NDArray[Any]]],
    fps: Fraction | int | None = None,
    *,
    bit_depth: int | None = None,
    quality: int = 95,
    pixel_aspect: Fraction = SQUARE,
    timecode: FrameTimecode | None = None,
    like: HeaderSource | None = None,
    overscan: Overscan | None = None,
    reel: str | None = None,
) -> list[Path]:
    """Like write_sequence, but each frame comes with its own number: a sequence with holes keeps them; each
    file's header says `pixel_aspect` when it is not 1, an EXR's or DPX's its frame's `timecode` (an EXR's its
    source's `reel` too), and keeps the
    header of the source frame it was made from (`like`; images.write_image). `overscan`: the frames were read
    with it (MediaInfo.with_overscan), and EXR frames keep it past their display window."""
    spec = parse_sequence(pattern)
    if spec.padding == 0:
        raise MediaError(
            "a sequence pattern needs a frame number placeholder such as #### or %04d", str(pattern)
        )
    written: list[Path] = []
    for number, rgb in frames:
        path = spec.path(number)
        write_image(
            path,
            rgb,
            bit_depth=bit_depth,
            quality=quality,
            fps=Fraction(fps) if fps else None,
            pixel_aspect=pixel_aspect,
            timecode=None if timecode is None else timecode.of(number),
            like=None if like is None else like.path(number),
            layers_from=None if like is None else like.layer_source(number),
            overscan=NO_MARGINS if overscan is None else overscan.margins_of(rgb.shape),
            reel=reel,
        )
        written.append(path)
    return written
