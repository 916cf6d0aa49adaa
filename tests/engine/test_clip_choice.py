"""A budgeted run decodes a show's dailies within its share of the budget, newest first, and later runs find
them cached; a resumed run trains on the clips it started with; cached frames are memory-mapped."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from engine.heads import get_head
from engine.model.manifest import ClipRecord
from engine.options import TrainOptions
from engine.train import TrainClip, TrainSettings, train
from engine.train.clip_choice import CLIPS_FILE, choose_clips, record_start, started_with
from engine.train.dataset import LoadedClip, load_clip
from engine.train.loop import _load_split
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
    assert json.loads((tmp_path / "v3" / "checkpoint" / CLIPS_FILE).read_text()) == [c.id for c in clips]


def test_a_run_resumed_from_its_checkpoint_trains_on_the_clips_it_started_with(tmp_path: Path) -> None:
    clips = _takes(tmp_path)
    options = TrainOptions(budget_seconds=4, device="cpu", resolution=64, holdout_fraction=0.34)
    settings = TrainSettings(batch_size=2, crop=32, cache_dir=tmp_path / "cache", decode_share=0.001)
    # the run starts while only the newest daily is given (or only it fitted in its share), and is stopped
    stopped = train(
        clips[2:], options, tmp_path / "v1", heads=["denoise"], settings=settings, stop=lambda: True
    )
    assert stopped.version is None and stopped.stopped
    assert json.loads((tmp_path / "v1" / "checkpoint" / CLIPS_FILE).read_text()) == ["sh030_1"]
    for clip in clips:  # every daily decoded meanwhile: a fresh run would take them all
        load_clip(clip, 64, tmp_path / "cache")

    resumed = train(clips, options, tmp_path / "v1", heads=["denoise"], settings=settings)

    assert resumed.resumed and resumed.version is not None
    manifest = resumed.version.manifest
    assert {c.id.split("[")[0] for c in manifest.clips + manifest.holdout} == {"sh030_1"}
    assert not (tmp_path / "v1" / "checkpoint").exists()
