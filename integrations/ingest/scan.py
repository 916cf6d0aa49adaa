"""File-system reads of ingest: stat one path safely, list one folder, walk a whole root.

Symlinks: a link whose target leaves the root (file or folder) is rejected; a broken link is rejected;
links to files inside the root are ingested under the link's own path; links to folders inside the root
are not followed (their target is walked anyway, and loops are impossible).
"""

from __future__ import annotations

import errno
import logging
import os
import stat
from collections.abc import Iterable
from pathlib import Path

from integrations.ingest.candidates import (
    BROKEN_LINK,
    LEAVES_ROOT,
    FileEntry,
    Found,
    Rejected,
    build,
)
from integrations.ingest.names import is_ignored_name, media_kind
from integrations.ingest.options import IngestOptions
from integrations.ingest.templates import Templates

log = logging.getLogger(__name__)


def not_a_file(info: os.stat_result) -> str | None:
    """Why something that exists is not a file ingest can read (a FIFO would block a reader forever)."""
    mode = info.st_mode
    for test, name in (
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a device"),
        (stat.S_ISBLK, "a device"),
    ):
        if test(mode):
            return f"not a regular file ({name}); ingest reads movies and image sequences"
    return None


def stat_entry(root: Path, path: Path) -> FileEntry | Rejected | None:
    """A regular file (possibly through a link inside the root), a rejected link, FIFO, socket or device, or
    None (gone, or a folder)."""
    try:
        info = os.lstat(path)
    except OSError:
        return None
    if stat.S_ISLNK(info.st_mode):
        try:
            target = Path(os.path.realpath(path, strict=True))
        except FileNotFoundError:
            return Rejected(path, BROKEN_LINK, (path,))
        except OSError as error:
            return Rejected(path, link_problem(error), (path,))
        if not _inside(root, target):
            return Rejected(path, LEAVES_ROOT, (path,))
        try:
            info = os.stat(path)
        except FileNotFoundError:
            return Rejected(path, BROKEN_LINK, (path,))
        except OSError as error:
            return Rejected(path, link_problem(error), (path,))
    problem = not_a_file(info)
    if problem is not None:
        return Rejected(path, problem, (path,))
    if not stat.S_ISREG(info.st_mode):
        return None
    return FileEntry(path, info.st_size, info.st_mtime, f"{info.st_ino}:{info.st_ctime_ns}")


def link_problem(error: OSError) -> str:
    """One line for a symlink that cannot be followed."""
    if error.errno == errno.ELOOP:
        return "symlink loop (the link points back at itself); fix or remove the link"
    return f"symlink cannot be followed: {error.strerror or error}"


def list_images(root: Path, folder: Path, ext: str, ignore: Iterable[str]) -> list[FileEntry | Rejected]:
    """Every image with extension `ext` (lower case, with dot) directly in `folder`."""
    globs = tuple(ignore)
    found: list[FileEntry | Rejected] = []
    try:
        with os.scandir(folder) as listing:
            names = [entry.name for entry in listing]
    except OSError:
        return found
    for name in names:
        path = folder / name
        if is_ignored_name(name, globs) or path.suffix.lower() != ext or media_kind(path) != "image":
            continue
        entry = stat_entry(root, path)
        if entry is not None:
            found.append(entry)
    return found


FOLDER_UNREADABLE = "folder cannot be read"


def folder_unreadable(error: OSError) -> str:
    """The quarantine reason for a folder that cannot be listed; a permission says what to do."""
    if error.errno in (errno.EACCES, errno.EPERM):
        return (
            f"{FOLDER_UNREADABLE}: permission denied; let the daemon's user read and enter it (chmod or chown), "
            "and what it holds is ingested without a restart"
        )
    return f"{FOLDER_UNREADABLE}: {error.strerror or error}"


def walk(
    root: Path, ignore: Iterable[str], *, start: Path | None = None
) -> tuple[list[FileEntry], list[Rejected]]:
    """All regular files under `start` (default: the root; ignored names pruned) and the links and
    folders rejected on the way. Raises OSError when `start` itself cannot be listed.
    """
    globs = tuple(ignore)
    entries: list[FileEntry] = []
    rejected: list[Rejected] = []
    top = root if start is None else start
    folders = [top]
    while folders:
        folder = folders.pop()
        try:
            with os.scandir(folder) as listing:
                items = list(listing)
        except OSError as error:
            if folder == top:
                raise
            rejected.append(Rejected(folder, folder_unreadable(error)))
            continue
        for item in items:
            if is_ignored_name(item.name, globs):
                continue
            path = Path(item.path)
            try:
                if item.is_dir(follow_symlinks=False):
                    folders.append(path)
                    continue
            except OSError:
                continue
            found = stat_entry(root, path)
            if isinstance(found, FileEntry):
                entries.append(found)
            elif found is not None:
                rejected.append(found)
    return entries, rejected


def scan_root(root: Path, options: IngestOptions) -> list[Found]:
    """Candidates and rejections for everything under `root` now, stable or not (sorted by path)."""
    entries, rejected = walk(root, options.ignore)
    templates = Templates(options.path_template, options.sequence_template)
    return sorted([*build(root, entries, templates), *rejected], key=lambda item: str(item.path))


def _inside(root: Path, target: Path) -> bool:
    real_root = Path(os.path.realpath(root))
    return target == real_root or target.is_relative_to(real_root)
