"""probe(): what a movie file or an image sequence holds, counted exactly."""

from __future__ import annotations

import itertools
import os
import statistics
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal

import av

from .aspect import pixel_aspect
from .audio import sound_info
from .container import open_movie
from .frames import rotation_of
from .images import read_header
from .info import ColourTags, MediaError, MediaInfo
from .sequences import find_sequence, is_image_path, is_pattern, sequences_in
from .timecode import TimecodeError, normalize_timecode
from .validate import check_size, naming_frame, verify_movie, verify_sequence

DEFAULT_SEQUENCE_FPS = Fraction(24)


def probe(
    source: str | Path,
    *,
    fps: Fraction | int | None = None,
    first_frame: int | None = None,
    exact: bool = True,
    verify: bool = True,
    sound: bool = True,
) -> MediaInfo:
    """Probe a movie file or an image sequence (pattern or one member file).

    fps: the rate of a sequence (else its EXR header, else 24); ignored for movies.
    first_frame: number a movie's first frame (default 0); sequences keep their file numbers.
    exact: count a movie's frames by demuxing every packet (no decoding), which also catches
    truncated files; False trusts the container's index when it has one.
    verify: prove the media readable (engine.media.validate): a size the heads can work on, every
    frame's header of a sequence, and a decode of the first, middle and last frames.
    sound: read a movie's sound (engine.media.audio.sound_info, a child process per stream); False for a caller
    that only reads frames (training, a mask), whose MediaInfo.sound is then None.
    A movie's display rotation is reported, and width/height are its upright size (decode turns frames).
    Raises MediaError with a one-line reason for anything that cannot be read.
    """
    text = str(source)
    if os.path.isdir(text):
        raise MediaError(_folder_reason(Path(text)), text)
    if is_pattern(text) or is_image_path(text):
        return probe_sequence(text, fps=fps, verify=verify)
    return probe_movie(Path(text), first_frame=first_frame or 0, exact=exact, verify=verify, sound=sound)


def _folder_reason(folder: Path) -> str:
    """Why a folder is not media, and the pattern of the sequence it holds that was most likely meant."""
    found = sequences_in(folder)
    if not found:
        return "is a folder, and holds no image sequence: give a movie file or a pattern like sh010.####.exr"
    named = ", ".join(f"{seq.spec.pattern} (frames {seq.first}-{seq.last})" for seq in found[:3])
    more = f" and {len(found) - 3} more" if len(found) > 3 else ""
    if len(found) == 1:
        return f"is a folder holding one image sequence: give its pattern, {named}"
    return f"is a folder holding {len(found)} image sequences, {named}{more}: give the pattern of one"


def probe_sequence(
    source: str | Path, *, fps: Fraction | int | None = None, verify: bool = True
) -> MediaInfo:
    seq = find_sequence(source)
    try:
        header = read_header(seq.files[seq.first])
    except MediaError as exc:
        raise naming_frame(seq.first, exc) from None
    if verify:
        verify_sequence(seq, header.width, header.height)
    rate = Fraction(fps) if fps else header.fps or DEFAULT_SEQUENCE_FPS
    size = 0
    for path in seq.files.values():
        try:
            size += path.stat().st_size
        except OSError:
            continue
    return MediaInfo(
        path=seq.spec.pattern,
        kind="sequence",
        codec=header.codec,
        width=header.width,
        height=header.height,
        fps=rate,
        frame_count=len(seq.files),
        first_frame=seq.first,
        last_frame=seq.last,
        timecode=_frame_timecode(header.timecode, rate),
        reel=header.reel,
        overscan=header.overscan,
        layers=header.layers,
        missing_frames=list(seq.missing),
        pix_fmt=header.pix_fmt,
        color_range=header.color_range,
        size_bytes=size,
        pixel_aspect=header.pixel_aspect,
    )


def _frame_timecode(timecode: str | None, fps: Fraction) -> str | None:
    """A sequence's first frame's timecode (its EXR or DPX header's) when it counts at the sequence's rate."""
    if timecode is None:
        return None
    try:
        return normalize_timecode(timecode, fps)
    except TimecodeError:
        return None  # e.g. frame 29 at 24 fps: the header was written for another rate


