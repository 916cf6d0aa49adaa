"""Whether a daily's files are still where the catalog has them: a movie, or any frame of a sequence. Ingest asks
it of a daily whose content lands under another name (the file renamed or moved, so the daily follows it), and
a fix of a daily it cannot read (gone from disk, or there and unreadable: two answers)."""

from __future__ import annotations

import os

from engine.media.sequences import is_pattern, parse_sequence


def daily_gone(source: str) -> bool:
    """Whether the daily is gone from disk (moved, deleted): the movie, or every frame of the sequence with its
    folder or not. A daily that is there but cannot be read or listed (a permission, a stray frame) is not gone:
    that is another answer."""
    if not is_pattern(source):
        return not os.path.lexists(source)
    spec = parse_sequence(source)
    try:
        return not any(
            e.name.startswith(spec.head) and e.name.endswith(spec.tail) for e in os.scandir(spec.directory)
        )
    except FileNotFoundError:
        return True
    except OSError:
        return False
