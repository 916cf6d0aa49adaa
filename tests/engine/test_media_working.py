"""The heads' working encoding: scene-linear EXR light through ACEScct's log curve and back; others as they are."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.media import write_sequence
from engine.media.working import from_working, read_working, read_working_uint8, scene_linear, to_working
from engine.synth import camera_move, photo


def test_the_curve_is_acescct_and_comes_back_exactly() -> None:
    light = np.array([-0.01, 0.0, 0.001, 0.0078125, 0.18, 1.0, 16.0, 222.86], np.float32)

    coded = to_working(light)

    assert coded[4] == pytest.approx(0.4136, abs=1e-4)  # mid grey
    assert coded[1] == pytest.approx(0.0729, abs=1e-4)  # black sits on the toe, above 0
    assert coded[-1] == pytest.approx(1.0, abs=1e-5)  # the brightest light the heads keep
    assert np.all(np.diff(coded) > 0)
    assert np.allclose(from_working(coded), light, rtol=1e-5, atol=1e-7)
    assert np.allclose(
        from_working(np.array([[[0, 105, 255]]], np.uint8)), from_working(np.array([[[0, 105 / 255, 1]]]))
    )


def test_an_exr_reads_in_the_log_encoding_and_other_kinds_as_they_are(tmp_path: Path) -> None:
    frames = camera_move(photo("rocket"), 2, size=(64, 48), seed=1)
    light = frames**2.2 * np.float32(30.0)  # highlights far over 1.0
    write_sequence(tmp_path / "pl.####.exr", light, 1001)
    write_sequence(tmp_path / "pl.####.png", frames, 1001)

    coded = [f.rgb for f in read_working(str(tmp_path / "pl.####.exr"))]
    coded8 = [f.rgb for f in read_working_uint8(str(tmp_path / "pl.####.exr"), 1002, 1002)]
    plain = [f.rgb for f in read_working_uint8(str(tmp_path / "pl.####.png"))]

    assert scene_linear(str(tmp_path / "pl.####.exr")) and not scene_linear(str(tmp_path / "pl.####.png"))
    assert float(coded[0].min()) > 0.0 and float(coded[0].max()) < 1.0  # nothing clips at 1.0
    assert np.allclose(from_working(coded[0]), light[0], rtol=2e-3, atol=1e-4)  # half floats' precision
    assert coded8[0].dtype == np.uint8 and abs(float(coded8[0].mean()) / 255 - float(coded[1].mean())) < 0.01
    assert np.abs(plain[0].astype(int) - np.round(frames[0] * 255).astype(int)).max() <= 1


def test_training_decodes_an_exr_daily_in_the_log_encoding_under_its_own_cache_name(tmp_path: Path) -> None:
    from engine.train.dataset import TrainClip, load_clip

    grey = np.full((3, 48, 64, 3), 0.18, np.float32)
    grey[:, :8] = 12.0  # a light over 1.0 stays brighter than anything under it
    write_sequence(tmp_path / "pl.####.exr", grey, 1001)
    clip = TrainClip(id="pl", path=Path(tmp_path / "pl.####.exr"))

    loaded = load_clip(clip, resolution=48, cache_dir=tmp_path / "cache")

    assert abs(int(loaded.frames[0, 40, 30, 1]) - round(0.4136 * 255)) <= 1  # mid grey, not 0.18 * 255
    assert int(loaded.frames[0, 2, 30, 1]) == pytest.approx(0.759 * 255, abs=1)  # 12.0, not clipped at 255
    assert int(loaded.frames[0, 2, 30, 1]) < 255
    assert [p.name.endswith("-log.v3.npy") for p in (tmp_path / "cache").glob("*.v3.npy")] == [True]
