"""Timecode <-> frame count, including 29.97 drop-frame."""

from __future__ import annotations

from fractions import Fraction

import pytest

from engine.media import TimecodeError, frames_to_timecode, offset_timecode, timecode_to_frames

NTSC = Fraction(30000, 1001)


@pytest.mark.parametrize(
    ("fps", "tc", "frames"),
    [
        (24, "01:00:00:00", 86400),
        (25, "10:00:00:00", 900000),
        (Fraction(24000, 1001), "00:00:01:00", 24),  # 23.976 counts in 24s, no drop
        (NTSC, "00:01:00;02", 1800),  # ;00 and ;01 do not exist at the minute
        (NTSC, "00:10:00;00", 17982),  # every tenth minute keeps them
        (NTSC, "01:00:00;00", 107892),
        (Fraction(60000, 1001), "00:01:00;04", 3600),  # 59.94 drops four
    ],
)
def test_known_timecodes(fps: Fraction | int, tc: str, frames: int) -> None:
    assert timecode_to_frames(tc, fps) == frames
    assert frames_to_timecode(frames, fps) == tc


def test_drop_frame_round_trips_over_a_day() -> None:
    for n in range(0, 24 * 107892, 997):
        assert timecode_to_frames(frames_to_timecode(n, NTSC), NTSC) == n


def test_offsets_keep_the_style() -> None:
    assert offset_timecode("00:59:59:23", 1, 24) == "01:00:00:00"
    assert offset_timecode("00:00:59;29", 1, NTSC) == "00:01:00;02"
    assert frames_to_timecode(1800, NTSC, drop_frame=False) == "00:01:00:00"


@pytest.mark.parametrize(
    ("tc", "fps", "match"),
    [
        ("1:00:00", 24, "HH:MM:SS:FF"),
        ("01:00:00:24", 24, "out of range"),
        ("01:00:00;00", 25, "29.97 or 59.94"),
        ("00:01:00;01", NTSC, "skipped"),
    ],
)
def test_bad_timecodes_say_what_is_wrong(tc: str, fps: Fraction | int, match: str) -> None:
    with pytest.raises(TimecodeError, match=match):
        timecode_to_frames(tc, fps)
