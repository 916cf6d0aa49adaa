"""Frames at the footage's own size for the heads that learn there (engine.train.native): the same split as
the training frames, frame by frame and shot by shot, bounded, decoded once; and upscale trains and is scored
on them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from engine import synth
from engine.heads import get_head
from engine.options import TrainOptions
from engine.train import TrainClip, TrainSettings, loop, split_holdout, train
from engine.train.dataset import LoadedClip, Split, load_clip, to_uint8
from engine.train.native import MIN_FRAMES, NATIVE_FRAMES, frame_bound, load_native, native_split, spread
from engine.train.pairs import PairExample, PairPool

SIZE = (192, 112)  # W, H of the made footage: larger than the training frames below
TRAINING = 64  # the training resolution's short side


def _clip(i: int, frames: int = 24, cut_at: int | None = None) -> TrainClip:
    names = ("astronaut", "coffee", "chelsea", "rocket")
    shot = synth.camera_move(synth.photo(names[i % 4]), frames, SIZE, seed=i)
    if cut_at is not None:  # another photo from the cut on: two shots
        other = synth.camera_move(synth.photo(names[(i + 1) % 4]), frames - cut_at, SIZE, seed=i + 7)
        shot = np.concatenate([shot[:cut_at], other])
    return TrainClip(id=f"clip{i}", content_hash=f"hash{i}", frames=shot)


def _where(frame: np.ndarray, clips: list[TrainClip]) -> tuple[int, int]:
    """(clip, frame number) of a native frame: it is the source frame itself, at its own size."""
    for c, clip in enumerate(clips):
        assert clip.frames is not None
        for t, source in enumerate(clip.frames):
            if np.array_equal(frame, to_uint8(source)):
                return c, t
    raise AssertionError("a native frame is not a frame of the footage")


def _splits(clips: list[TrainClip], mode: str) -> tuple[list[LoadedClip], Split, Split]:
    loaded = [load_clip(c, TRAINING, None) for c in clips]
    native = [load_native(c, lc, 1080, len(clips), None) for c, lc in zip(clips, loaded, strict=True)]
    return loaded, split_holdout(loaded, 0.25, 0, mode=mode), native_split(loaded, native, 0.25, 0, mode=mode)


def test_spread_keeps_every_power_of_two_th_frame_and_at_least_keep_of_them() -> None:
    for n in (1, 3, 8, 15, 16, 17, 100, 1000):
        indices, kept = spread((np.full(1, i) for i in range(n)), 8)
        assert [int(k[0]) for k in kept] == indices.tolist()
        assert min(n, 8) <= len(indices) <= 15 and indices[0] == 0
        steps = set(np.diff(indices).tolist())
        assert len(steps) <= 1 and all(s & (s - 1) == 0 for s in steps)  # one stride, a power of two
        assert indices[-1] + 2 * (steps or {1}).pop() > n - 1  # spread to the end: no larger gap left after


def test_the_frame_bound_halves_for_many_clips_and_never_goes_under_its_floor() -> None:
    hd = 1920 * 1080 * 3
    assert frame_bound(1, hd) == NATIVE_FRAMES
    bounds = [frame_bound(n, hd) for n in (1, 10, 40, 80, 200, 10_000)]
    assert bounds == sorted(bounds, reverse=True) and bounds[-1] == MIN_FRAMES
    assert all(b & (b - 1) == 0 for b in bounds)  # powers of two: a growing show seldom re-decodes


@pytest.mark.parametrize("mode", ["clips", "tails"])
def test_native_frames_fall_on_their_frame_s_side_of_the_split_and_in_its_shot(mode: str) -> None:
    clips = [_clip(0), _clip(1, cut_at=12), _clip(2), _clip(3)]
    loaded, split, native = _splits(clips, mode)
    assert loaded[1].record.cuts == [12]  # the made cut is found, so shots are tested
    assert native.train_records == split.train_records and native.holdout_records == split.holdout_records
    held_ranges: dict[int, range] = {}
    for record in split.holdout_records:  # "clip2" (clips) or "clip1[18:]" (tails)
        c = int(record.id[4])
        start = int(record.id.split("[")[1].split(":")[0]) if "[" in record.id else 0
        held_ranges[c] = range(start, start + record.frames)
    for side, shots in (("held", native.holdout), ("train", native.train)):
        for shot in shots:
            places = [_where(f, clips) for f in shot]
            assert shot.shape[1:3] == (SIZE[1], SIZE[0])  # the footage's own size, not the training one
            assert len({c for c, _ in places}) == 1  # a shot is of one clip
            assert len({t >= 12 for c, t in places if c == 1}) <= 1  # and never across the cut
            for c, t in places:
                assert (t in held_ranges.get(c, range(0))) == (side == "held")
    counted = sum(len(s) for s in native.train + native.holdout)
    assert len(clips) * MIN_FRAMES <= counted <= len(clips) * (2 * NATIVE_FRAMES - 1)


def test_a_clip_is_decoded_once_then_read_from_the_cache(tmp_path: Path) -> None:
    clip = _clip(0)
    loaded = load_clip(clip, TRAINING, None)
    first = load_native(clip, loaded, 1080, 1, tmp_path)
    assert clip.frames is not None
    blank = TrainClip(id=clip.id, content_hash=clip.content_hash, frames=np.zeros_like(clip.frames))
    again = load_native(blank, loaded, 1080, 1, tmp_path)  # the same hash: the cached frames, not these
    assert np.array_equal(first.indices, again.indices) and np.array_equal(first.frames, again.frames)
    assert isinstance(again.frames, np.memmap)  # read from the cache, not held in memory


def test_a_clip_read_in_part_spreads_its_native_frames_over_the_part_read() -> None:
    clip = _clip(0, frames=4 * NATIVE_FRAMES)
    loaded = load_clip(clip, TRAINING, None, max_frames=NATIVE_FRAMES)  # max_frames_per_clip
    native = load_native(clip, loaded, 1080, 1, None)
    assert native.indices.tolist() == list(range(NATIVE_FRAMES))  # every frame read, none past them


def test_upscale_trains_and_is_scored_on_the_footage_at_its_own_size(tmp_path: Path) -> None:
    clips = [_clip(i, frames=8) for i in range(3)]
    settings = TrainSettings(max_steps=2, batch_size=2, crop=32, cache_dir=tmp_path / "cache")

    def bicubic(split: Split) -> float:  # the baseline's score depends on the frames' size only
        head = get_head("upscale")
        net = head.build({**head.default_config(), "channels": 4, "depth": 2})
        return head.evaluate(net, split.holdout, np.random.default_rng(0))["psnr_bicubic"]

    _, at_training, at_own_size = _splits(clips, "auto")
    options = TrainOptions(budget_seconds=600, device="cpu", resolution=TRAINING, holdout_fraction=0.25)
    own = train(clips, options, tmp_path / "v1", heads=["upscale"], settings=settings)
    small = options.model_copy(update={"native_resolution": 0})
    reduced = train(clips, small, tmp_path / "v2", heads=["upscale"], settings=settings)
    assert abs(bicubic(at_own_size) - bicubic(at_training)) > 0.5
    assert own.metrics["upscale"]["psnr_bicubic"] == pytest.approx(bicubic(at_own_size), abs=1e-6)
    assert reduced.metrics["upscale"]["psnr_bicubic"] == pytest.approx(bicubic(at_training), abs=1e-6)


def test_footage_no_larger_than_the_training_frames_trains_upscale_on_every_frame_as_before(
    tmp_path: Path,
) -> None:
    clips = [
        TrainClip(
            id=f"s{i}", content_hash=f"h{i}", frames=synth.camera_move(synth.photo(n), 140, (96, 64), seed=i)
        )
        for i, n in enumerate(("astronaut", "coffee", "chelsea"))
    ]
    settings = TrainSettings(max_steps=3, batch_size=2, crop=32, cache_dir=tmp_path / "cache")
    options = TrainOptions(budget_seconds=600, device="cpu", resolution=64, holdout_fraction=0.34)
    own = train(clips, options, tmp_path / "v1", heads=["upscale"], settings=settings)
    small = options.model_copy(update={"native_resolution": 0})
    reduced = train(clips, small, tmp_path / "v2", heads=["upscale"], settings=settings)
    assert own.version is not None and reduced.version is not None
    assert (
        own.metrics == reduced.metrics
    )  # the same frames, all 140 of each clip (not 70 of them), scored the same
    a, b = own.version.model.net("upscale").state_dict(), reduced.version.model.net("upscale").state_dict()
    assert all(np.array_equal(a[k].numpy(), b[k].numpy()) for k in a)  # and trained on the same batches


def test_approved_upscale_pairs_train_at_the_size_the_run_trains_upscale_at(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clips = [_clip(i, frames=8) for i in range(3)]
    plate = synth.camera_move(synth.photo("rocket"), 3, SIZE)  # a supervisor's approved 2x render of a plate
    render = np.stack(
        [cv2.resize(f, (2 * SIZE[0], 2 * SIZE[1]), interpolation=cv2.INTER_CUBIC) for f in plate]
    )
    pools: list[PairPool] = []

    class Kept(PairPool):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            pools.append(self)

    monkeypatch.setattr(loop, "PairPool", Kept)
    settings = TrainSettings(max_steps=2, batch_size=2, crop=32, cache_dir=tmp_path / "cache")
    options = TrainOptions(budget_seconds=600, device="cpu", resolution=TRAINING, holdout_fraction=0.25)
    pair = PairExample("publication:1:upscale", "upscale", plate, render)
    for n, native_resolution in enumerate((1080, 0)):
        run = options.model_copy(update={"native_resolution": native_resolution})
        train(clips, run, tmp_path / f"v{n}", heads=["upscale"], settings=settings, examples=[pair])
    own, reduced = (pool.by_head["upscale"][0] for pool in pools)
    assert own[0].shape[1:3] == (SIZE[1], SIZE[0]) and own[1].shape[1:3] == (2 * SIZE[1], 2 * SIZE[0])
    assert min(reduced[0].shape[1:3]) == TRAINING and min(reduced[1].shape[1:3]) == 2 * TRAINING
