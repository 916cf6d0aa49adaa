"""Timecode <-> frame count, including 29.97 drop-frame."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest

from engine.media import TimecodeError, frames_to_timecode, offset_timecode, timecode_to_frames
from engine.media.timecode import FrameTimecode

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


@pytest.mark.parametrize("ext", ["exr", "dpx"])
@pytest.mark.parametrize(("tc", "fps"), [("01:02:03:04", Fraction(24)), ("10:00:59;29", NTSC)])
def test_exr_and_dpx_frames_carry_each_frames_timecode_and_the_rate(
    tmp_path: Path, ext: str, tc: str, fps: Fraction
) -> None:
    from engine.media import probe
    from engine.media.encode import write_numbered_sequence
    from engine.media.images import read_header
    from engine.media.timecode import FrameTimecode
    from tests import footage

    pattern = str(tmp_path / f"plate.####.{ext}")
    write_numbered_sequence(
        pattern, enumerate(footage.frames(3, (32, 24)), 1001), fps, timecode=FrameTimecode(1001, tc, fps)
    )

    info = probe(pattern)
    assert (info.timecode, info.fps) == (tc, fps)  # editorial conforms the plate by it
    assert read_header(tmp_path / f"plate.1002.{ext}").timecode == offset_timecode(tc, 1, fps)


def test_exr_frames_written_from_a_movie_say_its_reel_and_keep_a_plates_own(tmp_path: Path) -> None:
    from engine.media import probe
    from engine.media.encode import HeaderSource, write_numbered_sequence
    from tests import footage

    fps = Fraction(24000, 1001)
    stamp = FrameTimecode(0, "00:59:59:23", fps)
    write_numbered_sequence(
        str(tmp_path / "a.####.exr"),
        enumerate(footage.frames(2, (32, 24))),
        fps,
        timecode=stamp,
        reel="A001R2AB",
    )
    write_numbered_sequence(
        str(tmp_path / "b.####.exr"),
        enumerate(footage.frames(2, (32, 24))),
        fps,
        like=HeaderSource(str(tmp_path / "a.####.exr"), 0),
        reel="OTHER",
    )

    assert (probe(str(tmp_path / "a.####.exr")).reel, probe(str(tmp_path / "a.####.exr")).timecode) == (
        "A001R2AB",
        "00:59:59:23",
    )
    assert probe(str(tmp_path / "b.####.exr")).reel == "A001R2AB"  # the plate's own header wins


def test_a_dpx_timecode_written_by_another_tool_reads_in_either_byte_order() -> None:
    import struct

    from engine.media.dpx import read_dpx_rate, read_dpx_timecode

    for magic, order in ((b"SDPX", ">"), (b"XPDS", "<")):
        header = bytearray(magic + b"\xff" * 2044)  # DPX leaves a field it does not use all ones
        assert read_dpx_timecode(bytes(header)) is None and read_dpx_rate(bytes(header)) is None
        header[1920:1924] = struct.pack(order + "I", 0x23595923)
        header[1940:1944] = struct.pack(order + "f", 23.976)
        assert read_dpx_timecode(bytes(header)) == "23:59:59:23"
        assert read_dpx_rate(bytes(header)) == Fraction(24000, 1001)
        header[1920:1924] = struct.pack(order + "I", 0x1000006A)  # drop-frame flag over frame 2A: not BCD
        assert read_dpx_timecode(bytes(header)) is None


@pytest.mark.parametrize(("bits", "channels"), [(8, 3), (10, 3), (16, 3), (16, 4)])
def test_every_dpx_rushes_writes_has_the_industry_headers_other_readers_expect(
    tmp_path: Path, bits: int, channels: int
) -> None:
    import struct

    import numpy as np

    from engine.media import read_image
    from engine.media.dpx import read_dpx_rate, read_dpx_timecode
    from engine.media.images import write_image

    rgb = np.random.default_rng(bits).random((24, 32, channels)).astype(np.float32)
    write_image(tmp_path / "f.dpx", rgb, bit_depth=bits)

    data = (tmp_path / "f.dpx").read_bytes()
    order = {b"SDPX": ">", b"XPDS": "<"}[data[:4]]
    pixels_at, size = struct.unpack(order + "I", data[4:8])[0], struct.unpack(order + "I", data[16:20])[0]
    assert pixels_at == 2048 and size == len(data)  # FFmpeg's own stop at 1664, where Nuke reads a timecode
    assert read_dpx_timecode(data) is None and read_dpx_rate(data) is None  # undefined, not pixels
    assert np.abs(read_image(tmp_path / "f.dpx") - rgb[..., :3]).max() <= 1 / (2**bits - 1)  # within a step
