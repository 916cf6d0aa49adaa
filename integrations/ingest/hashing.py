"""Content hash of a movie or a sequence, streamed."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

CHUNK = 4 * 1024 * 1024


def content_hash(files: Sequence[Path], chunk: int = CHUNK, *, with_names: bool | None = None) -> str:
    """`blake2b:<64 hex>` (BLAKE2b, 32-byte digest) over the bytes of each file in order.

    With names (the default for more than one file, i.e. sequences) each file contributes its base name,
    its bytes and its length, so renumbered or reordered frames hash differently. A single movie hashes
    its bytes alone, so a renamed copy is recognised.
    """
    names = len(files) > 1 if with_names is None else with_names
    digest = hashlib.blake2b(digest_size=32)
    for path in files:
        if names:
            digest.update(path.name.encode("utf-8", "surrogateescape") + b"\0")
        length = 0
        with open(path, "rb") as stream:
            while block := stream.read(chunk):
                digest.update(block)
                length += len(block)
        if names:
            digest.update(length.to_bytes(8, "little"))
    return f"blake2b:{digest.hexdigest()}"
