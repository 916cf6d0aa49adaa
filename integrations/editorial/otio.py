"""One rendered clip as an OpenTimelineIO timeline: build it, write it atomically, read it back.

The clip references a movie on disk, and where the fix has a finishing deliverable (a ProRes or DNxHR movie, EXR
frames) that first: a conform relinks the clip to the deliverable (its active media reference), and the review
movie is its `review` reference. Its media's available range starts at the movie's timecode (what editing
systems conform against) or, without one, at its first frame number; it lasts `frame_count` frames at the
movie's rate. Frame numbers and timecode are also kept in the clip's metadata under "rushes", so a round trip
never depends on the rate arithmetic of timecodes.
"""

from __future__ import annotations

import os
import re
import secrets
from fractions import Fraction
from pathlib import Path
from typing import Any

import opentimelineio as otio

METADATA_KEY = "rushes"
ACTIVE = "DEFAULT_MEDIA"  # OTIO's key of a clip's active media reference
REVIEW = "review"  # the review movie's key where a deliverable is the active one


class EditorialError(ValueError):
    """An OTIO file or clip description that cannot be written or read (one line, says what to do)."""


def _rate(fps: Fraction) -> float:
    if fps <= 0:
        raise EditorialError(f"frame rate {fps} is not positive; give the movie's real rate, e.g. 24")
    return float(fps)


def media_start(first_frame: int, fps: Fraction, timecode: str | None) -> otio.opentime.RationalTime:
    """The media's start time: its timecode when it has one, else its first frame number."""
    rate = _rate(fps)
    if timecode is None:
        return otio.opentime.RationalTime(first_frame, rate)
    try:
        return otio.opentime.from_timecode(timecode, rate)
    except ValueError as exc:
        counted = _counted(timecode, fps)  # a rate SMPTE has no timecode of (12, 15, 100, 120 fps)
        if counted is None:
            raise EditorialError(f"timecode {timecode!r} does not fit {fps} fps: {exc}") from None
        return otio.opentime.RationalTime(counted, rate)


_NON_DROP = re.compile(r"(\d{2}):(\d{2}):(\d{2})[:.](\d{2,3})")


def _counted(timecode: str, fps: Fraction) -> int | None:
    """The frame a non-drop timecode names at a rate OTIO takes none at (its list is SMPTE's), counted as
    cameras and Rushes' own timecode count it: seconds at the rate rounded to whole frames, plus the frame
    field; None when it does not read so (a drop-frame one, a frame field past the rate). The daemon's fix of a
    15 or 120 fps daily failed its .otio, was rendered five times and answered as if it could be mended."""
    found = _NON_DROP.fullmatch(timecode.strip())
    per_second = round(fps)
    if found is None or per_second < 1:
        return None
    hours, minutes, seconds, frames = (int(part) for part in found.groups())
    if minutes > 59 or seconds > 59 or frames >= per_second:
        return None
    return ((hours * 60 + minutes) * 60 + seconds) * per_second + frames


