"""The frame cache never stops a training: an entry cut short is decoded again, a write the disk cannot take
leaves nothing partial and the run goes on, and what a killed process left half-written is pruned."""

from __future__ import annotations

import errno
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from engine.train import cache_files
from engine.train.dataset import TrainClip, load_clip, prune_cache
from tests import footage


def _clip(tmp_path: Path) -> TrainClip:
    path = footage.movie(tmp_path / "sh010_1.mp4", n=6, size=(96, 64))
    return TrainClip(id="daily:1", content_hash="blake2b:" + "ab" * 32, path=path)


def test_an_entry_cut_short_is_decoded_again_and_written_whole(tmp_path: Path) -> None:
    """np.load's 'mmap length is greater than file size' stopped every later run of the show."""
    cache = tmp_path / "cache"
    first = np.array(load_clip(_clip(tmp_path), 64, cache).frames)
    [entry] = [p for p in cache.glob("*.npy") if ".numbers." not in p.name]
    whole = entry.stat().st_size
    entry.write_bytes(entry.read_bytes()[:200])
    again = load_clip(_clip(tmp_path), 64, cache)
    assert np.array_equal(np.array(again.frames), first)
    assert entry.stat().st_size == whole


def test_a_write_the_disk_cannot_take_leaves_nothing_partial_and_the_frames_come_from_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """np.save's OSError on a full disk stopped the run, and its partial file stayed, holding the space the next
    attempt needed."""

    def disk_full(path: Path, array: Any) -> None:
        Path(path).write_bytes(b"\x93NUMPY" + b"\0" * 100)  # what was written before the disk filled
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(cache_files.np, "save", disk_full)
    cache = tmp_path / "cache"
    loaded = load_clip(_clip(tmp_path), 64, cache)
    assert len(loaded.frames) == 6 and isinstance(loaded.frames, np.ndarray)
    assert list(cache.iterdir()) == []


def test_what_a_killed_process_left_half_written_is_pruned_once_old(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    clip = _clip(tmp_path)
    load_clip(clip, 64, cache)
    kept = sorted(cache.iterdir())
    old = cache / f"{clip.content_hash[:32]}-64-all-runs240.v3.12345.tmp.npy"
    fresh = cache / f"{clip.content_hash[:32]}-64-all.v3.23456.tmp.npy"  # a run writing it now
    for partial in (old, fresh):
        partial.write_bytes(b"\x93NUMPY")
    long_ago = time.time() - 2 * cache_files.PARTIAL_AGE_S
    os.utime(old, (long_ago, long_ago))
    assert prune_cache(cache, [clip.content_hash]) == 1
    assert sorted(cache.iterdir()) == sorted([*kept, fresh])
