"""Image sequences on disk: parse a pattern (fileseq syntax, ####, %04d or one member file) and list its frames."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import fileseq

from .info import MediaError

IMAGE_EXTENSIONS = frozenset({".exr", ".png", ".jpg", ".jpeg", ".dpx", ".tif", ".tiff"})
MOVIE_EXTENSIONS = frozenset(
    {".mov", ".mp4", ".mxf", ".mkv", ".avi", ".m4v", ".mts", ".m2ts", ".ts", ".mpg", ".mpeg", ".webm"}
)

_PRINTF = re.compile(r"%(\d*)d")
_HASHES = re.compile(r"[#@]")
_NUMBERED_FILE = re.compile(r"^(?P<head>.*?)(?P<frame>-?\d+)(?P<tail>\.[A-Za-z0-9]+)$")


@dataclass(frozen=True)
class SequenceSpec:
    """A sequence's naming: `directory/head + frame zero-padded to `padding` + tail`.

    padding 0 means a single image without a frame number. `frames` is the explicit
    frame set of a fileseq range pattern, else None (the frames on disk define it).
    """

    directory: Path
    head: str
    tail: str
    padding: int
    frames: tuple[int, ...] | None = None

    @property
    def pattern(self) -> str:
        """The pattern in hash form: `sh010.####.exr` (one `#` per digit, `@` for unpadded)."""
        if self.padding == 0:
            return str(self.directory / f"{self.head}{self.tail}")
        pad = "#" * self.padding if self.padding > 1 else "@"
        return str(self.directory / f"{self.head}{pad}{self.tail}")

    @property
    def extension(self) -> str:
        return self.tail.lower()

    def path(self, frame: int) -> Path:
        """The file of frame number `frame`."""
        if self.padding == 0:
            return self.directory / f"{self.head}{self.tail}"
        digits = f"-{abs(frame):0{self.padding}d}" if frame < 0 else f"{frame:0{self.padding}d}"
        return self.directory / f"{self.head}{digits}{self.tail}"


@dataclass(frozen=True)
class SequenceFiles:
    """The frames of a sequence found on disk, and the holes between its first and last frame."""

    spec: SequenceSpec
    files: dict[int, Path]
    missing: list[int] = field(default_factory=list)

    @property
    def first(self) -> int:
        return min(self.files)

    @property
    def last(self) -> int:
        return max(self.files)


def is_pattern(source: str) -> bool:
    """True when `source` names a sequence by pattern rather than by one file. A movie's name is never a pattern:
    `sh010@client.mov` or `sh010_take#2.mov` is one file (read as a sequence, it was quarantined)."""
    name = os.path.basename(source)
    if Path(name).suffix.lower() in MOVIE_EXTENSIONS:
        return False
    return bool(_PRINTF.search(name) or _HASHES.search(name))


def is_image_path(source: str) -> bool:
    return Path(source).suffix.lower() in IMAGE_EXTENSIONS


def _pad_from_hashes(chars: str) -> int:
    # fileseq convention: a lone '#' is four digits; otherwise one digit per '#'/'@' (Nuke style).
    return 4 if chars == "#" else len(chars)


def parse_sequence(source: str | Path) -> SequenceSpec:
    """Parse `sh010.####.exr`, `sh010.%04d.exr`, `sh010.1001-1010#.exr` or `sh010.1001.exr`."""
    text = str(source)
    directory, name = Path(os.path.dirname(text) or "."), os.path.basename(text)
    if m := _PRINTF.search(name):
        return SequenceSpec(directory, name[: m.start()], name[m.end() :], int(m[1] or 1))
    if _HASHES.search(name):
        try:
            seq = fileseq.FileSequence(name)
        except fileseq.ParseException as e:
            raise MediaError(f"not a sequence pattern: {e}", text) from None
        frame_set = seq.frameSet()
        frames = tuple(int(f) for f in frame_set) if frame_set is not None else None
        return SequenceSpec(
            directory, seq.basename(), seq.extension(), _pad_from_hashes(seq.padding()), frames
        )
    if m := _NUMBERED_FILE.match(name):
        digits = m["frame"].lstrip("-")
        return SequenceSpec(directory, m["head"], m["tail"], len(digits))
    return SequenceSpec(directory, Path(name).stem, Path(name).suffix, 0)


def _scan(spec: SequenceSpec) -> dict[int, Path]:
    if spec.padding == 0:
        path = spec.path(0)
        return {0: path} if path.is_file() else {}
    member = re.compile(rf"^{re.escape(spec.head)}(-?)(\d+){re.escape(spec.tail)}$")
    found: dict[int, Path] = {}
    try:
        entries = list(os.scandir(spec.directory))
    except FileNotFoundError:
        raise MediaError("the sequence's folder does not exist", str(spec.directory)) from None
    except PermissionError:
        raise MediaError("cannot read: permission denied", str(spec.directory)) from None
    for entry in entries:
        m = member.match(entry.name)
        if not m:
            continue
        digits = m[2]
        if not _padded(digits, spec.padding, negative=bool(m[1])):
            continue
        try:
            if entry.is_file() and entry.stat().st_size > 0:
                found[-int(digits) if m[1] else int(digits)] = Path(entry.path)
        except OSError:
            continue
    return dict(sorted(found.items()))


def _padded(digits: str, padding: int, negative: bool) -> bool:
    """Whether a file's frame number (its `digits`, after any minus sign) is written to `padding`: as many digits,
    or more with no leading zero (frame 10000 of a ####); a negative one with its sign counted in the padding too
    (printf's %04d, and fileseq, write -3 as -003), or not (-0003, as Rushes writes it). -003 used to be left out:
    half of a plate numbered -3..2 vanished from its daily and its fix without a word."""
    if len(digits) == padding or (len(digits) > padding and digits[0] != "0"):
        return True
    return negative and len(digits) == padding - 1 and padding > 1


def _other_padding(spec: SequenceSpec) -> str:
    """The rest of the sentence when the folder holds the sequence's frames numbered with another padding (a
    pattern of #### for frames named sh010.1.png ... sh010.12.png): the pattern that finds them."""
    if spec.padding == 0:
        return ""
    member = re.compile(rf"^{re.escape(spec.head)}-?(\d+){re.escape(spec.tail)}$")
    try:
        numbers = [m[1] for entry in os.scandir(spec.directory) if (m := member.match(entry.name))]
    except OSError:
        return ""
    if not numbers:
        return ""
    zero_padded = [len(n) for n in numbers if len(n) > 1 and n[0] == "0"]
    padding = min(zero_padded) if zero_padded else 1  # 1: unpadded numbers, any length
    if padding == spec.padding:
        return ""
    other = SequenceSpec(spec.directory, spec.head, spec.tail, padding)
    return f"; its folder holds {len(numbers)} frame(s) numbered otherwise: use {other.pattern}"


def sequences_in(folder: Path) -> list[SequenceFiles]:
    """The image sequences a folder holds directly (one per name and extension), largest first: what a folder
    given where a pattern belongs most likely meant."""
    groups: dict[tuple[str, str], list[str]] = {}
    try:
        names = sorted(entry.name for entry in os.scandir(folder) if entry.is_file())
    except OSError:
        return []
    for name in names:
        m = _NUMBERED_FILE.match(name)
        if m and is_image_path(name):
            groups.setdefault((m["head"], m["tail"]), []).append(m["frame"])
    found: list[SequenceFiles] = []
    for (head, tail), numbers in groups.items():
        digits = [n.lstrip("-") for n in numbers]
        padded = [len(n) for n in digits if len(n) > 1 and n.startswith("0")]
        spec = SequenceSpec(folder, head, tail, min(padded) if padded else min(map(len, digits)))
        try:
            found.append(find_sequence(spec.pattern))
        except MediaError:  # only empty files of that name
            continue
    return sorted(found, key=lambda seq: -len(seq.files))


def find_sequence(source: str | Path) -> SequenceFiles:
    """The frames on disk for a pattern or member file; zero-byte frame files count as missing."""
    spec = parse_sequence(source)
    files = _scan(spec)
    if spec.frames is not None:
        wanted = set(spec.frames)
        files = {n: p for n, p in files.items() if n in wanted}
    if not files:
        raise MediaError("no frames found for this sequence" + _other_padding(spec), spec.pattern)
    if spec.frames is not None:
        missing = sorted(set(spec.frames) - set(files))
    else:
        lo, hi = min(files), max(files)
        if hi - lo + 1 > MAX_SPAN:
            raise MediaError(_stray_frames(files), spec.pattern)
        missing = [n for n in range(lo, hi + 1) if n not in files]
    return SequenceFiles(spec, files, missing)


MAX_SPAN = 1_000_000  # frame numbers from a sequence's first to its last: more than any shot holds


def _stray_frames(files: dict[int, Path]) -> str:
    """Why a sequence's numbers span more than MAX_SPAN: the frames beyond its widest gap, on the side with
    fewer of them (a frame misnumbered sh010.9999999999.exr beside 1001-1100), whose holes would be listed one
    by one and fill the memory of whatever read it."""
    numbers = sorted(files)
    cut = max(range(len(numbers) - 1), key=lambda i: numbers[i + 1] - numbers[i])
    below, above = numbers[: cut + 1], numbers[cut + 1 :]
    stray = below if len(below) < len(above) else above
    named = ", ".join(files[n].name for n in stray[:3]) + (
        f" and {len(stray) - 3} more" if len(stray) > 3 else ""
    )
    return (
        f"frame numbers {numbers[0]}-{numbers[-1]} span {numbers[-1] - numbers[0] + 1:,} frames for "
        f"{len(numbers)} file(s), more than a shot holds: rename or remove the stray frame(s) {named}"
    )


def frameset_string(frames: list[int]) -> str:
    """Compact fileseq notation of frame numbers, e.g. "1001-1003,1005"."""
    return str(fileseq.FrameSet(frames)) if frames else ""


def frames_named(frames: list[int]) -> str:
    """Frame numbers for a sentence: "frame 1004", "frames 1003-1004"."""
    return ("frame " if len(frames) == 1 else "frames ") + frameset_string(frames)
