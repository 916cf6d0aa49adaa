"""Folder and file names made from a tracker's shot names.

A shot's name comes from the tracker, where whoever may name shots can write anything. Used as it is in a
path, a "/" in it would nest a render in folders of its own, ".." would put it outside the show's renders
folder, and a name past the file system's 255 bytes would fail the render. `path_part` makes any name one
safe path component of bounded length; a name that needs no change is kept as it is, so renders already on
disk keep their paths. Only paths use it: the tracker still sees the full name (the Version's code).

Guarantees: the result is never empty, ".", "..", or holds "/", "\\" or a control character; it is at most
`max_bytes` in UTF-8; the same name always gives the same result; two names cut to the same first bytes stay
apart (a hash of the whole name ends a cut one).
"""

from __future__ import annotations

import hashlib

# A shot's share of a render's file name: the rest of the 255 bytes a file name may have holds
# "_rushes_interpolate_r<10 digits>" (33 bytes), the longest suffix ("_before_after.mp4", 17) and the temporary
# name it is written under first (engine.media.files.temp_name: up to 86 more with a 64-byte host name).
MAX_PART_BYTES = 112
_HASH_CHARS = 8


def path_part(name: str, max_bytes: int = MAX_PART_BYTES) -> str:
    """`name` as one path component: separators and control characters become "_", a name of dots only
    (or none) becomes underscores, and a name over `max_bytes` is cut at a character's edge and ends in "~"
    and a hash of the whole name."""
    safe = "".join("_" if ch in "/\\" or ord(ch) < 32 or ord(ch) == 127 else ch for ch in name)
    if not safe.strip("."):
        safe = "_" * max(len(safe), 1)
    encoded = safe.encode("utf-8")
    if len(encoded) <= max_bytes:
        return safe
    digest = hashlib.sha256(name.encode("utf-8")).hexdigest()[:_HASH_CHARS]
    head = encoded[: max_bytes - _HASH_CHARS - 1].decode("utf-8", errors="ignore")
    return f"{head}~{digest}"