def clip_timeline(
    name: str,
    media_path: str,
    first_frame: int,
    frame_count: int,
    fps: Fraction,
    timecode: str | None,
    *,
    reel: str | None = None,
    sound: bool = False,
    deliverable: str | None = None,
    retime: int = 1,
    daily: str | None = None,
) -> otio.schema.Timeline:
    """A timeline with one video track holding one clip: the whole of the movie at `media_path`; with `sound`,
    an audio track holding the same clip (the movie's sound, in sync). `reel` is the source's reel name, in
    the clip's metadata where OTIO's CMX 3600 EDL adapter reads it, so an EDL of the fix conforms by it.
    `deliverable` (a movie, or EXR frames as a `####` pattern) holds the same frames for finishing: it is the
    clip's active media and `media_path` its `review` reference (the audio track's sound stays in a movie).
    `retime`: the output frames per source frame of a retime, in the metadata (its timecode counts those frames);
    `daily`: the source file the clip was made from, in the metadata, so an editor finds the shot it replaces."""
    if frame_count < 1:
        raise EditorialError(f"clip {name} has {frame_count} frames; a clip needs at least one")
    rate = _rate(fps)
    available = otio.opentime.TimeRange(
        start_time=media_start(first_frame, fps, timecode),
        duration=otio.opentime.RationalTime(frame_count, rate),
    )
    review = otio.schema.ExternalReference(target_url=media_path, available_range=available)
    finishing = None if deliverable is None else _reference(deliverable, available, first_frame)
    metadata: dict[str, Any] = {
        METADATA_KEY: {
            "first_frame": first_frame,
            "last_frame": first_frame + frame_count - 1,
            "frame_count": frame_count,
            "fps": f"{fps.numerator}/{fps.denominator}",
            "timecode": timecode,
            "reel": reel,
            "retime": retime,
            "daily": daily,
        }
    }
    if reel:
        metadata["cmx_3600"] = {"reel": reel}
    timeline = otio.schema.Timeline(name=name)
    kinds = (
        (otio.schema.TrackKind.Video, otio.schema.TrackKind.Audio)
        if sound
        else (otio.schema.TrackKind.Video,)
    )
    for kind in kinds:
        track = otio.schema.Track(name=kind.lower(), kind=kind)
        clip = otio.schema.Clip(name=name, source_range=available, metadata=metadata)
        active = finishing
        if kind == otio.schema.TrackKind.Audio and isinstance(finishing, otio.schema.ImageSequenceReference):
            active = None  # frames hold no sound
        if active is None:
            clip.set_media_references({ACTIVE: review.clone()}, ACTIVE)
        else:
            clip.set_media_references({ACTIVE: active.clone(), REVIEW: review.clone()}, ACTIVE)
        track.append(clip)
        timeline.tracks.append(track)
    return timeline


def _reference(path: str, available: otio.opentime.TimeRange, first_frame: int) -> otio.schema.MediaReference:
    """A deliverable's media reference: a movie's, or an image sequence's (`dir/name.####.exr`, numbered from
    `first_frame` at the clip's start; a frame its daily lacks, and so the sequence, holds the one before, as
    the movies do)."""
    folder, file_name = os.path.split(path)
    if "#" not in file_name:
        return otio.schema.ExternalReference(target_url=path, available_range=available)
    prefix, _, rest = file_name.partition("#")
    padding = 1 + len(rest) - len(rest.lstrip("#"))
    return otio.schema.ImageSequenceReference(
        target_url_base=os.path.join(folder, ""),
        name_prefix=prefix,
        name_suffix=rest.lstrip("#"),
        start_frame=first_frame,
        rate=available.start_time.rate,
        frame_zero_padding=padding,
        missing_frame_policy=otio.schema.ImageSequenceReference.MissingFramePolicy.hold,
        available_range=available,
    )


def write_timeline(path: str | Path, timeline: otio.schema.Timeline) -> Path:
    """Write `timeline` as an .otio (JSON) file; the file appears only complete (temp name, then rename)."""
    path = Path(path)
    if path.suffix.lower() != ".otio":
        raise EditorialError(f"{path} must end in .otio to be written as an OpenTimelineIO file")
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        tmp.write_text(otio.adapters.write_to_string(timeline, "otio_json"))
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def read_timeline(path: str | Path) -> otio.schema.Timeline:
    """Read an .otio file written by write_timeline (or any OTIO JSON timeline)."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise EditorialError(f"{path} does not exist; render the clip again to write it") from None
    try:
        result = otio.adapters.read_from_string(text, "otio_json")
    except Exception as exc:  # the JSON adapter raises several unrelated types
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise EditorialError(f"{path} is not a readable OTIO file: {first}") from None
    if not isinstance(result, otio.schema.Timeline):
        raise EditorialError(f"{path} holds a {type(result).__name__}, not a timeline")
    return result
