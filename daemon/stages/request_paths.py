"""Paths a tracker user names in a fix request are confined to the show's own folders.

A fix request's `reference` (a regrade reference image) and `mask` (a cleanup mask image or movie) may name
files. Anyone who can edit a task in the tracker can write them, so the daemon must not open any file the
daemon's user can read (`reference=/etc/shadow`). The rule: after resolving symlinks and `..`, such a path
must lie inside one of the show's ingest roots or its references folder (`DATA_DIR/references/SHOW`);
otherwise the request is refused for good (Permanent, one line, no retry). A name that is not a full path
(`reference=sh040`, a shot's code; `look.png`) would be looked for wherever the daemon happens to run, so it is
refused with what to write instead. Frame numbers and `x,y,w,h` rectangles are not paths and pass. `rushes fix` on the command line is not confined: its user names their
own files.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from daemon.jobs.outcomes import Permanent
from daemon.settings import Settings, ShowConfig

PATH_PARAMS = ("reference", "mask")
_NOT_A_PATH = re.compile(r"^\s*(-?\d+|\d+\s*,\s*\d+\s*,\s*\d+\s*,\s*\d+)\s*$")  # a frame number, or x,y,w,h


def references_dir(settings: Settings, show: ShowConfig) -> Path:
    """Where a show's reference images and masks for tracker requests go."""
    return settings.data_dir / "references" / show.code


def allowed_roots(settings: Settings, show: ShowConfig) -> list[Path]:
    return [*(root.path for root in show.ingest.roots), references_dir(settings, show)]


def check_request_paths(params: Mapping[str, Any], roots: list[Path], *, frames: range | None = None) -> None:
    """Permanent (one line) when a path parameter resolves outside every root, or is not a full path; `frames`,
    the shot's frame numbers, give the answer's example of a reference frame."""
    real_roots = [Path(os.path.realpath(root)) for root in roots]
    for key in PATH_PARAMS:
        value = params.get(key)
        if value is None or _NOT_A_PATH.match(str(value)):
            continue
        if not Path(str(value).strip()).is_absolute():
            raise Permanent(_not_a_full_path(key, str(value).strip(), roots[-1], frames))
        real = Path(os.path.realpath(str(value).strip()))
        if not any(real.is_relative_to(root) for root in real_roots):
            raise Permanent(
                f"{key} {str(value).strip()!r} is outside the show's folders; put the file in "
                f"{roots[-1]} (or an ingest folder of the show) and ask again"
            )


def _not_a_full_path(key: str, value: str, references: Path, frames: range | None) -> str:
    """The answer to a `reference` or `mask` that is neither a frame number or rectangle nor a full path; a
    reference's names a frame of the shot (`frames`), as the show counts them (a movie's from 0 unless its
    movie_first_frame says otherwise)."""
    if key == "reference":
        frame = (
            f"reference={frames[-1]} (a frame of this shot in the look it should take: its frames are"
            f" {frames[0]}-{frames[-1]})"
            if frames
            else "reference=N (the number of a frame of this shot)"
        )
        return (
            f"reference {value!r} is neither a frame number of this shot nor the full path of a still: write"
            f" {frame}, or put a still (of another shot, to match its look) in {references} and write its full"
            " path"
        )
    return (
        f"{key} {value!r} is neither a rectangle x,y,w,h nor the full path of a mask: write {key}=10,20,64,48,"
        f" or put the mask in {references} and write its full path"
    )
