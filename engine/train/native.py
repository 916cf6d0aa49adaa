"""Frames at the footage's own size, for the heads that learn there (`Head.native`: upscale).

Show runs train at a small resolution (TrainOptions.resolution, 256 by default), which suits most heads.
Upscale does not: its fixes run on the footage at its own size, where a camera's optics and codec leave each
pixel softer than in a reduction of the same frame, and a net that learned to restore detail at 256p adds
too much of it there (on two unseen clips at their own size: +1.76 dB over the best of Lanczos/bicubic from
256p crops, +3.02 from crops at that size; docs/benchmarks.md). So such a head trains on crops of frames
decoded at the footage's own size, short side capped at TrainOptions.native_resolution, and is scored on
held-out frames of that size.

Guarantees:
- The same split: every frame sampled here lies in the shot and on the side (train or held out) of the
  training-resolution split it came from (`native_split`, over dataset.holdout_parts and the clip's cuts as
  found at the training resolution), so a native head never trains on a frame its scores are made on.
- Bounded: a clip keeps `keep` to 2 * `keep` - 1 frames (all of them when it has fewer), `keep` being
  NATIVE_FRAMES, or a smaller power of two when the clips together could pass NATIVE_BYTES, never under
  MIN_FRAMES; spread evenly by a decimating reservoir, in one decoding pass, over the frames the
  training-resolution clip holds (the whole clip unless TrainSettings.max_frames_per_clip cuts it short): the
  frames kept are every 2**k-th, so their count is bounded without knowing the clip's length.
- Decoded once per clip: cached as uint8 .npy beside the training-resolution frames, keyed by the content
  hash, the cap, the frame bound and the clip's frame count, and memory-mapped from there (a crop reads
  only its pages).
"""

from __future__ import annotations

import itertools
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.media.working import scene_linear
from engine.train import cache_files
from engine.train.dataset import (
    DatasetError,
    LoadedClip,
    Split,
    TrainClip,
    fit_short_side,
    holdout_parts,
    part_record,
    read_sources,
    to_uint8,
)

NATIVE_FRAMES = 64  # a clip keeps 64 to 127 frames at the footage's own size (all of a shorter one)
NATIVE_BYTES = 8 << 30  # at most about this many bytes of them in a run (memory-mapped from the cache)
MIN_FRAMES = 4  # the least `keep`, however many clips there are


@dataclass
class NativeClip:
    """Some frames of one clip at the footage's own size (short side capped): which, and the pixels."""

    indices: np.ndarray  # the frames' numbers in the clip, rising
    frames: np.ndarray  # len(indices),H,W,3 uint8 (possibly memory-mapped)


def frame_bound(clips: int, frame_bytes: int) -> int:
    """Frames a clip keeps: NATIVE_FRAMES, fewer when `clips` clips of `frame_bytes` frames would pass
    NATIVE_BYTES, never under MIN_FRAMES; a power of two, so a show's growing clip count seldom changes it
    (and with it the cache's key)."""
    fit = NATIVE_BYTES // max(1, clips * frame_bytes * 2)  # a clip keeps up to 2 * keep - 1
    keep = NATIVE_FRAMES
    while keep > MIN_FRAMES and keep > fit:
        keep //= 2
    return keep


def spread(frames: Iterator[np.ndarray], keep: int) -> tuple[np.ndarray, list[np.ndarray]]:
    """Every 2**k-th frame of `frames` (k the least that keeps at most 2 * `keep` - 1 of them, and at least
    `keep` when there are that many): a decimating reservoir, one pass, the length not known ahead."""
    stride, indices, kept = 1, [], []
    for i, frame in enumerate(frames):
        if i % stride:
            continue
        indices.append(i)
        kept.append(frame)
        if len(kept) >= 2 * keep:
            stride *= 2
            indices, kept = indices[::2], kept[::2]
    return np.array(indices, dtype=np.int64), kept


