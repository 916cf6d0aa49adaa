"""SMPTE timecode <-> frame count, for integer and NTSC (x/1.001) rates, drop-frame included."""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

_TC = re.compile(r"^(\d{1,2}):(\d{2}):(\d{2})([:;.,])(\d{2,3})$")


class TimecodeError(ValueError):
    """A timecode string or rate that cannot be used."""


def nominal_rate(fps: Fraction | float | int) -> int:
    """The integer frame rate a timecode counts in (24 for 23.976, 30 for 29.97)."""
    rate = round(Fraction(fps).limit_denominator(1001))
    if rate <= 0:
        raise TimecodeError(f"frame rate {fps} cannot carry a timecode; use a positive rate.")
    return int(rate)


def is_drop_frame_rate(fps: Fraction | float | int) -> bool:
    """True for 29.97 and 59.94 (the rates where drop-frame timecode exists)."""
    f = Fraction(fps).limit_denominator(1001)
    return f.denominator == 1001 and f.numerator in (30000, 60000)


def _drops_per_minute(fps: Fraction | float | int) -> int:
    return nominal_rate(fps) // 15  # 2 frames at 29.97, 4 at 59.94


def timecode_to_frames(tc: str, fps: Fraction | float | int) -> int:
    """Frame count since 00:00:00:00 of a timecode ("HH:MM:SS:FF", or "HH:MM:SS;FF" drop-frame)."""
    m = _TC.match(tc.strip())
    if not m:
        raise TimecodeError(f"timecode {tc!r} is not HH:MM:SS:FF; write it like 01:00:00:00.")
    hh, mm, ss, sep, ff = int(m[1]), int(m[2]), int(m[3]), m[4], int(m[5])
    rate = nominal_rate(fps)
    if mm > 59 or ss > 59 or ff >= rate:
        raise TimecodeError(f"timecode {tc!r} is out of range for {rate} fps.")
    drop = sep in ";,"
    total_minutes = hh * 60 + mm
    frames = (total_minutes * 60 + ss) * rate + ff
    if drop:
        if not is_drop_frame_rate(fps):
            raise TimecodeError(f"drop-frame timecode {tc!r} only exists at 29.97 or 59.94 fps, not {fps}.")
        d = _drops_per_minute(fps)
        if ss == 0 and ff < d and mm % 10 != 0:
            raise TimecodeError(
                f"timecode {tc!r} does not exist in drop-frame (frames 0-{d - 1} are skipped)."
            )
        frames -= d * (total_minutes - total_minutes // 10)
    return frames


def frames_to_timecode(frames: int, fps: Fraction | float | int, drop_frame: bool | None = None) -> str:
    """Timecode of a frame count. drop_frame=None means drop-frame exactly at 29.97/59.94."""
    if frames < 0:
        raise TimecodeError(f"frame count {frames} is negative; timecodes start at 00:00:00:00.")
    rate = nominal_rate(fps)
    drop = is_drop_frame_rate(fps) if drop_frame is None else drop_frame
    if drop and not is_drop_frame_rate(fps):
        raise TimecodeError(f"drop-frame timecode only exists at 29.97 or 59.94 fps, not {fps}.")
    if drop:
        d = _drops_per_minute(fps)
        per_10min = rate * 600 - d * 9
        per_min = rate * 60 - d
        tens, rem = divmod(frames, per_10min)
        frames += d * 9 * tens
        if rem > d:
            frames += d * ((rem - d) // per_min)
    ff = frames % rate
    ss = frames // rate % 60
    mm = frames // (rate * 60) % 60
    hh = frames // (rate * 3600) % 24
    return f"{hh:02d}:{mm:02d}:{ss:02d}{';' if drop else ':'}{ff:02d}"


def offset_timecode(tc: str, frames: int, fps: Fraction | float | int) -> str:
    """The timecode `frames` frames after `tc` (keeps drop-frame style)."""
    drop = ";" in tc or "," in tc
    return frames_to_timecode(timecode_to_frames(tc, fps) + frames, fps, drop_frame=drop)


def normalize_timecode(tc: str, fps: Fraction | float | int) -> str:
    """Validate `tc` for `fps` and return it in canonical HH:MM:SS:FF (or ;FF) form."""
    return offset_timecode(tc, 0, fps)


@dataclass(frozen=True)
class FrameTimecode:
    """Frame `number` is at `timecode`, and the frames around it follow at `fps` (a sequence's timecodes)."""

    number: int
    timecode: str
    fps: Fraction

    def of(self, number: int) -> str:
        return offset_timecode(self.timecode, number - self.number, self.fps)
