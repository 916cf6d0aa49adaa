"""Shot boundaries: a hard cut between two camera moves is found at its frame, and training never straddles it."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from engine.media import read_frames_uint8
from engine.shots import find_cuts, is_cut, shot_ranges, split_shots
from engine.train.dataset import CACHE_VERSION, TrainClip, load_clip, prune_cache, read_sources, split_holdout
from tests import footage


def _two_shots(first: int = 9, second: int = 7) -> np.ndarray:
    a = footage.frames(first, (160, 96), photo="astronaut", seed=1)
    b = footage.frames(second, (160, 96), photo="coffee", seed=2)
    return np.concatenate([a, b])


def test_a_hard_cut_is_found_at_the_first_frame_of_the_new_shot() -> None:
    clip = _two_shots()
    assert find_cuts(clip) == [9]
    assert [len(s) for s in split_shots(clip)] == [9, 7]


def test_a_camera_move_alone_has_no_cut() -> None:
    assert find_cuts(footage.frames(16, (160, 96), photo="astronaut", seed=3)) == []


def test_shot_ranges_cover_the_clip_once() -> None:
    assert shot_ranges(10, [4, 0, 4, 12]) == [(0, 4), (4, 10)]
    assert shot_ranges(5, []) == [(0, 5)]


def test_held_out_and_training_frames_are_split_into_shots(tmp_path: Path) -> None:
    clips = [
        load_clip(TrainClip(id="reel", frames=_two_shots(9, 9)), 96, tmp_path),
        load_clip(TrainClip(id="take", frames=footage.frames(12, (160, 96), seed=4)), 96, tmp_path),
    ]
    assert clips[0].record.cuts == [9] and clips[1].record.cuts == []
    split = split_holdout(clips, 0.34, seed=0, mode="tails")
    # reel: 18 frames, the last 6 held out; its training part keeps the cut at 9, its tail has none
    assert [len(s) for s in split.train] == [9, 3, 8]
    assert [len(s) for s in split.holdout] == [6, 4]
    assert split.train_records[0].cuts == [9] and split.holdout_records[0].cuts == []
    for shot in split.train + split.holdout:  # no shot holds frames of both photos
        assert find_cuts(shot) == []


def test_a_sequence_with_missing_files_is_split_at_the_hole_for_training(tmp_path: Path) -> None:
    # frames 1005-1006 are missing: 1004 and 1007 are not neighbours, so no triplet may straddle them
    pattern = footage.sequence(tmp_path / "seq", "sh010", first=1001, n=12, size=(160, 96), skip=(1005, 1006))
    loaded = load_clip(TrainClip(id="sh010", path=Path(pattern)), 96, tmp_path / "cache")
    assert loaded.record.cuts == [4] and len(loaded.frames) == 10
    again = load_clip(TrainClip(id="sh010", path=Path(pattern)), 96, tmp_path / "cache")  # from the cache
    assert again.record.cuts == [4]
    assert [len(s) for s in split_shots(loaded.frames, loaded.record.cuts)] == [4, 6]


def test_a_movie_whose_recorder_dropped_frames_is_split_at_the_gap_for_training(tmp_path: Path) -> None:
    # frames 4-5 were dropped while recording: 3 and 6 are a gap apart, so no triplet may straddle them
    movie = footage.movie_with_gaps(tmp_path / "screen.mp4", [0, 1, 2, 3, 6, 7, 8, 9, 10], size=(160, 96))
    clip = TrainClip(id="screen", path=movie)
    loaded = load_clip(clip, 96, tmp_path / "cache")
    again = load_clip(clip, 96, tmp_path / "cache", clip_frames=4)  # runs over it: numbered the same way

    assert loaded.record.cuts == [4] and loaded.numbers is not None
    assert loaded.numbers.tolist() == [0, 1, 2, 3, 6, 7, 8, 9, 10]
    assert again.numbers is not None and set(again.numbers.tolist()) <= {0, 1, 2, 3, 6, 7, 8, 9, 10}
    reread = list(
        read_sources(movie, loaded.numbers)
    )  # the full-size frames of those numbers, as upscale reads
    decoded = [f.rgb for f in read_frames_uint8(movie)]  # a path alone: numbered as decoded, 0-8
    assert len(reread) == 9 and all(np.array_equal(a, b) for a, b in zip(reread, decoded, strict=True))


def test_the_frame_cache_keeps_only_the_current_entries_of_the_clips_kept(tmp_path: Path) -> None:
    kept, gone = "a" * 32, "b" * 32
    names = [f"{kept}-96-all.{CACHE_VERSION}.npy", f"{kept}-96-all.{CACHE_VERSION}.numbers.npy"]
    stale = [f"{kept}-96-all.v2.npy", f"{kept}-96-all.v2.numbers.npy", f"{gone}-96-all.{CACHE_VERSION}.npy"]
    for name in names + stale:
        np.save(tmp_path / name, np.zeros(1))

    assert prune_cache(tmp_path, [kept + "rest of the hash"]) == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(names)


def test_two_frames_alone_tell_a_cut_from_a_fast_camera_move() -> None:
    fast = footage.frames(6, (160, 96), photo="astronaut", seed=1)  # a whip pan: every frame changes a lot
    other = footage.frames(2, (160, 96), photo="coffee", seed=2)
    assert not any(is_cut(fast[i], fast[i + 2]) for i in range(4))
    assert is_cut(fast[5], other[0])