# The film, broadcast and camera rates. A QuickTime track of 29.97 fps in a 600 timescale holds frames 20 and 21
# units long and averages 36000/1201 (29.975), its own rate 30000/1001: its fixes were written at the average,
# and its drop-frame timecode was refused as not 29.97.
STANDARD_RATES = (
    *(Fraction(n * 1000, 1001) for n in (24, 30, 48, 60, 120)),
    *(Fraction(n) for n in (12, 15, 24, 25, 30, 48, 50, 60, 72, 96, 100, 120)),
)
STANDARD_SLACK = Fraction(1, 1000)


def standard_rate(rate: Fraction, nominal: Fraction | None) -> Fraction:
    """`rate` (a stream's average), or its `nominal` rate (the stream's own guess) where that is a standard
    rate within a thousandth of it, as ffmpeg reads such a stream; a stream whose own rate is odd keeps it."""
    if nominal and nominal in STANDARD_RATES and abs(rate / nominal - 1) <= STANDARD_SLACK:
        return nominal
    return rate


def _rate(stream: Any) -> Fraction:
    nominal = Fraction(stream.guessed_rate or stream.base_rate or 0) or None
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if rate:
            return standard_rate(Fraction(rate), nominal)
    return DEFAULT_SEQUENCE_FPS


def _metadata(container: Any, stream: Any, name: str) -> str | None:
    """A movie's `name` tag (timecode, reel_name) from its video stream, the container, or a timecode track."""
    sources = [
        stream.metadata,
        container.metadata,
        *(s.metadata for s in container.streams if s.type == "data"),
    ]
    for meta in sources:
        for key, value in meta.items():
            if key.lower() == name and str(value).strip():
                return str(value).strip()
    return None


# Container tags a muxer writes about itself or the file's layout, not about the footage: never carried.
_MUXER_TAGS = frozenset(
    {
        "major_brand",
        "minor_version",
        "compatible_brands",
        "encoder",
        "timecode",
        "reel_name",
        "duration",
        "operational_pattern_ul",
        "uid",
        "generation_uid",
        "company_name",
        "product_name",
        "product_version",
        "product_version_num",
        "product_uid",
        "application_platform",
        "toolkit_version_num",
        "material_package_umid",
        "modification_date",
    }
)


def _footage_tags(container: Any) -> dict[str, str]:
    """A movie's container tags about its footage (a camera's make and model, its creation time and place, a
    comment), as FFmpeg names them; what the muxer writes about itself is left out."""
    return {
        str(key): str(value)
        for key, value in container.metadata.items()
        if str(key).lower() not in _MUXER_TAGS and str(value).strip() and not _by_ffmpeg(str(value))
    }


def _by_ffmpeg(value: str) -> bool:
    """A tag value naming FFmpeg's own muxer (AVI's "software" tag reads "Lavf59.27.100"): the last tool that
    wrote the file, not the camera's firmware."""
    return value.strip().startswith(("Lavf", "Lavc"))


def _timecode(container: Any, stream: Any) -> str | None:
    return _metadata(container, stream, "timecode")


def _color_range(ctx: Any) -> Literal["tv", "pc"] | None:
    value = {1: "tv", 2: "pc"}.get(int(ctx.color_range or 0))
    if value is None and (ctx.pix_fmt or "").startswith("yuvj"):
        value = "pc"
    return value  # type: ignore[return-value]


_UNSET = (0, 2)  # FFmpeg's "reserved" and "unspecified"


def _colour(ctx: Any) -> ColourTags | None:
    """The stream's colour tags, BT.709 standing in for a part left unset; None when none is set."""
    found = [int(v or 0) for v in (ctx.color_primaries, ctx.color_trc, ctx.colorspace)]
    if all(v in _UNSET for v in found):
        return None
    primaries, transfer, matrix = (1 if v in _UNSET else v for v in found)
    return ColourTags(primaries, transfer, matrix)


def _expected_frames(container: Any, stream: Any, fps: Fraction) -> tuple[int | None, bool]:
    """(frames the header promises, whether that number is an exact index)."""
    if stream.frames:
        return int(stream.frames), True
    if stream.duration and stream.time_base:
        return round(stream.duration * stream.time_base * fps), False
    if container.duration:
        return round(Fraction(container.duration, av.time_base) * fps), False
    return None, False


