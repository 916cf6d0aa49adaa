"""What ingest hands the daemon: a stable Candidate to probe and catalog, or a Rejected path to quarantine.

`build` turns stat'ed files under one root into candidates. Its rules (see names.py for extensions):
- a movie is one candidate, matched against `path_template`;
- images are grouped into sequences (holes allowed) and matched against `sequence_template`;
- sidecars (sound, EDLs, checksums ...) are skipped silently;
- rejected: any other extension ("not a supported media file"), an empty file, an image without a frame
  number, a name that does not match its template, a name that is not valid UTF-8. Symlinks that leave the root are rejected in scan.py.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from integrations.ingest.grouping import group_images
from integrations.ingest.names import CAMERA_RAW, IMAGE_EXTS, MOVIE_EXTS, media_kind
from integrations.ingest.templates import Templates


@dataclass(frozen=True)
class FileEntry:
    """One regular file as stat saw it."""

    path: Path
    size: int
    mtime: float
    stamp: str = ""  # "inode:ctime_ns": moves on every write, also when size and mtime are put back


def combined_stamp(entries: Iterable[FileEntry]) -> str:
    """One change stamp for a movie (its own) or a sequence (a digest of every frame's name and stamp)."""
    items = list(entries)
    if len(items) == 1:
        return items[0].stamp
    digest = hashlib.blake2b(digest_size=12)
    for entry in items:
        digest.update(f"{entry.path.name}\0{entry.stamp}\0".encode("utf-8", "surrogateescape"))
    return f"seq:{digest.hexdigest()}"


@dataclass(frozen=True)
class Candidate:
    """A movie or an image sequence that held still for `stable_seconds`.

    `path` is the movie file, or the sequence pattern with one `#` per padding digit
    (`/ingest/sh010/sh010.####.exr`); `files` are the real files in frame order; `size` is their sum,
    `mtime` their latest; `frames` lists the frame numbers present (empty for movies); `stamp` is their
    change stamp (combined_stamp), so content rewritten with size and mtime kept is a new candidate.
    """

    root: Path
    kind: Literal["movie", "sequence"]
    path: Path
    files: tuple[Path, ...]
    size: int
    mtime: float
    frames: tuple[int, ...] = ()
    shot: str | None = None
    take: str | None = None
    show: str | None = None
    date: str | None = None
    stamp: str = field(default="", compare=False)

    @property
    def key(self) -> Hashable:
        """Identity for 'delivered once': the same path with the same size, mtime, file count and stamp."""
        return ("candidate", self.path, self.size, self.mtime, len(self.files), self.stamp)


@dataclass(frozen=True)
class Rejected:
    """A path to quarantine, with one sentence saying why; `files` lists every file it covers."""

    path: Path
    reason: str
    files: tuple[Path, ...] = ()

    @property
    def key(self) -> Hashable:
        return ("rejected", self.path, self.reason)


Found = Candidate | Rejected

LEAVES_ROOT = "path leaves the ingest root through a symlink"
BROKEN_LINK = "symlink target does not exist; fix or remove the link"
EMPTY = "file is empty"
NO_FRAME = "image has no frame number; name image sequences like sh010.1001.exr"
BAD_NAME = "file name is not valid UTF-8 (bytes shown as \\xNN); rename it with a UTF-8 name"
BAD_FOLDER = (
    "a folder on its path (the ingest folder, or one in it) is not valid UTF-8 (bytes shown as \\xNN), so nothing "
    "in it can be catalogued; rename that folder with a UTF-8 name"
)
CONTROL_NAME = (
    "file name holds a line break, a tab or another control character, which would break every list and log "
    "line it is in; rename it"
)


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _bad_name(path: Path, root: Path) -> str | None:
    """Why a file's name cannot be catalogued (bytes that are not UTF-8, a control character), or None."""
    if not valid_name(path.parent):  # a folder's, not the file's: renaming the files mends nothing
        return BAD_FOLDER
    if not valid_name(path):
        return BAD_NAME
    return CONTROL_NAME if _CONTROL.search(str(path.relative_to(root))) else None


def valid_name(path: Path) -> bool:
    """False for a path with bytes that are not UTF-8 (os gives them as surrogates; no database stores them)."""
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def not_media(path: Path) -> str:
    raw = CAMERA_RAW.get(path.suffix.lower())
    if raw is not None:
        return (
            f"a {raw} camera original ({path.suffix}), which Rushes cannot decode: ingest the dailies made "
            "from it (ProRes, DNxHR, H.264 or an EXR or DPX sequence)"
        )
    return (
        f"not a supported media file ({path.suffix or 'no extension'}); ingest takes movies "
        f"({' '.join(sorted(MOVIE_EXTS))}) and image sequences ({' '.join(sorted(IMAGE_EXTS))})"
    )


def build(root: Path, entries: Iterable[FileEntry], templates: Templates) -> list[Found]:
    """Candidates and rejections for files under `root`, sorted by path."""
    found: list[Found] = []
    images: dict[Path, FileEntry] = {}
    badly_named: dict[str, list[Path]] = {BAD_NAME: [], BAD_FOLDER: [], CONTROL_NAME: []}  # one a sequence
    for entry in entries:
        kind = media_kind(entry.path)
        if kind == "sidecar":
            continue
        bad = _bad_name(entry.path, root)
        if bad is not None and kind == "image":
            badly_named[bad].append(entry.path)
        elif bad is not None:
            found.append(Rejected(entry.path, bad, (entry.path,)))
        elif kind == "other":
            found.append(Rejected(entry.path, not_media(entry.path), (entry.path,)))
        elif entry.size == 0:
            found.append(Rejected(entry.path, EMPTY, (entry.path,)))
        elif kind == "movie":
            found.append(_movie(root, entry, templates))
        else:
            images[entry.path] = entry
    found.extend(_sequences(root, images, templates))
    for reason, paths in badly_named.items():
        found.extend(Rejected(g.pattern, reason, g.files) for g in group_images(paths))
    return sorted(found, key=lambda item: str(item.path))


def _movie(root: Path, entry: FileEntry, templates: Templates) -> Found:
    match = templates.match_movie(entry.path.relative_to(root))
    if match is None:
        reason = f"name does not match the path {templates.movie.named()}"
        return Rejected(entry.path, reason, (entry.path,))
    return Candidate(
        root=root,
        kind="movie",
        path=entry.path,
        files=(entry.path,),
        size=entry.size,
        mtime=entry.mtime,
        stamp=entry.stamp,
        shot=match.shot,
        take=match.take,
        show=match.show,
        date=match.date,
    )


def _sequences(root: Path, images: dict[Path, FileEntry], templates: Templates) -> list[Found]:
    found: list[Found] = []
    for group in group_images(images):
        if not group.frames:
            found.append(Rejected(group.pattern, NO_FRAME, group.files))
            continue
        match = templates.match_sequence(group.pattern.relative_to(root))
        if match is None:
            reason = f"sequence does not match the sequence {templates.sequence.named()}"
            found.append(Rejected(group.pattern, reason, group.files))
            continue
        entries = [images[path] for path in group.files]
        found.append(
            Candidate(
                root=root,
                kind="sequence",
                path=group.pattern,
                files=group.files,
                size=sum(entry.size for entry in entries),
                mtime=max(entry.mtime for entry in entries),
                stamp=combined_stamp(entries),
                frames=group.frames,
                shot=match.shot,
                take=match.take,
                show=match.show,
                date=match.date,
            )
        )
    return found
