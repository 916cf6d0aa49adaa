"""Whether a daily's files are still where the catalog has them: a movie, or any frame of a sequence. Ingest asks
it of a daily whose content lands under another name (the file renamed or moved, so the daily follows it), and
a fix of a daily it cannot read (gone from disk, or there and unreadable: two answers); and whether the folder
that holds it is seen at all (a share not mounted here hides a daily that did not move); and whether its files are
still as ingest hashed them (a fix and a training read only the content the catalog's hash names)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from engine.media import MediaError
from engine.media.sequences import find_sequence, is_pattern, parse_sequence

FileState = tuple[str, int, int, int, int]  # name, size, mtime_ns, inode, ctime_ns


def source_state(source: str) -> tuple[FileState, ...]:
    """The daily's files as they stand on disk: every frame of a sequence, or the movie; a rewrite, a copy over
    it or a rename onto it moves at least one figure. A file gone is left out, so that reads as a change too."""
    if is_pattern(source):
        try:
            paths = [path for _, path in sorted(find_sequence(source).files.items())]
        except MediaError:
            return ()
    else:
        paths = [Path(source)]
    state: list[FileState] = []
    for path in paths:
        try:
            st = os.stat(path)
        except OSError:
            continue
        state.append((path.name, st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns))
    return tuple(state)


def changed_since_ingest(state: tuple[FileState, ...], size: int, mtime: float) -> bool:
    """Whether the daily's files (`state`, source_state) are other than when ingest hashed them (`size`, their
    sum, and `mtime`, their latest, as the catalog has them): a lab's new version copied over them under the same
    name, not yet ingested (ingest waits for it to hold still, then hashes it), so the catalog's hash is the old
    file's. False when they are gone (another answer: daily_gone). Size and mtime only: the change stamp's inode
    may be another on a machine that mounts the share otherwise."""
    if not state:
        return False
    latest = max(modified for _, _, modified, _, _ in state) / 1e9
    return sum(sized for _, sized, _, _, _ in state) != size or abs(latest - mtime) >= 1e-6


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


def unseen_folder(source: str, roots: Sequence[Path]) -> Path | None:
    """The show's ingest root holding the daily `source` when this machine sees that folder missing or empty,
    else None: a share that is not mounted here, not a daily deleted from it (a sequence pulled back leaves its
    own folder empty, so only the root tells)."""
    folder = next((root for root in roots if Path(source).is_relative_to(root)), None)
    if folder is None:
        return None
    try:
        with os.scandir(folder) as entries:
            return folder if next(entries, None) is None else None
    except FileNotFoundError:
        return folder
    except OSError:
        return None


def moved_away(path: str, roots: Sequence[Path]) -> bool:
    """Whether the daily at `path` went from there (renamed, moved, deleted), so its row may follow a file with
    its content found elsewhere: gone from disk while the ingest root that held it (one of `roots`) is seen
    here. A share not mounted, or mounted empty, hides every daily in it without any having moved."""
    return daily_gone(path) and unseen_folder(path, roots) is None
