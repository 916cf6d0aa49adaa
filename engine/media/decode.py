"""Frame-exact, streaming decode of movies and image sequences to RGB numpy frames."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Mapping
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal

import av
import numpy as np
import numpy.typing as npt

from .alpha import alpha_of
from .container import open_movie
from .frames import Frame, PixelDepth, converter
from .images import read_alpha_image, read_image
from .info import NO_MARGINS, Margins, MediaError, MediaInfo, MovieEnded
from .sequences import find_sequence, frameset_string, is_image_path, is_pattern
from .threads import codec_threads

# Below this many frames from the start, decoding through is cheaper and simpler than seeking.
SEEK_MIN_FRAMES = 48
_UNSET_MATRIX = (0, 2, 3)  # FFmpeg's RGB (no YUV matrix), unspecified and reserved

Source = str | Path | MediaInfo


def read_frames(
    source: Source, start: int | None = None, end: int | None = None, *, first_frame: int | None = None
) -> Iterator[Frame]:
    """Yield frames start..end (inclusive, in the source's frame numbers) as float32 HxWx3 RGB.

    Movies number their frames from `first_frame` (default 0); sequences keep their file
    numbers and skip missing frames; an EXR sequence's MediaInfo with_overscan() reads its overscan too.
    A movie given as its MediaInfo is numbered along its timeline: frames a recorder dropped
    (MediaInfo.dropped) are numbers skipped, as a sequence's missing files are.
    EXR values are kept as they are (may exceed 1).
    A range outside the source raises MediaError.
    """
    return _read(source, start, end, "float32", first_frame)


def read_frames_uint8(
    source: Source, start: int | None = None, end: int | None = None, *, first_frame: int | None = None
) -> Iterator[Frame]:
    """Like read_frames, but uint8 HxWx3 RGB (the fast path; EXR values are clipped to 0..1)."""
    return _read(source, start, end, "uint8", first_frame)


def read_alpha(
    source: Source, start: int | None = None, end: int | None = None, *, first_frame: int | None = None
) -> Iterator[tuple[int, npt.NDArray[np.float32]]]:
    """Yield (number, HxW float32 alpha 0..1) for frames start..end, numbered as read_frames numbers them;
    alpha is 1 everywhere for a frame without it (engine.media.alpha)."""
    return ((f.number, f.rgb) for f in _read(source, start, end, "alpha", first_frame))


def read_clip(
    source: Source, start: int | None = None, end: int | None = None, *, first_frame: int | None = None
) -> npt.NDArray[np.float32]:
    """All frames start..end as one (N, H, W, 3) float32 array; for small clips only."""
    frames = [f.rgb for f in read_frames(source, start, end, first_frame=first_frame)]
    if not frames:
        raise MediaError("no frames in the requested range", _name(source))
    return np.stack(frames)


def _name(source: Source) -> str:
    return source.path if isinstance(source, MediaInfo) else str(source)


# What a read decodes: RGB at a depth, or the alpha plane alone.
Plane = PixelDepth | Literal["alpha"]


def _read(
    source: Source, start: int | None, end: int | None, depth: Plane, first_frame: int | None
) -> Iterator[Frame]:
    if start is not None and end is not None and end < start:
        raise MediaError(f"frame range {start}-{end} is empty (end before start)", _name(source))
    if isinstance(source, MediaInfo):
        if source.kind == "sequence":
            probed = set(range(source.first_frame, source.last_frame + 1)) - set(source.missing_frames)
            return _read_sequence(
                source.path, start, end, depth, source.overscan if source.grown else NO_MARGINS, probed
            )
        ff = source.first_frame if first_frame is None else first_frame
        gaps = {before - source.first_frame + ff: count for before, count in source.dropped}
        return _read_movie(Path(source.path), start, end, depth, ff, gaps)
    text = str(source)
    if is_pattern(text) or is_image_path(text):
        return _read_sequence(text, start, end, depth)
    return _read_movie(Path(text), start, end, depth, first_frame or 0)


def _read_sequence(
    pattern: str,
    start: int | None,
    end: int | None,
    depth: Plane,
    grow: Margins = NO_MARGINS,
    probed: Collection[int] | None = None,
) -> Iterator[Frame]:
    """`probed`: the frame numbers the sequence had when it was probed; one of the range read gone (or emptied)
    since fails at the call, where the fix of a plate re-rendered under it used to write a shorter sequence and
    exit 0."""
    seq = find_sequence(pattern)  # eager: a bad pattern or range fails at the call, not mid-iteration
    wanted = [n for n in probed or () if (start is None or n >= start) and (end is None or n <= end)]
    if gone := sorted(n for n in wanted if n not in seq.files):
        raise MediaError(
            f"frame(s) {frameset_string(gone)} of the sequence are gone or empty since it was read (a plate "
            "rendered or copied again under the fix): run the fix again once the sequence is whole",
            seq.spec.pattern,
        )
    lo = seq.first if start is None else start
    hi = seq.last if end is None else end
    if lo < seq.first or hi > seq.last:
        raise MediaError(
            f"frames {lo}-{hi} are outside the sequence's range {seq.first}-{seq.last}", seq.spec.pattern
        )
    numbers = [n for n in seq.files if lo <= n <= hi]

    def frames() -> Iterator[Frame]:
        for n in numbers:
            path = seq.files[n]
            yield Frame(
                n, read_alpha_image(path, grow) if depth == "alpha" else read_image(path, depth, grow)
            )

    return frames()


def _read_movie(
    path: Path,
    start: int | None,
    end: int | None,
    depth: Plane,
    first: int,
    gaps: Mapping[int, int] | None = None,
) -> Iterator[Frame]:
    container, stream, _ = open_movie(path)  # eager, so open errors surface at the call
    lo = first if start is None else start
    if lo < first:
        container.close()
        raise MediaError(f"frame {lo} is before the movie's first frame {first}", str(path))
    if gaps:
        return _frames_around_gaps(container, stream, path, lo, end, depth, first, gaps)
    return _movie_frames(
        container, stream, path, lo - first, None if end is None else end - first, depth, first
    )


def _frames_around_gaps(
    container: Any,
    stream: Any,
    path: Path,
    lo: int,
    hi: int | None,
    depth: Plane,
    first: int,
    gaps: Mapping[int, int],
) -> Iterator[Frame]:
    """Frames lo..hi of a movie whose recorder dropped frames, numbered along its timeline: after frame
    `before`, `gaps[before]` numbers are skipped. Decoded from the start: a seek by timestamp would have to
    know the gaps before it, and such movies are short recordings."""
    convert = alpha_of if depth == "alpha" else converter(depth)
    with container:
        stream.thread_type = "AUTO"
        stream.thread_count = codec_threads()
        number = first
        for frame in _decoded(container, stream, path):
            if hi is not None and number > hi:
                return
            if number >= lo:
                yield Frame(number, convert(frame))
            number += 1 + gaps.get(number, 0)
        last = number - 1
        if last < (lo if hi is None else hi):
            raise MovieEnded(
                f"frames {lo}-{lo if hi is None else hi} were asked for but the movie ends at frame {last}",
                str(path),
                last - first + 1,
            )


def _index_of(stream: Any) -> Callable[[int | None], int | None]:
    """Map a frame's pts to its 0-based index (constant frame rate assumed)."""
    rate = Fraction(stream.average_rate or stream.guessed_rate or 0)
    tb = Fraction(stream.time_base or 0)
    origin = stream.start_time or 0

    def index(pts: int | None) -> int | None:
        if pts is None or not rate or not tb:
            return None
        return round((pts - origin) * tb * rate)

    return index


def _seek(container: Any, stream: Any, target: int) -> bool:
    """Seek to a keyframe at or before frame index `target`; False when the stream cannot seek."""
    rate = Fraction(stream.average_rate or stream.guessed_rate or 0)
    tb = Fraction(stream.time_base or 0)
    if not rate or not tb:
        return False
    pts = (stream.start_time or 0) + int(Fraction(target) / rate / tb)
    try:
        container.seek(pts, stream=stream, backward=True, any_frame=False)
    except av.error.FFmpegError:
        return False
    return True


def _decoded(container: Any, stream: Any, path: Path) -> Iterator[av.VideoFrame]:
    """The stream's frames, each at the movie's size: a stream whose picture size changes midway (a screen
    recording of a resized window, streams spliced together) is scaled back to it, as FFmpeg's own tools do.
    Each is read with the stream's YUV matrix where the stream names one (what `probe` reports and a fix's
    movie is written with): a codec that carries none in its frames (DNxHR, a ProRes from an older FFmpeg) left
    a BT.2020 plate decoded as BT.709 and written back as BT.2020, shifting the colour of every pixel."""
    size = (int(stream.codec_context.width), int(stream.codec_context.height))
    matrix = int(stream.codec_context.colorspace or 0)
    try:
        for frame in container.decode(stream):
            if (frame.width, frame.height) != size and all(size):
                frame = frame.reformat(width=size[0], height=size[1], interpolation="BICUBIC")
            if matrix not in _UNSET_MATRIX and int(frame.colorspace or 0) != matrix:
                frame.colorspace = matrix
            yield frame
    except av.error.FFmpegError as e:
        raise MediaError(f"truncated or corrupt: decoding failed ({e.strerror or e})", str(path)) from None


def _movie_frames(
    container: Any, stream: Any, path: Path, lo: int, hi: int | None, depth: Plane, first: int
) -> Iterator[Frame]:
    convert = alpha_of if depth == "alpha" else converter(depth)
    with container:
        stream.thread_type = "AUTO"
        stream.thread_count = codec_threads()  # 0: FFmpeg picks from the cores
        index = 0
        seeked = lo >= SEEK_MIN_FRAMES and _seek(container, stream, lo)
        pts_index = _index_of(stream)
        for n, frame in enumerate(_decoded(container, stream, path)):
            if seeked and n == 0:
                found = pts_index(frame.pts)
                if found is None or found > lo:  # landed past the target: decode from the start instead
                    container.seek(0, stream=stream, backward=True, any_frame=False)
                    yield from _movie_frames_linear(container, stream, path, lo, hi, convert, first)
                    return
                index = found
            if index >= lo:
                if hi is not None and index > hi:
                    return
                yield Frame(first + index, convert(frame))
            index += 1
        _check_reached(path, index - 1, lo, hi, first)


def _movie_frames_linear(
    container: Any, stream: Any, path: Path, lo: int, hi: int | None, convert: Any, first: int
) -> Iterator[Frame]:
    index = 0
    for frame in _decoded(container, stream, path):
        if index >= lo:
            if hi is not None and index > hi:
                return
            yield Frame(first + index, convert(frame))
        index += 1
    _check_reached(path, index - 1, lo, hi, first)


def _check_reached(path: Path, last: int, lo: int, hi: int | None, first: int) -> None:
    wanted = lo if hi is None else hi
    if last < wanted:
        raise MovieEnded(
            f"frames {first + lo}-{first + wanted} were asked for but the movie ends at frame {first + last}",
            str(path),
            last + 1,
        )
