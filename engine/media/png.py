"""The colour chunks of a PNG frame, which a frame made from it keeps: its ICC profile (`iCCP`), sRGB rendering
intent (`sRGB`), gamma (`gAMA`), primaries (`cHRM`) and coding-independent code points (`cICP`).

FFmpeg's PNG encoder writes none of a source frame's: a still or a sequence mastered in Display P3 or Adobe RGB
(its ICC profile saying so) came back untagged, and every viewer showed it as sRGB, its colours shifted. The
chunks are copied as stored (each carries its own CRC) right after the new frame's header, where PNG wants them.
"""

from __future__ import annotations

import struct
from pathlib import Path

from .info import MediaError

SIGNATURE = b"\x89PNG\r\n\x1a\n"
COLOUR_CHUNKS = frozenset({b"iCCP", b"sRGB", b"gAMA", b"cHRM", b"cICP"})
_PIXELS = frozenset({b"PLTE", b"IDAT", b"IEND"})  # the colour chunks come before these


def read_colour_chunks(path: Path) -> list[bytes]:
    """The colour chunks of the PNG file `path`, each whole (length, type, data, CRC); [] when it has none or is
    not a PNG. Only the chunks before its pixels are read."""
    chunks = []
    with path.open("rb") as f:
        if f.read(8) != SIGNATURE:
            return []
        while head := f.read(8):
            if len(head) < 8:
                break
            (length,), kind = struct.unpack(">I", head[:4]), head[4:]
            if kind in _PIXELS:
                break
            if kind in COLOUR_CHUNKS:
                chunks.append(head + f.read(length + 4))
            else:
                f.seek(length + 4, 1)
    return chunks


def with_colour_chunks(data: bytes, chunks: list[bytes]) -> bytes:
    """PNG file bytes with `chunks` (read_colour_chunks of the frame it was made from) in place of its own colour
    chunks, right after its header."""
    if not chunks:
        return data
    if data[:8] != SIGNATURE or data[12:16] != b"IHDR":
        raise MediaError("not a PNG file (no PNG signature and header)")
    at = 8 + 12 + struct.unpack(">I", data[8:12])[0]  # past IHDR: length, type, data, CRC
    kept = [data[:at], *chunks]
    while at < len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        end = at + 12 + length
        if data[at + 4 : at + 8] not in COLOUR_CHUNKS:
            kept.append(data[at:end])
        at = end
    return b"".join(kept)
