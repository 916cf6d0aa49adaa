"""Training clips: decoded once at training resolution, cached as uint8 .npy, split into train and held-out."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from engine.model.manifest import ClipRecord
from engine.shots import find_cuts, split_shots


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


ClipLike = TrainClip | str | Path | np.ndarray


@dataclass
class LoadedClip:
    record: ClipRecord  # record.cuts: where the clip's shots start (engine.shots)
    frames: np.ndarray  # T,H,W,3 uint8 at training resolution (possibly memory-mapped)


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


def _decode(clip: TrainClip, resolution: int, max_frames: int | None) -> np.ndarray:
    if clip.frames is not None:
        src = clip.frames[:max_frames] if max_frames else clip.frames
        return np.stack([fit_short_side(to_uint8(f), resolution) for f in src])
    if clip.path is None:
        raise DatasetError(f"training clip {clip.id!r} has neither a path nor frames")
    from engine.media.decode import read_frames_uint8

    out = []
    try:
        for frame in read_frames_uint8(clip.path):
            out.append(fit_short_side(frame.rgb, resolution))
            if max_frames and len(out) >= max_frames:
                break
    except Exception as exc:  # media errors carry their own one-line reason
        raise DatasetError(f"training clip {clip.path} cannot be decoded: {exc}", clip.id) from None
    if not out:
        raise DatasetError(f"training clip {clip.path} has no frames", clip.id)
    return np.stack(out)


def load_clip(
    clip: TrainClip, resolution: int, cache_dir: Path | None, max_frames: int | None = None
) -> LoadedClip:
    """Decode `clip` at training resolution, through the .npy cache when there is one: then the frames come
    memory-mapped from it (a show's dailies need not fit in memory), else they are held in memory."""
    found = cached_clip(clip, resolution, cache_dir, max_frames)
    if found is not None:
        return found
    frames = _decode(clip, resolution, max_frames)
    cached = _cache_file(clip, resolution, cache_dir, max_frames)
    if cached is not None:
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_suffix(f".{os.getpid()}.tmp.npy")  # ranks of a parallel run may race here
        np.save(tmp, frames)
        tmp.replace(cached)
        frames = np.load(cached, mmap_mode="r")
    return _loaded(clip, frames)


def cached_clip(
    clip: TrainClip, resolution: int, cache_dir: Path | None, max_frames: int | None = None
) -> LoadedClip | None:
    """`clip` from the frame cache (memory-mapped), or None when it has not been decoded there yet."""
    cached = _cache_file(clip, resolution, cache_dir, max_frames)
    if cached is None or not cached.is_file():
        return None
    return _loaded(clip, np.load(cached, mmap_mode="r"))


def _cache_file(
    clip: TrainClip, resolution: int, cache_dir: Path | None, max_frames: int | None
) -> Path | None:
    if not clip.content_hash:
        clip.content_hash = (
            _hash_array(clip.frames) if clip.frames is not None else _hash_path(Path(clip.path or ""))
        )
    if cache_dir is None:
        return None
    return cache_dir / f"{clip.content_hash[:32]}-{resolution}-{max_frames or 'all'}.npy"


def _loaded(clip: TrainClip, frames: np.ndarray) -> LoadedClip:
    cuts = sorted(set(find_cuts(frames)) | set(sequence_holes(clip, len(frames))))
    record = ClipRecord(id=clip.id, content_hash=clip.content_hash, frames=len(frames), cuts=cuts)
    return LoadedClip(record, frames)


def sequence_holes(clip: TrainClip, count: int) -> list[int]:
    """Where the first `count` decoded frames of an image sequence skip numbers its files lack: each such
    frame starts a new shot, so that no example is learned (nor scored) across the hole as if its two sides
    were neighbours. Empty for a movie or frames in memory."""
    from engine.media import MediaError
    from engine.media.sequences import find_sequence, is_image_path, is_pattern

    text = str(clip.path or "")
    if clip.frames is not None or not (is_pattern(text) or is_image_path(text)):
        return []
    try:
        numbers = list(find_sequence(text).files)[:count]
    except MediaError:  # read from the cache with its folder gone: nothing to tell the holes by
        return []
    return [i for i in range(1, len(numbers)) if numbers[i] != numbers[i - 1] + 1]


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
    lengths: list[int], fraction: float, seed: int, min_frames: int = 3, mode: str = "auto"
) -> tuple[str, list[Part]]:
    """How split_holdout divides clips of these frame counts: ("clips" or "tails", the parts in order)."""
    if not lengths:
        raise DatasetError("training needs at least one clip")
    if mode not in ("auto", "clips", "tails"):
        raise DatasetError(f"holdout mode {mode!r} is not one of auto, clips, tails")
    if mode == "clips" and len(lengths) < 3:
        raise DatasetError(
            f"holding out whole clips needs 3 or more clips, got {len(lengths)}; use mode 'tails'"
        )
    if fraction > 0 and len(lengths) >= 3 and mode != "tails":
        n_hold = min(max(round(len(lengths) * fraction), 1), len(lengths) - 2)
        hold = set(np.random.default_rng(seed).permutation(len(lengths))[:n_hold].tolist())
        return "clips", [Part(i, 0, n, i in hold) for i, n in enumerate(lengths)]
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
    kind, parts = holdout_parts([len(c.frames) for c in clips], fraction, seed, min_frames, mode)
    split = Split([], [], [], [], kind)
    for p in parts:
        split.add(p.held, *_part(clips[p.clip], p))
    return split
