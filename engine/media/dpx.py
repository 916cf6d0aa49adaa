"""The DPX header fields FFmpeg's DPX codec neither reads nor writes: the frame's timecode and frame rate.

A lab's or a scanner's DPX frames carry each frame's SMPTE timecode in the television header (offset 1920, a
32-bit word of BCD digits HHMMSSFF, in the file's byte order; bit 6 of the frame byte flags drop-frame) and
the frame rate in the film and television headers (1724 and 1940, 32-bit floats), which a sequence is probed at. Editorial conforms by that
timecode, so a fix reads it and writes it into every frame it makes. A word of all ones (DPX's "undefined")
or of zeros (what FFmpeg writes) reads as no timecode.
"""

from __future__ import annotations

import math
import struct
from fractions import Fraction

from .info import MediaError
from .timecode import TimecodeError, normalize_timecode

TIMECODE_AT, FILM_RATE_AT, TV_RATE_AT = 1920, 1724, 1940
HEADER_BYTES = 2048
DEFAULT_RATE = Fraction(24)  # a timecode counts at this rate when none is given
_MAGIC = {b"SDPX": ">", b"XPDS": "<"}
_DROP_FRAME = 0x40


def _order(data: bytes) -> str:
    order = _MAGIC.get(bytes(data[:4]))
    if order is None or len(data) < TV_RATE_AT + 4:
        raise MediaError("not a DPX file (no SDPX magic or a short header)")
    return order


def _bcd(byte: int) -> int:
    return (byte >> 4) * 10 + (byte & 0x0F)


def read_dpx_timecode(data: bytes) -> str | None:
    """The timecode ("HH:MM:SS:FF", ";FF" for drop-frame) in a DPX file's header bytes, or None."""
    order = _order(data)
    (word,) = struct.unpack(order + "I", data[TIMECODE_AT : TIMECODE_AT + 4])
    if word in (0, 0xFFFFFFFF):
        return None
    hours, minutes, seconds, frame = word.to_bytes(4, "big")
    values = (_bcd(hours & 0x3F), _bcd(minutes & 0x7F), _bcd(seconds & 0x7F), _bcd(frame & 0x3F))
    if any(
        (b >> 4) > 9 or (b & 0x0F) > 9 for b in (hours & 0x3F, minutes & 0x7F, seconds & 0x7F, frame & 0x3F)
    ):
        return None  # not BCD: a writer's own use of the field
    if values[0] > 23 or values[1] > 59 or values[2] > 59:
        return None
    separator = ";" if frame & _DROP_FRAME else ":"
    return f"{values[0]:02d}:{values[1]:02d}:{values[2]:02d}{separator}{values[3]:02d}"


def read_dpx_rate(data: bytes) -> Fraction | None:
    """The frame rate in a DPX file's header bytes (the television header's, else the film header's; NTSC
    rates as x/1001), or None where both are undefined."""
    order = _order(data)
    for at in (TV_RATE_AT, FILM_RATE_AT):
        (rate,) = struct.unpack(order + "f", data[at : at + 4])
        if math.isfinite(rate) and 1.0 <= rate <= 1000.0:
            return _snapped(rate)
    return None


def _snapped(rate: float) -> Fraction:
    """A header's float rate as a Fraction, a rounded NTSC rate (23.976, 29.97) as the exact x/1001."""
    whole = round(rate)
    ntsc = Fraction(round(rate * 1.001) * 1000, 1001)
    if abs(rate - whole) > 0.005 and abs(rate - float(ntsc)) < 0.005:
        return ntsc
    return Fraction(rate).limit_denominator(1001)


def with_dpx_header(data: bytes, *, fps: Fraction | None, timecode: str | None) -> bytes:
    """DPX file bytes with the frame rate and the frame's `timecode` (at `fps`, else 24) in its header."""
    order = _order(data)
    out = bytearray(data)
    if fps:
        rate = struct.pack(order + "f", float(fps))
        out[FILM_RATE_AT : FILM_RATE_AT + 4] = rate
        out[TV_RATE_AT : TV_RATE_AT + 4] = rate
    if timecode is not None:
        try:
            canonical = normalize_timecode(timecode, fps or DEFAULT_RATE)
        except TimecodeError as e:
            raise MediaError(f"cannot write DPX timecode: {e}") from None
        digits = [int(part) for part in canonical.replace(";", ":").split(":")]
        packed = bytearray((d // 10) << 4 | d % 10 for d in digits)
        if ";" in canonical:
            packed[3] |= _DROP_FRAME
        out[TIMECODE_AT : TIMECODE_AT + 4] = struct.pack(order + "I", int.from_bytes(packed, "big"))
    return bytes(out)
