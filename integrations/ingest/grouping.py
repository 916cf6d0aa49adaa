"""Group image files into sequences with fileseq, tolerant of holes."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import fileseq


@dataclass(frozen=True)
class ImageGroup:
    """One image sequence, or one image without a frame number (`frames` empty, `pattern` the file).

    `pattern` puts one `#` per digit of padding where the frame number goes (`sh010.####.exr`, the
    Nuke/RV convention), and `@` for numbers without padding (`sh010.@.exr` for sh010.8.exr ... sh010.12.exr).
    `files` and `frames` are sorted by frame and list only what exists: a sequence with holes is still one group.
    """

    pattern: Path
    files: tuple[Path, ...]
    frames: tuple[int, ...]


def group_images(paths: Iterable[Path]) -> list[ImageGroup]:
    """Group image paths (any folders) into sequences, sorted by pattern."""
    names = sorted({str(path) for path in paths})
    groups: list[ImageGroup] = []
    for seq in fileseq.findSequencesInList(names):
        frame_set = seq.frameSet()
        if frame_set is None or len(frame_set) == 0:
            groups.append(ImageGroup(pattern=Path(str(seq)), files=(Path(str(seq)),), frames=()))
            continue
        frames = tuple(sorted(int(frame) for frame in frame_set))
        # one `#` per digit, `@` for unpadded numbers (a lone `#` reads as four digits: sh010.#.exr finds no
        # sh010.8.exr)
        padding = "#" * seq.zfill() if seq.zfill() > 1 else "@"
        pattern = Path(f"{seq.dirname()}{seq.basename()}{padding}{seq.extension()}")
        files = tuple(Path(seq.frame(frame)) for frame in frames)
        groups.append(ImageGroup(pattern=pattern, files=files, frames=frames))
    return sorted(_signs_joined(groups), key=lambda group: str(group.pattern))


def _signs_joined(groups: list[ImageGroup]) -> list[ImageGroup]:
    """`groups` with a sequence's negative frames written with the sign outside the padding (sh010.-0003.png
    beside sh010.0000.png: fileseq counts the sign in the padding, so it reads -0003 as five digits) joined to the
    sequence they belong to, as engine.media.sequences reads it: apart, the daily held the frames of one and the
    bytes of the other, and every fix of it waited for a delivery that never came."""
    by_pattern = {str(group.pattern): group for group in groups}
    for group in list(by_pattern.values()):
        hashes = group.pattern.name.count("#")
        if not group.frames or max(group.frames) >= 0 or hashes < 2:
            continue
        owner = by_pattern.get(
            str(group.pattern.with_name(group.pattern.name.replace("#" * hashes, "#" * (hashes - 1))))
        )
        if owner is None or not owner.frames or set(owner.frames) & set(group.frames):
            continue  # a frame written both ways (-003 and -0003): left apart, as two sequences
        pairs = sorted(zip(owner.frames + group.frames, owner.files + group.files, strict=True))
        by_pattern[str(owner.pattern)] = ImageGroup(
            owner.pattern, tuple(file for _, file in pairs), tuple(frame for frame, _ in pairs)
        )
        del by_pattern[str(group.pattern)]
    return list(by_pattern.values())