def count_packets(
    container: Any, stream: Any, stamps: list[int] | None = None
) -> tuple[int, int, str | None]:
    """Video packets in the file shown as frames, those outside the movie's edit list (a trim that kept its
    preroll: decoded, never shown), and the demux error that stopped counting, if any; each shown packet's
    timestamp is appended to `stamps` when given."""
    count = hidden = 0
    try:
        for packet in container.demux(stream):
            if not packet.size:
                continue
            if packet.is_discard:
                hidden += 1
                continue
            count += 1
            if stamps is not None and packet.pts is not None:
                stamps.append(int(packet.pts))
    except av.error.FFmpegError as e:
        return count, hidden, str(e.strerror or e)
    return count, hidden, None


# A step between two frames' timestamps of at least this many usual steps is a gap (frames dropped while
# recording: one dropped frame is a step of 2). A variable rate's jitter stays well under it, and so does soft
# telecine's 1.5 (film at 23.976 flagged for 29.97 video, whose steps alternate 1 and 1.5).
GAP_DURATIONS = 1.75


def _steps(stamps: list[int]) -> list[int]:
    """The steps between a movie's frame timestamps (any order, repeats once) in time order."""
    return [b - a for a, b in itertools.pairwise(sorted(set(stamps)))]


def timestamp_gaps(stamps: list[int]) -> list[tuple[int, int]]:
    """(index of the frame before the gap, frames missing) for each gap in a movie's frame timestamps (any
    order), in units of its usual step from frame to frame (the median: an average rate counts the gaps in)."""
    steps = _steps(stamps)
    if not steps:
        return []
    usual = statistics.median(steps)
    return [
        (index, round(step / usual) - 1) for index, step in enumerate(steps) if step >= GAP_DURATIONS * usual
    ]


def usual_rate(stamps: list[int], time_base: Fraction, nominal: Fraction) -> Fraction:
    """The frame rate of a movie's usual step between timestamps (the median), where its average rate counts the
    frames a recorder dropped in: `nominal` (the stream's guess) when within half a percent of it."""
    steps = _steps(stamps)
    if not steps or not time_base:
        return nominal
    return _step_rate(Fraction(statistics.median(steps)), time_base, nominal)


def _step_rate(step: Fraction, time_base: Fraction, nominal: Fraction) -> Fraction:
    rate = 1 / (step * time_base)
    if nominal and abs(rate / nominal - 1) <= Fraction(1, 200):
        return nominal
    return rate.limit_denominator(1001)


def timeline_drift(
    stamps: list[int], time_base: Fraction, fps: Fraction, gaps: list[tuple[int, int]]
) -> float:
    """How far (in seconds) a movie's frames stand, at most, from their places on the constant-rate timeline a
    fix writes them on: frame after frame at `fps`, the gaps' missing frames left empty. Beyond a frame, the
    picture of a fix drifts off the sound, which keeps its own times."""
    times = sorted(set(stamps))
    if not times or not time_base or not fps:
        return 0.0
    missing = dict(gaps)
    tick, period = float(time_base), 1 / float(fps)  # in floats: a two-hour movie's 172,800 frames at once
    worst, slot = 0.0, 0
    for index, stamp in enumerate(times):
        worst = max(worst, abs((stamp - times[0]) * tick - slot * period))
        slot += 1 + missing.get(index, 0)
    return worst


