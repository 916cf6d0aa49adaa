"""Training clips: decoded once at training resolution, cached as uint8 .npy, split into train and held-out."""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from engine.model.manifest import ClipRecord
from engine.shots import find_cuts, split_shots
from engine.train import cache_files

if TYPE_CHECKING:
    from engine.media.frames import Frame
    from engine.media.info import MediaInfo


class DatasetError(ValueError):
    """The training clips cannot be used (none given, unreadable, too short); `clip_id` names the clip at
    fault when one is (so a caller can set that clip aside and train on the others)."""

    def __init__(self, message: str, clip_id: str | None = None) -> None:
        super().__init__(message)
        self.clip_id = clip_id


@dataclass
class TrainClip:
    """One clip of the show: a path (movie or image sequence) or frames (T,H,W,3 float 0..1 or uint8).

    `content_hash` comes from the caller (the catalog's hash); when empty it is computed here."""

    id: str
    content_hash: str = ""
    path: Path | None = None
    frames: np.ndarray | None = None
    # clips of one group (a shot's deliveries and takes: near the same pictures) are held out together, so no
    # held-out clip is scored on pictures training saw; "" is a group of its own
    group: str = ""


ClipLike = TrainClip | str | Path | np.ndarray


@dataclass
class LoadedClip:
    record: ClipRecord  # record.cuts: where the clip's shots start (engine.shots)
    frames: np.ndarray  # T,H,W,3 uint8 at training resolution (possibly memory-mapped)
    numbers: np.ndarray | None = None  # a file's source number of each frame (None: frames given in memory)
    group: str = ""  # TrainClip.group


@dataclass
class Split:
    train: list[np.ndarray]  # one array per shot (a clip with cuts gives several)
    holdout: list[np.ndarray]
    train_records: list[ClipRecord]
    holdout_records: list[ClipRecord]
    mode: str  # "clips" or "tails"

    def add(self, held: bool, shots: list[np.ndarray], record: ClipRecord) -> None:
        """A part's shots and record, on the held-out side or the training one."""
        if held:
            self.holdout += shots
            self.holdout_records.append(record)
        else:
            self.train += shots
            self.train_records.append(record)


def _hash_array(arr: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(arr).tobytes()).hexdigest()


def hash_files(files: Iterable[Path]) -> str:
    """SHA-256 over each file's name and bytes, in the order given."""
    digest = hashlib.sha256()
    for f in files:
        digest.update(f.name.encode())
        with f.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


def content_hashes(files: Iterable[Path]) -> tuple[str, str]:
    """`hash_files` of the files, and SHA-256 over their bytes alone (the same for a copy under other names),
    in one read."""
    named, unnamed = hashlib.sha256(), hashlib.sha256()
    for f in files:
        named.update(f.name.encode())
        with f.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                named.update(chunk)
                unnamed.update(chunk)
    return named.hexdigest(), unnamed.hexdigest()


def _hash_path(path: Path) -> str:
    """The content hash of a movie, a folder's files, or an image sequence's frames (`sh010.####.exr`)."""
    from engine.media.sequences import find_sequence, is_image_path, is_pattern

    if is_pattern(str(path)) or is_image_path(str(path)):  # read as its whole sequence, so hashed as one
        return hash_files(find_sequence(path).files.values())
    return hash_files(sorted(path.iterdir()) if path.is_dir() else [path])


def as_train_clip(clip: ClipLike, index: int) -> TrainClip:
    if isinstance(clip, TrainClip):
        return clip
    if isinstance(clip, np.ndarray):
        return TrainClip(id=f"array-{index}", frames=clip)
    return TrainClip(id=str(clip), path=Path(clip))


def to_uint8(frame: np.ndarray) -> np.ndarray:
    if frame.dtype == np.uint8:
        return frame
    return np.clip(frame * 255.0 + 0.5, 0, 255).astype(np.uint8)


