"""A budgeted run decodes a show's dailies within its share of the budget, newest first, and later runs find
them cached; a resumed run trains on the clips it started with; cached frames are memory-mapped; a long take
trains on runs of frames spread over it."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np

from engine.heads import get_head
from engine.media import read_frames_uint8
from engine.model.manifest import ClipRecord
from engine.options import TrainOptions
from engine.train import TrainClip, TrainSettings, train
from engine.train.clip_choice import CLIPS_FILE, choose_clips, record_start, started_with
from engine.train.dataset import LoadedClip, clip_runs, fit_short_side, load_clip
from engine.train.loop import _load_split
from engine.train.native import load_native
from tests import footage


def _loaded(clip: TrainClip) -> LoadedClip:
    return LoadedClip(
        ClipRecord(id=clip.id, content_hash=clip.id, frames=3), np.zeros((3, 8, 8, 3), np.uint8)
    )


def test_cached_clips_come_free_and_the_others_are_decoded_newest_first_until_the_share_is_spent() -> None:
    clips = [TrainClip(id=f"daily{i}") for i in range(6)]  # oldest first, as the catalog lists them
    now = [0.0]
    decoded: list[str] = []

    def decode(clip: TrainClip) -> LoadedClip:
        decoded.append(clip.id)
        now[0] += 4.0  # each decode takes four seconds of a fake clock
        return _loaded(clip)

    def cached(clip: TrainClip) -> LoadedClip | None:
        return _loaded(clip) if clip.id in ("daily1", "daily4") else None

    chosen = choose_clips(clips, cached, decode, until=6.0, clock=lambda: now[0])

    assert decoded == ["daily5", "daily3"]  # the second started at 4 s, before the share ended at 6 s
    assert [c.record.id for c in chosen] == ["daily1", "daily3", "daily4", "daily5"]  # in the given order
    decoded.clear()
    assert [c.record.id for c in choose_clips(clips, lambda _c: None, decode, 0.0, lambda: 99.0)] == [
        "daily5"
    ]


def test_a_resumed_run_finds_the_clips_it_started_with(tmp_path: Path) -> None:
    clips = [TrainClip(id=f"daily{i}") for i in range(4)]
    assert started_with(tmp_path / "checkpoint", clips) is None
    record_start(tmp_path / "checkpoint", [_loaded(clips[1]), _loaded(clips[3])])
    assert [c.id for c in started_with(tmp_path / "checkpoint", clips) or []] == ["daily1", "daily3"]
    # one excluded since: never trained on again
    assert [c.id for c in started_with(tmp_path / "checkpoint", clips[:2]) or []] == ["daily1"]


def test_cached_frames_are_memory_mapped_not_held(tmp_path: Path) -> None:
    clip = TrainClip(id="sh010", path=footage.movie(tmp_path / "sh010_1.mp4", n=6, size=(96, 64)))
    first = load_clip(clip, 64, tmp_path / "cache")
    assert isinstance(first.frames, np.memmap)  # the decode went to the cache and is read back from it
    assert np.array_equal(load_clip(clip, 64, tmp_path / "cache").frames, first.frames)


def _takes(folder: Path) -> list[TrainClip]:
    """Three small dailies, oldest first."""
    movies = [footage.movie(folder / f"sh0{i}0_1.mp4", n=9, size=(96, 64), seed=i) for i in range(1, 4)]
    return [TrainClip(id=m.stem, path=m) for m in movies]


def test_each_run_trains_on_the_cached_dailies_and_decodes_the_newest_others_in_its_share(
    tmp_path: Path,
) -> None:
    clips = _takes(tmp_path)
    options = TrainOptions(device="cpu", resolution=64, holdout_fraction=0.34)
    settings = TrainSettings(cache_dir=tmp_path / "cache")
    heads = [get_head("denoise")]

    def run(version: str) -> list[str]:
        seconds = [0.0]

        # each look at the clock finds one more second gone: one decode fits in the share
        def clock() -> float:
            seconds[0] += 1.0
            return seconds[0]

        split, _ = _load_split(
            clips, options, settings, tmp_path / version, heads, decode_until=1.5, clock=clock
        )
        return sorted({r.id.split("[")[0] for r in split.train_records + split.holdout_records})

    assert run("v1") == ["sh030_1"]  # the newest daily only
    assert run("v2") == ["sh020_1", "sh030_1"]  # that one from the cache, and the next newest
    assert run("v3") == ["sh010_1", "sh020_1", "sh030_1"]
    assert list(json.loads((tmp_path / "v3" / "checkpoint" / CLIPS_FILE).read_text())) == [
        c.id for c in clips
    ]


def test_a_run_resumed_from_its_checkpoint_trains_on_the_clips_it_started_with(tmp_path: Path) -> None:
    clips = _takes(tmp_path)
    options = TrainOptions(budget_seconds=4, device="cpu", resolution=64, holdout_fraction=0.34)
    settings = TrainSettings(batch_size=2, crop=32, cache_dir=tmp_path / "cache", decode_share=0.001)
    # the run starts while only the newest daily is given (or only it fitted in its share), and is stopped at its
    # first step (a budget that decoding on a loaded machine cannot use up first: stop() is asked at each step)
    stopped = train(
        clips[2:],
        options.model_copy(update={"budget_seconds": 600}),
        tmp_path / "v1",
        heads=["denoise"],
        settings=settings,
        stop=lambda: True,
    )
    assert stopped.version is None and stopped.stopped
    assert list(json.loads((tmp_path / "v1" / "checkpoint" / CLIPS_FILE).read_text())) == ["sh030_1"]
    for clip in clips:  # every daily decoded meanwhile: a fresh run would take them all
        load_clip(clip, 64, tmp_path / "cache")

    resumed = train(clips, options, tmp_path / "v1", heads=["denoise"], settings=settings)

    assert resumed.resumed and resumed.version is not None
    manifest = resumed.version.manifest
    assert {c.id.split("[")[0] for c in manifest.clips + manifest.holdout} == {"sh030_1"}
    assert not (tmp_path / "v1" / "checkpoint").exists()


def test_a_long_clip_trains_on_runs_spread_over_it_each_a_shot_of_its_own() -> None:
    assert clip_runs(10, 240) == [(0, 10)]  # a short clip: all of it
    for count, frames in ((1000, 240), (172_800, 2400)):  # a long take; a two-hour film in a base corpus
        runs = clip_runs(count, frames)
        assert len(runs) == frames // 60 and {b - a for a, b in runs} == {60}
        assert runs[0][0] == 0 and runs[-1][1] == count  # from its first frame to its last
        assert all(b <= c for (_, b), (c, _) in itertools.pairwise(runs))  # spread, never overlapping
    assert clip_runs(100, 30) == [(35, 65)]  # fewer than a run's frames: one run, in the middle


def test_a_long_take_is_decoded_as_its_runs_and_its_full_size_frames_are_the_same_frames(
    tmp_path: Path,
) -> None:
    take = footage.movie(tmp_path / "sh010_1.mp4", n=150, size=(128, 72))
    clip = TrainClip(id="sh010_1", path=take)
    whole = np.stack([f.rgb for f in read_frames_uint8(take)])  # as training decodes them

    loaded = load_clip(clip, 64, tmp_path / "cache", clip_frames=120)  # two runs of 60 frames

    assert loaded.numbers is not None and list(loaded.numbers) == [*range(60), *range(90, 150)]
    assert 60 in loaded.record.cuts  # nothing learned across the two runs
    expected = np.stack([fit_short_side(whole[n], 64) for n in loaded.numbers])
    assert np.array_equal(loaded.frames, expected)
    again = load_clip(clip, 64, tmp_path / "cache", clip_frames=120)  # from the cache: the same runs
    assert again.numbers is not None and list(again.numbers) == list(loaded.numbers)
    assert again.record.cuts == loaded.record.cuts
    native = load_native(clip, loaded, 72, 1, tmp_path / "cache")
    for index, frame in zip(native.indices, native.frames, strict=True):  # the same frames, at their own size
        assert np.array_equal(frame, whole[loaded.numbers[index]])
