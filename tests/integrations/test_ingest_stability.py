"""The stability gate, driven by a fake clock: no I/O, no sleeping."""

from __future__ import annotations

from pathlib import Path

from integrations.ingest.names import unit_key
from integrations.ingest.stability import StabilityGate

MOVIE = Path("/ingest/sh010_1.mov")


def test_a_growing_file_is_released_only_after_it_stops_growing() -> None:
    gate = StabilityGate(2.0)
    for second, size in enumerate([100, 200, 300, 400]):  # a chunk a second
        gate.observe(MOVIE, size, 1000.0 + second, now=float(second))
        assert gate.release(now=second + 0.5) == []
    assert gate.release(now=4.9) == []  # last change at 3.0
    (settled,) = gate.release(now=5.0)
    assert [(state.path, state.size) for state in settled.files] == [(MOVIE, 400)]
    assert gate.release(now=9.0) == []  # released once
    assert len(gate) == 0


def test_an_unchanged_observation_does_not_restart_the_clock() -> None:
    gate = StabilityGate(2.0)
    for now in (0.0, 1.0, 1.9):
        gate.observe(MOVIE, 100, 1000.0, now=now)
    assert len(gate.release(now=2.0)) == 1


def test_a_growing_sequence_is_held_as_one() -> None:
    gate = StabilityGate(1.0, key=unit_key)
    frames = [Path(f"/ingest/sh020/sh020.{frame:04d}.exr") for frame in range(1001, 1006)]
    for index, frame in enumerate(frames):
        gate.observe(frame, 50, 1000.0 + index, now=index * 0.6)  # a frame every 0.6 s, under 1 s apart
        assert gate.ready(now=index * 0.6 + 0.9) == []
    (settled,) = gate.ready(now=2.4 + 1.0)
    assert [state.path for state in settled.files] == frames
    gate.pop(settled.key)
    assert len(gate) == 0


def test_a_vanished_frame_restarts_the_wait() -> None:
    gate = StabilityGate(1.0, key=unit_key)
    first, second = Path("/ingest/a/a.0001.png"), Path("/ingest/a/a.0002.png")
    gate.observe(first, 10, 1.0, now=0.0)
    gate.observe(second, 10, 1.0, now=0.0)
    gate.vanish(second, now=0.8)
    assert gate.ready(now=1.5) == []
    (settled,) = gate.ready(now=1.8)
    assert [state.path for state in settled.files] == [first]
    gate.vanish(first, now=2.0)
    assert len(gate) == 0 and gate.ready(now=9.0) == []


def test_temp_names_are_ignored() -> None:
    gate = StabilityGate(0.0)
    for name in ("sh010_1.mov.part", "render.tmp", ".DS_Store", ".sh010_1.mov.Xy12Ab", "sh010_1.mov~"):
        assert gate.observe(Path("/ingest") / name, 10, 1.0, now=0.0) is False
    assert len(gate) == 0 and gate.release(now=1.0) == []


def test_rsync_temp_names_are_ignored_even_with_a_custom_ignore_list() -> None:
    gate = StabilityGate(0.0, ignore=["*.wip"])
    assert gate.observe(Path("/ingest/.sh010_1.mov.k3Jd9Q"), 10, 1.0, now=0.0) is False
    assert gate.observe(Path("/ingest/sh010_1.mov.wip"), 10, 1.0, now=0.0) is False
    assert gate.observe(MOVIE, 10, 1.0, now=0.0) is True