def _decoded(clip: TrainClip, resolution: int, numbers: np.ndarray | None) -> Iterator[np.ndarray]:
    """The clip's frames at `resolution`: those with these source `numbers` (dataset.LoadedClip.numbers),
    or from its first on."""
    if clip.frames is not None:
        for f in clip.frames:
            yield fit_short_side(to_uint8(f), resolution)
        return
    from engine.media.working import read_working_uint8

    path = clip.path or Path()
    try:
        source = (
            read_sources(path, numbers) if numbers is not None else (f.rgb for f in read_working_uint8(path))
        )
        for rgb in source:
            yield fit_short_side(rgb, resolution)
    except Exception as exc:  # media errors carry their own one-line reason
        raise DatasetError(f"training clip {clip.path} cannot be decoded: {exc}", clip.id) from None


def _frame_bytes(clip: TrainClip, resolution: int) -> int:
    """Bytes of one of the clip's frames at its own size, short side capped at `resolution` (its header's
    size for a file: nothing is decoded)."""
    if clip.frames is not None:
        h, w = clip.frames.shape[1:3]
    else:
        from engine.media.probe import probe

        try:
            info = probe(clip.path or Path(), exact=False, verify=False, sound=False)
        except Exception as exc:  # media errors carry their own one-line reason
            raise DatasetError(f"training clip {clip.path} cannot be read: {exc}", clip.id) from None
        h, w = info.height, info.width
    scale = min(1.0, resolution / min(h, w))
    return round(h * scale) * round(w * scale) * 3


def load_native(
    clip: TrainClip, loaded: LoadedClip, resolution: int, clips: int, cache_dir: Path | None
) -> NativeClip:
    """Frames of `clip` (already loaded at training resolution as `loaded`, whose frame count bounds these)
    at its own size, short side capped at `resolution`, spread over the clip (see the module's guarantees);
    `clips` is how many clips the run loads this way (for the byte bound)."""
    t = len(loaded.frames)
    keep = frame_bound(clips, _frame_bytes(clip, resolution))
    stem = f"{loaded.record.content_hash[:32]}-native{resolution}-{keep}of{t}"
    if loaded.numbers is not None:  # which of the file's frames those t are (runs of a long clip, holes)
        stem += f"-{zlib.crc32(np.ascontiguousarray(loaded.numbers).tobytes()):08x}"
    if clip.path is not None and scene_linear(clip.path):
        stem += "-log"  # in the heads' working encoding (engine.media.working)
    paths = (cache_dir / f"{stem}.npy", cache_dir / f"{stem}.frames.npy") if cache_dir else None
    if paths is not None and all(p.is_file() for p in paths):
        found = cache_files.read(paths, (False, True))
        if found is not None:  # else cut short or emptied: removed, made again
            return NativeClip(found[0], found[1])
    # spread over the t frames the training-resolution clip holds (its runs, max_frames_per_clip), not the file
    indices, kept = spread(itertools.islice(_decoded(clip, resolution, loaded.numbers), t), keep)
    if not kept:
        raise DatasetError(f"training clip {clip.path or clip.id} has no frames", clip.id)
    out = NativeClip(indices, np.stack(kept))
    if paths is None:
        return out
    paths[0].parent.mkdir(parents=True, exist_ok=True)
    if not cache_files.store([(paths[1], out.frames), (paths[0], out.indices)]):  # the indices last: the mark
        return out
    return NativeClip(out.indices, np.load(paths[1], mmap_mode="r"))


def native_split(
    loaded: Sequence[LoadedClip],
    native: Sequence[NativeClip],
    fraction: float,
    seed: int,
    min_frames: int = 3,
    mode: str = "auto",
) -> Split:
    """The split of `loaded` (dataset.split_holdout with the same arguments), made of the `native` frames:
    each shot of each part keeps the native frames whose numbers fall in it; a shot with none is left out.
    The records are the training-resolution split's."""
    lengths, groups = [len(c.frames) for c in loaded], [c.group for c in loaded]
    kind, parts = holdout_parts(lengths, fraction, seed, min_frames, mode, groups)
    split = Split([], [], [], [], kind)
    for p in parts:
        clip, sample = loaded[p.clip], native[p.clip]
        bounds = [p.start, *(c for c in clip.record.cuts if p.start < c < p.end), p.end]
        shots = []
        for a, b in itertools.pairwise(bounds):
            lo, hi = np.searchsorted(sample.indices, [a, b])  # indices rise: a slice, a view of the map
            if hi > lo:
                shots.append(sample.frames[lo:hi])
        split.add(p.held, shots, part_record(clip, p))
    return split