def rate_change_gaps(stamps: list[int]) -> tuple[Fraction, list[tuple[int, int]]] | None:
    """For a movie whose rate changes mid-take (a phone's 30 fps, then 24: steps of 1.25 that are no gap, yet
    add up), its fastest usual step and the gaps each frame's own time leaves on a timeline of that step: each
    frame in the slot nearest its time. None when two frames would share a slot."""
    steps = sorted(_steps(stamps))
    if not steps:
        return None
    fastest = steps[len(steps) // 10]  # the fastest steps a recorder keeps to, not one stray short step
    usual = [s for s in steps if abs(s - fastest) <= fastest / 10]  # its jitter evened out (33, 34 ms...)
    step = Fraction(sum(usual), len(usual))
    times = sorted(set(stamps))
    slots = [round((stamp - times[0]) / step) for stamp in times]
    if any(b <= a for a, b in itertools.pairwise(slots)):
        return None
    return step, [(i, b - a - 1) for i, (a, b) in enumerate(itertools.pairwise(slots)) if b - a > 1]


def _on_timeline(gaps: list[tuple[int, int]], first_frame: int) -> tuple[list[tuple[int, int]], list[int]]:
    """Timestamp gaps (decoded index of the frame before, frames missing) as frame numbers along the movie's
    timeline from `first_frame`: (number of the frame before, frames missing) and the missing numbers."""
    dropped: list[tuple[int, int]] = []
    missing: list[int] = []
    for index, count in gaps:
        before = first_frame + index + len(missing)
        dropped.append((before, count))
        missing.extend(range(before + 1, before + 1 + count))
    return dropped, missing


def _not_a_movie(container: Any, path: Path) -> None:
    """MediaError when FFmpeg opened a single picture (a PNG renamed .mov) with an image demuxer."""
    name = str(container.format.name or "")
    if name == "image2" or name.endswith("_pipe"):
        kind = name.removesuffix("_pipe").upper() if name != "image2" else "an image"
        raise MediaError(
            f"not a movie: the file is a single {kind} picture; give it its image extension", str(path)
        )


# An MPEG transport stream is whole packets of 188 bytes, each opening with the sync byte 0x47: 192 where each
# carries a 4-byte arrival time first (BDAV: a camcorder's AVCHD .mts, a Blu-ray's .m2ts), 204 where each ends with
# 16 bytes of error correction (some DVB captures). A program stream (.mpg) has no such unit.
TS_SYNC = 0x47
TS_PACKETS = ((188, 0), (192, 4), (204, 0))  # (packet size, offset of the sync byte in it)
TS_PACKETS_CHECKED = 8


def transport_packet(head: bytes) -> int | None:
    """The packet size of a transport stream whose first bytes are `head`: the first of TS_PACKETS with the sync
    byte where each of its first packets (TS_PACKETS_CHECKED, or as many as `head` holds) has it; None when no
    size fits (nothing is judged by it)."""
    for size, offset in TS_PACKETS:
        starts = range(offset, len(head), size)[:TS_PACKETS_CHECKED]
        if starts and all(head[at] == TS_SYNC for at in starts):
            return size
    return None


def _cut_transport_stream(container: Any, path: Path, size: int) -> None:
    """MediaError when an MPEG transport stream (.ts, .mts, .m2ts) is not a whole number of its packets: a copy
    cut short. FFmpeg reads the packets there as the whole recording (no header declares its frames), and the
    frames the cut split read as dropped while recording."""
    if str(container.format.name or "") != "mpegts":
        return
    with open(path, "rb") as f:
        packet = transport_packet(f.read(TS_PACKETS_CHECKED * 204))
    if packet is not None and size % packet:
        raise MediaError(
            f"truncated: the file ends partway through a {packet}-byte MPEG transport stream packet; copy it "
            "again whole (a recording that itself ends so, its camera losing power: remux it, `ffmpeg -i IN -c "
            "copy OUT`, which writes whole packets)",
            str(path),
        )


def _first_frame(container: Any, stream: Any, path: Path) -> Any:
    try:
        for frame in container.decode(stream):
            return frame
    except av.error.FFmpegError as e:
        raise MediaError(f"cannot decode its first frame ({e.strerror or e})", str(path)) from None
    raise MediaError("cannot decode its first frame (the decoder returned nothing)", str(path))


# FFmpeg's field orders (AVFieldOrder) by the field that comes first in time. Interleaved fields (every compressed
# interlaced codec: ProRes, DNxHD, MPEG-2, DV) are TB for top field first and BT for bottom field first: QuickTime's
# `fiel` details 9 and 14 (Apple TN2162: "interleaved fields, TFF" and "BFF"), Matroska's FieldOrder 9 and 14, and
# what the ffmpeg program writes for TFF and BFF frames; TT and BB are the same orders as separate fields (a `fiel`
# of 1 or 6, and what FFmpeg's H.264 parser reports).
_TOP_FIRST, _BOTTOM_FIRST = (2, 4), (3, 5)


def _scan(path: Path) -> tuple[int, str | None]:
    """The display rotation of the movie's first decoded frame (phones store it in a display matrix) and its
    scan (MediaInfo.interlaced), from the stream's field order or, where that is unknown, the frame's flag."""
    container, stream, _ = open_movie(path)
    with container:
        frame = _first_frame(container, stream, path)
        order = int(stream.codec_context.field_order or 0)
        if order in _TOP_FIRST:
            scan: str | None = "top field first"
        elif order in _BOTTOM_FIRST:
            scan = "bottom field first"
        else:
            scan = "interlaced" if order == 0 and getattr(frame, "interlaced_frame", False) else None
        return rotation_of(frame), scan


def probe_movie(
    path: Path, *, first_frame: int = 0, exact: bool = True, verify: bool = True, sound: bool = True
) -> MediaInfo:
    container, stream, size = open_movie(path)
    with container:
        _not_a_movie(container, path)
        _cut_transport_stream(container, path, size)
        ctx = stream.codec_context
        fps = _rate(stream)
        expected, indexed = _expected_frames(container, stream, fps)
        stamps: list[int] = []
        if exact or expected is None:
            count, hidden, error = count_packets(container, stream, stamps)
            if error:
                raise MediaError(
                    f"truncated or corrupt: demuxing stopped after {count} frames ({error})", str(path)
                )
            # An MP4/MOV index counts the samples an edit list hides (a trim's preroll) as frames too.
            if expected is not None and count + hidden < expected - (
                0 if indexed else max(2, expected // 100)
            ):
                raise MediaError(f"truncated: only {count} of {expected} frames are in the file", str(path))
        else:
            count = expected
        if count == 0:
            raise MediaError("no frames in the video stream", str(path))
        width, height = int(ctx.width), int(ctx.height)
        check_size(width, height, str(path))
        codec, pix_fmt, color_range = ctx.name, ctx.pix_fmt, _color_range(ctx)
        colour = _colour(ctx)
        gaps = timestamp_gaps(stamps)
        time_base, nominal = Fraction(stream.time_base or 0), Fraction(stream.guessed_rate or 0)
        if gaps:  # the average rate counts the dropped frames in: 22.8 for a 24 fps recording that lost 5%
            fps = usual_rate(stamps, time_base, nominal)
        rate_changed = False
        if fps and timeline_drift(stamps, time_base, fps, gaps) > 1 / float(fps):
            changed = rate_change_gaps(stamps)  # each frame kept within half a frame of its sound
            if changed is not None:
                fps, gaps, rate_changed = _step_rate(changed[0], time_base, nominal), changed[1], True
        timecode = _timecode(container, stream)
        heard = sound_info(container, path) if sound else None
        subtitles = len(container.streams.subtitles)
        reel = _metadata(container, stream, "reel_name")
        tags = _footage_tags(container)
        aspect = pixel_aspect(stream.sample_aspect_ratio or ctx.sample_aspect_ratio)
    rotation, interlaced = _scan(path)
    if rotation in (90, 270):  # decoding turns the frames upright, their pixels with them
        width, height, aspect = height, width, 1 / aspect
    if verify:
        verify_movie(path, count, width, height, first_decoded=True)
    dropped, missing = _on_timeline(gaps, first_frame)
    return MediaInfo(
        path=str(path),
        kind="movie",
        codec=codec,
        width=width,
        height=height,
        fps=fps,
        frame_count=count,
        first_frame=first_frame,
        last_frame=first_frame + count - 1 + len(missing),
        timecode=timecode,
        missing_frames=missing,
        pix_fmt=pix_fmt,
        color_range=color_range,
        size_bytes=size,
        rotation=rotation,
        interlaced=interlaced,
        colour=colour,
        dropped=dropped,
        rate_changed=rate_changed,
        sound=heard,
        subtitles=subtitles,
        pixel_aspect=aspect,
        reel=reel,
        tags=tags,
    )
