"""The DPX header fields FFmpeg's DPX codec neither reads nor writes: the frame's timecode and frame rate.

A lab's or a scanner's DPX frames carry each frame's SMPTE timecode in the television header (offset 1920, a
32-bit word of BCD digits HHMMSSFF, in the file's byte order; bit 6 of the frame byte flags drop-frame) and
the frame rate in the film and television headers (1724 and 1940, 32-bit floats), which a sequence is probed at. Editorial conforms by that
timecode, so a fix reads it and writes it into every frame it makes. A word of all ones (DPX's "undefined")
or of zeros reads as no timecode.

FFmpeg's DPX encoder writes the generic header alone (1664 bytes) with the pixels straight after it, where other
readers (Nuke, OpenImageIO) look for these headers and read pixels as a timecode and a rate: every DPX Rushes
writes gets the film and television headers put in (`with_dpx_header`), their unused fields all ones.
"""

from __future__ import annotations

import math
import struct
from fractions import Fraction

from .info import MediaError
from .timecode import TimecodeError, normalize_timecode

TIMECODE_AT, FILM_RATE_AT, TV_RATE_AT = 1920, 1724, 1940
HEADER_BYTES = 2048
GENERIC_HEADER_BYTES, INDUSTRY_HEADER_BYTES = 1664, 384
TRANSFER_AT = 801  # the first image element's transfer and colorimetric codes, a byte each
BIT_SIZE_AT = 803  # the first image element's bits per sample
# The 32-bit fields of the film and television headers (the rest is text and single bytes).
_WORD_FIELDS = (1712, 1716, 1720, 1724, 1728, 1920, 1924, *range(1932, 1972, 4))
DEFAULT_RATE = Fraction(24)  # a timecode counts at this rate when none is given
_MAGIC = {b"SDPX": ">", b"XPDS": "<"}
_DROP_FRAME = 0x40


def _order(data: bytes) -> str:
    order = _MAGIC.get(bytes(data[:4]))
    if order is None or len(data) < TV_RATE_AT + 4:
        raise MediaError("not a DPX file (no SDPX magic or a short header)")
    return order


def _with_tv_header(data: bytes) -> str | None:
    """The byte order of a DPX whose header reaches the television header (its pixels start after it), or
    None: a file that stops at the generic header holds no timecode or rate to read."""
    order = _MAGIC.get(bytes(data[:4]))
    if order is None or len(data) < TV_RATE_AT + 4:
        return None
    (pixels_at,) = struct.unpack(order + "I", data[4:8])
    return order if pixels_at >= TV_RATE_AT + 4 else None


def _bcd(byte: int) -> int:
    return (byte >> 4) * 10 + (byte & 0x0F)


def read_dpx_timecode(data: bytes) -> str | None:
    """The timecode ("HH:MM:SS:FF", ";FF" for drop-frame) in a DPX file's header bytes, or None."""
    order = _with_tv_header(data)
    if order is None:
        return None
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


ORIENTATION_AT = 768  # the image information header's orientation: 0 is left to right, top to bottom


def dpx_orientation(data: bytes) -> int:
    """A DPX header's image orientation (0: left to right, top to bottom; 1-7: mirrored, flipped or turned)."""
    (orientation,) = struct.unpack(_order(data) + "H", data[ORIENTATION_AT : ORIENTATION_AT + 2])
    return int(orientation)


def read_dpx_rate(data: bytes) -> Fraction | None:
    """The frame rate in a DPX file's header bytes (the television header's, else the film header's; NTSC
    rates as x/1001), or None where both are undefined."""
    order = _with_tv_header(data)
    if order is None:
        return None
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


def dpx_bit_depth(header: bytes | None) -> int | None:
    """The bits per sample of a DPX's first image element (8, 10, 12 or 16; a scanner's 12-bit log scan), from
    its header bytes; None when there are none or they say another."""
    if header is None or len(header) <= BIT_SIZE_AT or _MAGIC.get(bytes(header[:4])) is None:
        return None
    bits = header[BIT_SIZE_AT]
    return bits if bits in (8, 10, 12, 16) else None


def with_dpx_header(
    data: bytes, *, fps: Fraction | None, timecode: str | None, like: bytes | None = None
) -> bytes:
    """DPX file bytes with the frame rate and the frame's `timecode` (at `fps`, else 24) in its header. A file
    that stops at the generic header (FFmpeg writes only those 1664 bytes) gets the film and television headers
    first, their fields undefined (all ones), as SMPTE 268M lays them out and every DPX reader expects. `like`:
    the header bytes of the DPX frame it was made from, whose film and television headers (film type, frame and
    slate ids, signal, gamma, black and white levels) and pixels' transfer and colorimetric codes (a film
    scan's printing density) it keeps, in its own byte order."""
    order = _order(data)
    out = bytearray(data) if _with_tv_header(data) else _with_industry_headers(data, order)
    source_order = None if like is None else _with_tv_header(like)
    if like is not None and source_order is not None:
        out[GENERIC_HEADER_BYTES:HEADER_BYTES] = like[GENERIC_HEADER_BYTES:HEADER_BYTES]
        if source_order != order:
            for at in _WORD_FIELDS:
                out[at : at + 4] = out[at : at + 4][::-1]
    if like is not None and _MAGIC.get(bytes(like[:4])) and len(like) >= TRANSFER_AT + 2:
        # in the generic header: a file written without the industry headers (FFmpeg's) has them too
        out[TRANSFER_AT : TRANSFER_AT + 2] = like[TRANSFER_AT : TRANSFER_AT + 2]
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


def _with_industry_headers(data: bytes, order: str) -> bytearray:
    """A generic-header-only DPX with the industry headers (film and television, 384 bytes) put between its
    header and its pixels, and every offset and size that counts them mended."""
    (pixels_at,) = struct.unpack(order + "I", data[4:8])
    if pixels_at != GENERIC_HEADER_BYTES:
        raise MediaError(
            f"cannot add a DPX timecode: its pixels start at byte {pixels_at}, inside its headers"
        )
    out = bytearray(data[:pixels_at]) + b"\xff" * INDUSTRY_HEADER_BYTES + bytearray(data[pixels_at:])

    def add(at: int) -> None:
        (value,) = struct.unpack(order + "I", out[at : at + 4])
        out[at : at + 4] = struct.pack(order + "I", value + INDUSTRY_HEADER_BYTES)

    add(4)  # the offset to the pixels
    add(16)  # the file size
    out[28:32] = struct.pack(order + "I", INDUSTRY_HEADER_BYTES)
    (elements,) = struct.unpack(order + "H", out[770:772])
    for element in range(min(elements, 8)):  # each image element's own offset to its pixels
        add(808 + 72 * element)
    return out
