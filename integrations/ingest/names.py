"""What a file name means to ingest: movie, image, sidecar, ignored; and how files group for the gate.

Decisions (documented here once):
- Movies (.mov .mp4 .mxf .mkv .avi .m4v, a camcorder's or a broadcast capture's .mts .m2ts .ts, and .mpg
  .mpeg .webm) and images (.exr .dpx .png .jpg .jpeg .tif .tiff) are media, matched case-insensitively.
- Sidecars that travel with dailies (sound, edit lists, colour decisions, checksums, notes) are ignored
  silently: they are expected and are not ours to quarantine.
- Any other file under a root is *rejected* ("not a supported media file"), so a wrongly named or
  unsupported upload (.r3d, .zip) shows up in the quarantine instead of vanishing without a word. A camera's
  raw original (.r3d, .braw, .ari ...) is named as such: its dailies (ProRes, DNxHR, EXR) are what to ingest.
- Temporary names never reach the gate: the `ignore` globs (matched against every path part below the
  root, so a `.staging/` folder hides its content) and rsync's `.name.XXXXXX` temp files.
"""

from __future__ import annotations

import fnmatch
import functools
import re
from collections.abc import Hashable, Iterable
from pathlib import Path, PurePath
from typing import Literal

MOVIE_EXTS = frozenset(
    {".mov", ".mp4", ".mxf", ".mkv", ".avi", ".m4v", ".mts", ".m2ts", ".ts", ".mpg", ".mpeg", ".webm"}
)
# Camera raw originals FFmpeg cannot decode, by extension: a DIT transcodes them to the dailies Rushes reads.
CAMERA_RAW = {
    ".r3d": "RED",
    ".braw": "Blackmagic RAW",
    ".ari": "ARRIRAW",
    ".arx": "ARRIRAW HDE",
    ".crm": "Canon Cinema RAW Light",
    ".nev": "Nikon N-RAW",
}
IMAGE_EXTS = frozenset({".exr", ".dpx", ".png", ".jpg", ".jpeg", ".tif", ".tiff"})
SIDECAR_EXTS = frozenset(
    {
        # sound
        ".wav", ".bwf", ".aif", ".aiff", ".mp3", ".flac",
        # editorial and metadata
        ".xml", ".ale", ".edl", ".otio", ".fcpxml", ".aaf", ".csv", ".json", ".txt", ".md", ".pdf", ".html",
        # colour
        ".cdl", ".cc", ".ccc", ".cube", ".3dl", ".ocio",
        # checksums
        ".md5", ".sha1", ".sha256", ".mhl", ".xxh", ".xxhash",
    }
)  # fmt: skip
SIDECAR_NAMES = frozenset({"thumbs.db", "desktop.ini"})

RSYNC_TEMP = re.compile(r"^\..+\.[A-Za-z0-9]{6}$")

Kind = Literal["movie", "image", "sidecar", "other"]


def media_kind(path: PurePath) -> Kind:
    """Classify a file by its extension."""
    if path.name.lower() in SIDECAR_NAMES:
        return "sidecar"
    ext = path.suffix.lower()
    if ext in MOVIE_EXTS:
        return "movie"
    if ext in IMAGE_EXTS:
        return "image"
    if ext in SIDECAR_EXTS:
        return "sidecar"
    return "other"


def is_ignored_name(name: str, ignore: Iterable[str]) -> bool:
    """True for temporary or hidden names: an `ignore` glob matches, or an rsync temp name."""
    return bool(RSYNC_TEMP.match(name) or _globs(tuple(ignore)).match(name))


@functools.lru_cache(maxsize=64)
def _globs(globs: tuple[str, ...]) -> re.Pattern[str]:
    """The globs as one pattern (fnmatchcase's meaning): a walk asks it of every name of the tree."""
    return re.compile("|".join(f"(?:{fnmatch.translate(glob)})" for glob in globs) or r"(?!)")


def is_ignored_path(rel_path: PurePath, ignore: Iterable[str]) -> bool:
    """True when any part of a root-relative path is an ignored name."""
    globs = tuple(ignore)
    return any(is_ignored_name(part, globs) for part in rel_path.parts)


def unit_key(path: Path) -> Hashable:
    """What the stability gate holds together: a movie alone, images per (folder, extension).

    Grouping images by folder is conservative: every sequence of that extension in a folder waits while
    any of them is still being written, so a sequence is never released half-copied.
    """
    if media_kind(path) == "image":
        return ("images", path.parent, path.suffix.lower())
    return ("file", path)