def fit_short_side(frame: np.ndarray, resolution: int) -> np.ndarray:
    """Downscale (never up) so the short side is `resolution`."""
    h, w = frame.shape[:2]
    short = min(h, w)
    if short <= resolution:
        return frame
    s = resolution / short
    return cv2.resize(frame, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)


# The frame cache's format: bumped when what an entry holds changes (v3: a movie's source numbers run along its
# timeline, skipping the frames its recorder dropped); prune_cache removes entries of older versions.
CACHE_VERSION = "v3"

# A clip longer than TrainSettings.clip_frames trains on that many of its frames, in runs of about this many
# (2.5 s at 24 fps) spread evenly over it (its first and last frames included), each a shot of its own.
RUN_FRAMES = 60


def clip_runs(count: int, frames: int | None, run: int = RUN_FRAMES) -> list[tuple[int, int]]:
    """The [start, end) frame ranges of a `count`-frame clip to decode: all of it when it holds at most
    `frames` (or `frames` is None), else frames // `run` runs (at least one) of equal length, evenly spaced
    from its first frame to its last, none overlapping."""
    if frames is None or count <= frames:
        return [(0, count)]
    runs = max(1, frames // run)
    length = frames // runs
    if runs == 1:
        start = (count - length) // 2
        return [(start, start + length)]
    step = (count - length) / (runs - 1)
    return [(round(i * step), round(i * step) + length) for i in range(runs)]


def number_jumps(numbers: np.ndarray) -> list[int]:
    """The positions where rising source frame numbers skip (the frame there does not follow the one before)."""
    return (np.flatnonzero(np.diff(numbers) != 1) + 1).tolist()


def contiguous_runs(numbers: np.ndarray) -> list[tuple[int, int]]:
    """Rising source frame numbers as [first, last] runs of consecutive numbers."""
    if len(numbers) == 0:
        return []
    return [(int(run[0]), int(run[-1])) for run in np.split(numbers, number_jumps(numbers))]


def _decode(
    clip: TrainClip, resolution: int, max_frames: int | None, clip_frames: int | None
) -> tuple[np.ndarray, np.ndarray | None]:
    """The clip's frames at training resolution, and for a file the source number of each (a movie's frame
    index, a sequence's file number): its first `max_frames`, or with `clip_frames` runs spread over it."""
    if clip.frames is not None:
        src = clip.frames[:max_frames] if max_frames else clip.frames
        return np.stack([fit_short_side(to_uint8(f), resolution) for f in src]), None
    if clip.path is None:
        raise DatasetError(f"training clip {clip.id!r} has neither a path nor frames")
    out, numbers = [], []
    try:
        for frame in _source_frames(clip.path, max_frames, clip_frames):
            out.append(fit_short_side(frame.rgb, resolution))
            numbers.append(frame.number)
    except Exception as exc:  # media errors carry their own one-line reason
        raise DatasetError(f"training clip {clip.path} cannot be decoded: {exc}", clip.id) from None
    if not out:
        raise DatasetError(f"training clip {clip.path} has no frames", clip.id)
    return np.stack(out), np.array(numbers, dtype=np.int64)


def _source_frames(path: Path, max_frames: int | None, clip_frames: int | None) -> Iterator[Frame]:
    """Decoded frames of a file: the first `max_frames` (a benchmark's protocol), or every frame, or, when
    it holds more than `clip_frames`, clip_runs of them."""
    from engine.media.working import read_working_uint8

    source = _numbered_source(path)
    if max_frames or clip_frames is None:
        yield from itertools.islice(read_working_uint8(source), max_frames)
        return
    missing = set(source.missing_frames)
    numbers = [n for n in source.frame_range if n not in missing]
    for a, b in clip_runs(len(numbers), clip_frames):
        yield from read_working_uint8(source, numbers[a], numbers[b - 1])


def _numbered_source(path: Path) -> MediaInfo:
    """`path` probed, to be read numbered as a fix numbers it: a sequence's files, a movie's frames along its
    timeline, so the frames a recorder dropped are numbers skipped and no shot runs across them."""
    from engine.media import probe

    return probe(path, verify=False, sound=False)


def read_sources(path: Path, numbers: np.ndarray) -> Iterator[np.ndarray]:
    """The frames of a file with these source numbers (as _decode gave them), decoded again, in order."""
    from engine.media.working import read_working_uint8

    source = _numbered_source(path)
    for first, last in contiguous_runs(numbers):
        for frame in read_working_uint8(source, first, last):
            yield frame.rgb


def load_clip(
    clip: TrainClip,
    resolution: int,
    cache_dir: Path | None,
    max_frames: int | None = None,
    clip_frames: int | None = None,
) -> LoadedClip:
    """Decode `clip` at training resolution (see _decode), through the .npy cache when there is one: then the
    frames come memory-mapped from it (a show's dailies need not fit in memory), else they are held in memory."""
    found = cached_clip(clip, resolution, cache_dir, max_frames, clip_frames)
    if found is not None:
        return found
    frames, numbers = _decode(clip, resolution, max_frames, clip_frames)
    cached = _cache_file(clip, resolution, cache_dir, max_frames, clip_frames)
    if cached is not None:
        cached.parent.mkdir(parents=True, exist_ok=True)
        numbered = (
            [] if numbers is None else [(_numbers_file(cached), numbers)]
        )  # first: the frames mark it whole
        if cache_files.store([*numbered, (cached, frames)]):
            frames = np.load(cached, mmap_mode="r")
    return _loaded(clip, frames, numbers)


def cached_clip(
    clip: TrainClip,
    resolution: int,
    cache_dir: Path | None,
    max_frames: int | None = None,
    clip_frames: int | None = None,
) -> LoadedClip | None:
    """`clip` from the frame cache (memory-mapped), or None when it has not been decoded there yet."""
    cached = _cache_file(clip, resolution, cache_dir, max_frames, clip_frames)
    if cached is None or not cached.is_file():
        return None
    numbered = _numbers_file(cached).is_file()
    found = cache_files.read([cached, _numbers_file(cached)][: 1 + numbered], [True, False][: 1 + numbered])
    if found is None:  # cut short or emptied: removed, decoded again
        return None
    return _loaded(clip, found[0], found[1] if numbered else None)


def prune_cache(cache_dir: Path, keep: Iterable[str]) -> int:
    """Remove the decoded frames (.npy files) of clips whose content hash is not in `keep`: the dailies a show
    no longer has, or has excluded from training. Other files stay. Returns how many files went."""
    prefixes = {h[:32] for h in keep if h}
    removed = 0
    stale = set(cache_files.stale_partials(cache_dir))  # left by a process killed while writing
    for path in cache_dir.glob("*.npy"):
        if path.name[:32] in prefixes and f".{CACHE_VERSION}." in path.name and path not in stale:
            continue
        try:
            path.unlink()
        except OSError:  # gone already, or not ours to remove: the next run tries again
            continue
        removed += 1
    return removed


def _cache_file(
    clip: TrainClip, resolution: int, cache_dir: Path | None, max_frames: int | None, clip_frames: int | None
) -> Path | None:
    if not clip.content_hash:
        clip.content_hash = (
            _hash_array(clip.frames) if clip.frames is not None else _hash_path(Path(clip.path or ""))
        )
    if cache_dir is None:
        return None
    from engine.media.working import scene_linear

    runs = f"-runs{clip_frames}" if clip_frames and not max_frames and clip.frames is None else ""
    log = "-log" if clip.path is not None and scene_linear(clip.path) else ""  # engine.media.working
    return (
        cache_dir
        / f"{clip.content_hash[:32]}-{resolution}-{max_frames or 'all'}{runs}{log}.{CACHE_VERSION}.npy"
    )


def _numbers_file(cached: Path) -> Path:
    return cached.with_suffix(".numbers.npy")


def _loaded(clip: TrainClip, frames: np.ndarray, numbers: np.ndarray | None) -> LoadedClip:
    """The clip's record: its shots start at the cuts found in its frames and where its source numbers jump
    (a sequence's missing files, or between runs of a long clip), so nothing is learned across either."""
    jumps = [] if numbers is None else number_jumps(numbers)
    cuts = sorted(set(find_cuts(frames)) | set(jumps))
    record = ClipRecord(id=clip.id, content_hash=clip.content_hash, frames=len(frames), cuts=cuts)
    return LoadedClip(record, frames, numbers, clip.group)


@dataclass(frozen=True)
class Part:
    """Frames [start, end) of clip `clip` (an index into the clips split), on the held-out side or not."""

    clip: int
    start: int
    end: int
    held: bool
    suffix: str = ""  # added to the clip's id in the part's record ("[cut:]" for a held-out tail)


def part_record(clip: LoadedClip, part: Part) -> ClipRecord:
    """The record of a part: the clip's, for its range, its cuts counted from the part's start."""
    cuts = [c - part.start for c in clip.record.cuts if part.start < c < part.end]
    update = {"id": f"{clip.record.id}{part.suffix}", "frames": part.end - part.start, "cuts": cuts}
    return clip.record.model_copy(update=update)


def _part(clip: LoadedClip, part: Part) -> tuple[list[np.ndarray], ClipRecord]:
    """The frames of a part as shots, and its record."""
    record = part_record(clip, part)
    return split_shots(clip.frames[part.start : part.end], record.cuts), record


def holdout_parts(
    lengths: list[int],
    fraction: float,
    seed: int,
    min_frames: int = 3,
    mode: str = "auto",
    groups: Sequence[str] | None = None,
) -> tuple[str, list[Part]]:
    """How split_holdout divides clips of these frame counts: ("clips" or "tails", the parts in order). With
    `groups` (one a clip, "" a group of its own) whole groups are held out: the same choice as clips when every
    clip is a group of its own."""
    if not lengths:
        raise DatasetError("training needs at least one clip")
    if mode not in ("auto", "clips", "tails"):
        raise DatasetError(f"holdout mode {mode!r} is not one of auto, clips, tails")
    keys = (
        [g or f"\0{i}" for i, g in enumerate(groups)] if groups else [f"\0{i}" for i in range(len(lengths))]
    )
    unique = list(dict.fromkeys(keys))
    if mode == "clips" and len(unique) < 3:
        raise DatasetError(
            f"holding out whole clips needs 3 or more clips (of different shots), got {len(unique)}; "
            "use mode 'tails'"
        )
    if fraction > 0 and len(unique) >= 3 and mode != "tails":
        n_hold = min(max(round(len(unique) * fraction), 1), len(unique) - 2)
        chosen = np.random.default_rng(seed).permutation(len(unique))[:n_hold].tolist()
        hold = {unique[j] for j in chosen}
        return "clips", [Part(i, 0, n, keys[i] in hold) for i, n in enumerate(lengths)]
    parts: list[Part] = []
    for i, n in enumerate(lengths):
        cut = n - round(n * fraction) if fraction > 0 else n
        if fraction > 0 and n - cut < min_frames and n >= 2 * min_frames:
            cut = n - min_frames
        parts.append(Part(i, 0, cut, False))
        if cut < n:
            parts.append(Part(i, cut, n, True, f"[{cut}:]"))
    return "tails", parts


def split_holdout(
    clips: list[LoadedClip], fraction: float, seed: int, min_frames: int = 3, mode: str = "auto"
) -> Split:
    """Hold out whole clips (chosen by `seed`) when there are 3 or more, keeping at least 2 for training;
    with fewer clips hold out the tail of every clip instead. `mode` "clips" or "tails" forces one way."""
    lengths, groups = [len(c.frames) for c in clips], [c.group for c in clips]
    kind, parts = holdout_parts(lengths, fraction, seed, min_frames, mode, groups)
    split = Split([], [], [], [], kind)
    for p in parts:
        split.add(p.held, *_part(clips[p.clip], p))
    return split
