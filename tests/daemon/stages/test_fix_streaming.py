"""The whole fix streams: a 200-frame half-float EXR shot rendered through daemon.stages.fixing.render (decoder,
head and encoders in their threads) holds no more memory than a 20-frame one, and frames queued to the
encoders as 8 bits (RenderSink.compact) render the same review files as the floats."""

from __future__ import annotations

import os
import tracemalloc
from fractions import Fraction
from pathlib import Path

import numpy as np

from daemon.stages.fixing import prepare, render
from daemon.stages.rendering import RenderPlan, RenderSink
from engine import synth
from engine.media import probe, read_frames_uint8, write_sequence
from engine.model import Manifest, ModelVersion, ShowModel, load_model, save_model

SIZE = (192, 108)
DISTINCT = 8


def shot(folder: Path, count: int) -> str:
    """A half-float EXR sequence of `count` frames (1001...): DISTINCT made, the rest hard links to them."""
    folder.mkdir()
    pattern = str(folder / "plate.####.exr")
    moving = synth.camera_move(synth.photo("coffee"), DISTINCT, SIZE, seed=2)
    paths = write_sequence(pattern, list(moving), 1001)
    for i in range(DISTINCT, count):
        os.link(paths[i % DISTINCT], folder / f"plate.{1001 + i:04d}.exr")
    return pattern


def regrade_model(folder: Path) -> ModelVersion:
    save_model(folder, ShowModel.fresh(["regrade"]), Manifest(show="DEMO", version="v1"))
    return load_model(folder)


def traced_peak(model: ModelVersion, source: str, out: Path) -> tuple[int, int]:
    """Peak traced bytes of the whole regrade fix of `source`, and the frames its review movie holds."""
    info = probe(source)
    plan = RenderPlan(out, "sh010_regrade", "regrade", Fraction(24), info.first_frame, None)
    tracemalloc.start()
    try:
        files = render(model, prepare("regrade", {}, source, info), info, plan)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak, probe(files.review_movie).frame_count


def test_a_200_frame_exr_shot_fixes_whole_in_the_memory_of_a_20_frame_one(tmp_path: Path) -> None:
    model = regrade_model(tmp_path / "model")
    long_shot = shot(tmp_path / "long", 200)
    short_shot = shot(tmp_path / "short", 20)
    traced_peak(model, short_shot, tmp_path / "warm")  # first use: imports, the net's first run
    short, short_frames = traced_peak(model, short_shot, tmp_path / "short_fix")
    long, long_frames = traced_peak(model, long_shot, tmp_path / "long_fix")
    assert (short_frames, long_frames) == (20, 200)
    frame_bytes = SIZE[0] * SIZE[1] * 3 * 4
    # ten times the frames, and at most a couple of float frames more held at the peak (not 180 more)
    assert long < short + 3 * frame_bytes, (short, long, frame_bytes)


def test_frames_queued_as_8_bits_render_the_same_review_files_as_floats(tmp_path: Path) -> None:
    frames = synth.camera_move(synth.photo("astronaut"), 4, SIZE, seed=5)
    outputs = []
    for name, compact in (("floats", False), ("bytes", True)):
        plan = RenderPlan(tmp_path / name, "sh010", "regrade", Fraction(24), 1001, "01:00:00:00")
        with RenderSink(plan) as sink:
            for i, frame in enumerate(frames):
                after = np.clip(frame * np.float32(1.3), 0, 1)  # values between two 8-bit levels
                sink.add(1001 + i, frame, sink.compact(after) if compact else after)
            files = sink.finish()
        outputs.append(
            [[f.rgb for f in read_frames_uint8(path)] for path in (files.review_movie, files.before_after)]
        )
    assert all(np.array_equal(a, b) for a, b in zip(outputs[0][0], outputs[1][0], strict=True))
    assert all(np.array_equal(a, b) for a, b in zip(outputs[0][1], outputs[1][1], strict=True))


def test_a_render_with_float_deliverables_keeps_the_floats_it_is_handed(tmp_path: Path) -> None:
    after = np.full((8, 8, 3), 0.3004, np.float32)
    with RenderSink(RenderPlan(tmp_path / "x", "x", "regrade", Fraction(24), 1, None, "exr")) as sink:
        assert sink.compact(after) is after
    with RenderSink(RenderPlan(tmp_path / "y", "y", "regrade", Fraction(24), 1, None)) as sink:
        assert sink.compact(after).dtype == np.uint8
