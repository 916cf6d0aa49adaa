"""Cheap per-frame checks of image files: the size a header promises and whether the file is whole.

Probing a sequence of thousands of frames cannot decode every frame, but it can read every frame's header
and the few bytes that show a file was written to its end:
- PNG: the signature, the IHDR size and an IEND chunk at the end;
- JPEG: the SOI marker, the size in the first SOF segment and an EOI marker in the last bytes;
- DPX: the magic (either byte order), the size from the image information header, and a file at least as
  long as its own header says;
- EXR: the header (through the OpenEXR library) and, for single-part scanline files, an offset table whose
  every chunk starts inside the file;
- TIFF and anything else: a full decode (rare in dailies).
Each check returns (width, height) or raises MediaError with one line naming what is wrong.
"""

from __future__ import annotations

import struct
from pathlib import Path

from . import exr
from .images import read_header
from .info import MediaError

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
_EXR_LINES_PER_CHUNK = {0: 1, 1: 1, 2: 1, 3: 16, 4: 32, 5: 16, 6: 32, 7: 32, 8: 32, 9: 256}
_EXR_NOT_PLAIN_SCANLINE = 0x200 | 0x800 | 0x1000  # tiled, deep, multi-part
HEAD_BYTES = 1 << 16


def _read_ends(path: Path, head: int = HEAD_BYTES, tail: int = 64) -> tuple[bytes, bytes, int]:
    try:
        with path.open("rb") as f:
            data = f.read(head)
            size = f.seek(0, 2)
            f.seek(max(0, size - tail))
            end = f.read(tail)
    except FileNotFoundError:
        raise MediaError("frame file is missing", str(path)) from None
    except PermissionError:
        raise MediaError("cannot read: permission denied", str(path)) from None
    except OSError as e:
        raise MediaError(f"cannot read: {e.strerror or e}", str(path)) from None
    if size == 0:
        raise MediaError("empty file (0 bytes)", str(path))
    return data, end, size


def _png(path: Path) -> tuple[int, int]:
    data, end, _ = _read_ends(path)
    if not data.startswith(_PNG_SIGNATURE) or data[12:16] != b"IHDR":
        raise MediaError("not a PNG file (no PNG signature and IHDR header)", str(path))
    width, height = struct.unpack(">II", data[16:24])
    if end[-8:-4] != b"IEND":
        raise MediaError("truncated PNG: the file does not end with an IEND chunk", str(path))
    return width, height


def _jpeg(path: Path) -> tuple[int, int]:
    data, end, _ = _read_ends(path)
    if not data.startswith(b"\xff\xd8"):
        raise MediaError("not a JPEG file (no SOI marker)", str(path))
    if b"\xff\xd9" not in end:
        raise MediaError("truncated JPEG: the file does not end with an EOI marker", str(path))
    pos = 2
    while pos + 9 <= len(data):
        if data[pos] != 0xFF:
            pos += 1
            continue
        marker = data[pos + 1]
        if marker in _JPEG_SOF:
            height, width = struct.unpack(">HH", data[pos + 5 : pos + 9])
            return width, height
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7 or marker == 0xFF:
            pos += 2 if marker != 0xFF else 1
            continue
        pos += 2 + struct.unpack(">H", data[pos + 2 : pos + 4])[0]
    raise MediaError("corrupt JPEG: no frame header (SOF) in its first 64 KiB", str(path))


def _dpx(path: Path) -> tuple[int, int]:
    data, _, size = _read_ends(path, head=1024)
    order = {b"SDPX": ">", b"XPDS": "<"}.get(data[:4])
    if order is None or len(data) < 780:
        raise MediaError("not a DPX file (no SDPX magic or a short header)", str(path))
    image_offset, file_size = (
        struct.unpack(order + "I", data[4:8])[0],
        struct.unpack(order + "I", data[16:20])[0],
    )
    width, height = struct.unpack(order + "II", data[772:780])
    if size < max(image_offset, file_size):
        raise MediaError(
            f"truncated DPX: its header says {max(image_offset, file_size)} bytes, the file has {size}",
            str(path),
        )
    return width, height


def _exr_chunk_table(path: Path) -> None:
    """For a single-part scanline EXR: every chunk offset in the table points inside the file."""
    data, _, size = _read_ends(path, head=HEAD_BYTES)
    if len(data) < 8 or data[:4] != b"\x76\x2f\x31\x01":
        raise MediaError("not an EXR file (no OpenEXR magic number)", str(path))
    if struct.unpack("<I", data[4:8])[0] & _EXR_NOT_PLAIN_SCANLINE:
        return
    pos, compression, window = 8, None, None
    while pos < len(data) and data[pos] != 0:
        name_end = data.index(b"\0", pos)
        type_end = data.index(b"\0", name_end + 1)
        name = data[pos:name_end]
        (length,) = struct.unpack("<I", data[type_end + 1 : type_end + 5])
        value = data[type_end + 5 : type_end + 5 + length]
        if name == b"compression":
            compression = value[0]
        elif name == b"dataWindow":
            window = struct.unpack("<iiii", value)
        pos = type_end + 5 + length
    if compression is None or window is None or pos >= len(data):
        return  # header larger than we read, or odd: the decode of sampled frames still checks it
    rows = window[3] - window[1] + 1
    chunks = -(-rows // _EXR_LINES_PER_CHUNK.get(compression, 1))
    table = data[pos + 1 : pos + 1 + 8 * chunks]
    if len(table) < 8 * chunks or pos + 1 + 8 * chunks > size:
        raise MediaError("truncated EXR: the file ends inside its chunk offset table", str(path))
    offsets = struct.unpack(f"<{chunks}Q", table)
    if any(not pos < offset < size for offset in offsets):
        raise MediaError(
            "truncated or corrupt EXR: a chunk offset points past the end of the file", str(path)
        )


def _exr(path: Path) -> tuple[int, int]:
    try:
        _exr_chunk_table(path)
    except (ValueError, struct.error):
        raise MediaError("corrupt EXR: its header cannot be parsed", str(path)) from None
    h = exr.read_exr_header(path, pixels=False)
    return h.width, h.height


_CHECKS = {".png": _png, ".jpg": _jpeg, ".jpeg": _jpeg, ".dpx": _dpx, ".exr": _exr}


def frame_size(path: Path) -> tuple[int, int]:
    """(width, height) from an image file's header, after checking the file looks whole."""
    check = _CHECKS.get(path.suffix.lower())
    if check is not None:
        return check(path)
    header = read_header(path)
    return header.width, header.height
