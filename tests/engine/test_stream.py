"""Decode, fix and encode overlap in bounded queues: a long shot holds no more memory than a short one."""

from __future__ import annotations

import threading
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from engine import synth
from engine.heads import get_head
from engine.infer.stream import Background, prefetch
from engine.media import MovieWriter, probe
from engine.model import ShowModel

SIZE = (96, 64)


def _shot(count: int) -> Iterator[tuple[int, np.ndarray]]:
    """`count` frames made one at a time, as a decoder yields them."""
    photo = synth.photo("coffee")
    for i in range(count):
        yield 1001 + i, synth.camera_move(photo, 1, SIZE, seed=i)[0]


def _fix_peak(count: int, out: Path) -> tuple[int, int]:
    """Peak traced bytes of a shot streamed decode -> denoise -> H.264 encode; and the frames written."""
    net = ShowModel.fresh(["denoise"]).eval().net("denoise")
    tracemalloc.start()
    try:
        with MovieWriter(out, 24, *SIZE) as writer, Background[np.ndarray](writer.write, depth=2) as enc:
            for _, fixed in get_head("denoise").apply(net, prefetch(_shot(count), depth=2)):
                enc.put(fixed)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak, probe(out).frame_count


def test_a_200_frame_shot_streams_in_the_memory_of_a_20_frame_one(tmp_path: Path) -> None:
    short, short_frames = _fix_peak(20, tmp_path / "short.mp4")
    long, long_frames = _fix_peak(200, tmp_path / "long.mp4")
    assert (short_frames, long_frames) == (20, 200)
    frame_bytes = SIZE[0] * SIZE[1] * 3 * 4
    # ten times the frames, and at most a couple of frames more held at the peak (not 180 more)
    assert long < short + 3 * frame_bytes, (short, long, frame_bytes)


def test_prefetch_keeps_order_and_runs_at_most_depth_ahead() -> None:
    made: list[int] = []
    taken: list[int] = []
    ahead: list[int] = []

    def source() -> Iterator[int]:
        for i in range(50):
            made.append(i)
            yield i

    for item in prefetch(source(), depth=3):
        taken.append(item)
        ahead.append(len(made) - len(taken))
    assert taken == list(range(50))
    assert max(ahead) <= 3 + 1  # the queue, plus the one the producer holds while the queue is full


def test_prefetch_raises_the_producers_error_in_the_consumer_and_stops_its_thread() -> None:
    def broken() -> Iterator[int]:
        yield 1
        raise OSError("disk gone")

    before = threading.active_count()
    with pytest.raises(OSError, match="disk gone"):
        list(prefetch(broken()))
    assert threading.active_count() == before


def test_a_prefetch_left_early_stops_its_producer() -> None:
    closed = threading.Event()

    def endless() -> Iterator[int]:
        try:
            i = 0
            while True:
                yield i
                i += 1
        finally:
            closed.set()

    stream = prefetch(endless(), depth=2)
    assert [next(stream) for _ in range(5)] == [0, 1, 2, 3, 4]
    stream.close()  # type: ignore[attr-defined]
    assert closed.is_set()


def test_background_consumes_in_order_and_raises_its_error_in_the_caller() -> None:
    seen: list[int] = []
    with Background[int](seen.append, depth=2) as stage:
        for i in range(30):
            stage.put(i)
    assert seen == list(range(30))

    def fails(item: int) -> None:
        if item == 3:
            raise ValueError("encoder refused frame 3")

    stage2 = Background[int](fails, depth=1)
    with pytest.raises(ValueError, match="frame 3"):
        for i in range(100):
            stage2.put(i)
        stage2.close()
