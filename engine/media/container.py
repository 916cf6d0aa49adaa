"""Opening movie containers with PyAV, and turning FFmpeg failures into one-line MediaError reasons."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import av

from .files import check_readable
from .info import MediaError

_ISO_BOXES = {b"ftyp", b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot", b"uuid"}


def iso_bmff_problem(path: Path, size: int) -> str | None:
    """Why a QuickTime/MP4 file is incomplete (an atom runs past the end, no moov), or None."""
    with path.open("rb") as f:
        head = f.read(8)
        if len(head) < 8 or head[4:8] not in _ISO_BOXES:
            return None
        pos, seen = 0, set()
        while pos + 8 <= size:
            f.seek(pos)
            hdr = f.read(16)
            box, kind = int.from_bytes(hdr[:4], "big"), hdr[4:8]
            if box == 1 and len(hdr) >= 16:
                box = int.from_bytes(hdr[8:16], "big")
            elif box == 0:
                box = size - pos
            if box < 8:
                return "corrupt: a QuickTime/MP4 atom has an invalid size"
            seen.add(kind)
            if pos + box > size:
                name = kind.decode("latin-1")
                return f"truncated: the '{name}' atom needs {pos + box} bytes but the file has {size}"
            pos += box
    if b"moov" not in seen:
        return "truncated: no 'moov' index atom (an incomplete copy or an unfinished recording)"
    return None


def _open_failure(path: Path, size: int, err: Exception) -> MediaError:
    problem = iso_bmff_problem(path, size)
    if problem:
        return MediaError(problem, str(path))
    if isinstance(err, PermissionError):
        return MediaError("cannot read: permission denied", str(path))
    if isinstance(err, av.error.InvalidDataError):
        return MediaError("not a media file (FFmpeg found no known format)", str(path))
    msg = getattr(err, "strerror", None) or str(err)
    return MediaError(f"cannot open: {msg}", str(path))


def _area(stream: Any) -> int:
    ctx = stream.codec_context
    return int(ctx.width or 0) * int(ctx.height or 0) if ctx is not None else 0


def open_movie(path: Path) -> tuple[Any, Any, int]:
    """(container, video stream, file size) of a readable movie; MediaError otherwise."""
    size = check_readable(path)
    try:
        container: Any = av.open(str(path), metadata_errors="ignore")
    except (av.error.FFmpegError, OSError) as e:
        raise _open_failure(path, size, e) from None
    videos = [s for s in container.streams.video if not s.disposition & av.stream.Disposition.attached_pic]
    if not videos:
        container.close()
        raise MediaError(iso_bmff_problem(path, size) or "no video stream", str(path))
    # the picture ffmpeg itself would take: the largest, then the default one, then the first (a proxy or a
    # second angle that came first was read as the daily, silently)
    stream = max(
        videos, key=lambda s: (_area(s), bool(s.disposition & av.stream.Disposition.default), -s.index)
    )
    if stream.codec_context is None or stream.codec_context.codec is None:
        container.close()
        raise MediaError("unknown codec: FFmpeg has no decoder for its video stream", str(path))
    return container, stream, size
