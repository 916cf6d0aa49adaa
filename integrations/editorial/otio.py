"""One rendered clip as an OpenTimelineIO timeline: build it, write it atomically, read it back.

The clip references a movie on disk. Its media's available range starts at the movie's timecode (what
editing systems conform against) or, without one, at its first frame number; it lasts `frame_count`
frames at the movie's rate. Frame numbers and timecode are also kept in the clip's metadata under
"rushes", so a round trip never depends on the rate arithmetic of timecodes.
"""

from __future__ import annotations

import os
import secrets
from fractions import Fraction
from pathlib import Path
from typing import Any

import opentimelineio as otio

METADATA_KEY = "rushes"


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
        raise EditorialError(f"timecode {timecode!r} does not fit {fps} fps: {exc}") from None


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
) -> otio.schema.Timeline:
    """A timeline with one video track holding one clip: the whole of the movie at `media_path`; with `sound`,
    an audio track holding the same clip (the movie's sound, in sync). `reel` is the source's reel name, in
    the clip's metadata where OTIO's CMX 3600 EDL adapter reads it, so an EDL of the fix conforms by it."""
    if frame_count < 1:
        raise EditorialError(f"clip {name} has {frame_count} frames; a clip needs at least one")
    rate = _rate(fps)
    available = otio.opentime.TimeRange(
        start_time=media_start(first_frame, fps, timecode),
        duration=otio.opentime.RationalTime(frame_count, rate),
    )
    reference = otio.schema.ExternalReference(target_url=media_path, available_range=available)
    metadata: dict[str, Any] = {
        METADATA_KEY: {
            "first_frame": first_frame,
            "last_frame": first_frame + frame_count - 1,
            "frame_count": frame_count,
            "fps": f"{fps.numerator}/{fps.denominator}",
            "timecode": timecode,
            "reel": reel,
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
        track.append(
            otio.schema.Clip(
                name=name, media_reference=reference.clone(), source_range=available, metadata=metadata
            )
        )
        timeline.tracks.append(track)
    return timeline


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
