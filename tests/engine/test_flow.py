"""The classical flow path and sequence operations on small synthetic camera moves."""

from __future__ import annotations

import numpy as np
import pytest

from engine import degrade, flow, flow_sequence, synth
from engine.baselines import interpolate as baselines
from engine.metrics import psnr


@pytest.fixture(scope="module")
def clip() -> np.ndarray:
    move = synth.CameraMove(pan=(0.5, 0.15), zoom=(1.0, 1.2), rotate=4, curve=0.5)
    return synth.camera_move(synth.photo("astronaut"), 12, (160, 96), move, seed=1)


def test_flow_interpolation_beats_linear_blend(clip: np.ndarray) -> None:
    for t in (4, 6):
        truth = clip[t]
        ours = flow.interpolate(clip[t - 1], clip[t + 1], 0.5, clip[t - 3], clip[t + 3])
        blend = baselines.linear_blend(clip[t - 1], clip[t + 1])
        assert psnr(ours, truth) > psnr(blend, truth) + 3.0


def test_retime_2x_keeps_originals(clip: np.ndarray) -> None:
    frames = clip[:5]
    out = list(flow_sequence.retime(((1001 + i, f) for i, f in enumerate(frames)), 2))
    assert [n for n, _ in out] == list(range(1001, 1010))
    for k in range(5):
        assert np.array_equal(out[2 * k][1], frames[k])


def test_retime_4x_frame_count(clip: np.ndarray) -> None:
    out = list(flow_sequence.retime(((i, f) for i, f in enumerate(clip[:3])), 4))
    assert len(out) == 9


def test_fill_range_rebuilds_listed_frames(clip: np.ndarray) -> None:
    wanted = flow_sequence.parse_frames("1004-1005")
    out = dict(flow_sequence.fill(((1000 + i, f) for i, f in enumerate(clip)), wanted))
    assert sorted(out) == [1000 + i for i in range(len(clip))]
    assert np.array_equal(out[1003], clip[3])
    assert not np.array_equal(out[1004], clip[4])  # rebuilt, not passed through
    assert psnr(out[1004], clip[4]) > psnr(clip[3], clip[4])


def test_parse_frames_rejects_nonsense() -> None:
    assert flow_sequence.parse_frames("1012-1014,1020") == {1012, 1013, 1014, 1020}
    with pytest.raises(flow_sequence.SequenceError, match="frame list"):
        flow_sequence.parse_frames("twelve")
    # as a word processor or a chat writes the dash: "cannot read frame list '1012\u20131016'" looked like valid input
    for dash in ("\u2013", "\u2014", "\u2212", "\uff0d"):
        assert flow_sequence.parse_frames(f"1012{dash}1014, 1020") == {1012, 1013, 1014, 1020}
    # spaces as people type them: "1003 1005" read as frame 10031005 ("lies outside the shot")
    assert flow_sequence.parse_frames("1003 1005") == {1003, 1005}
    assert flow_sequence.parse_frames(" 1012 - 1014 , 1020 ") == {1012, 1013, 1014, 1020}


def test_detect_drops_finds_dropped_and_duplicated(clip: np.ndarray) -> None:
    glitched = degrade.drop_frames(clip, [4])  # frame 4 repeats frame 3
    glitched = np.delete(glitched, 8, axis=0)  # frame 8 lost: 7 -> 9 is a double step
    found = flow_sequence.detect_drops(glitched)
    assert found == [(4, "duplicated"), (8, "dropped")]


def test_half_size_flow_warps_full_size_frames(clip: np.ndarray) -> None:
    """Flows reversed at half size still rebuild the full-size frame well above a blend."""
    half = flow.FlowConfig(downscale=0.5)
    pf = flow.pair_flows(clip[5], clip[7], clip[3], clip[9], half)
    assert pf.f01.shape[:2] == (48, 80)
    out = flow.interpolate_with_flows(clip[5], clip[7], pf, 0.5, half)
    assert out.shape == clip[6].shape
    blend = baselines.linear_blend(clip[5], clip[7])
    assert psnr(out, clip[6]) > psnr(blend, clip[6]) + 3.0


def test_ensemble_is_the_mean_of_its_members(clip: np.ndarray) -> None:
    a, b = flow.FlowConfig(downscale=0.5), flow.FlowConfig(downscale=0.75)
    both = flow.FlowConfig(ensemble=(a, b))
    ours = flow.interpolate(clip[5], clip[7], 0.5, clip[3], clip[9], both)
    each = [flow.interpolate(clip[5], clip[7], 0.5, clip[3], clip[9], c) for c in (a, b)]
    np.testing.assert_allclose(ours, (each[0] + each[1]) / 2, atol=1e-5)
    with pytest.raises(flow.FlowError, match="per member"):
        flow.pair_flows(clip[5], clip[7], config=both)


def test_retime_does_not_blend_across_a_cut(clip: np.ndarray) -> None:
    other = synth.camera_move(synth.photo("coffee"), 4, (160, 96), seed=2)
    reel = np.concatenate([clip[:4], other])  # a cut between frames 3 and 4
    out = list(flow_sequence.retime(((i, f) for i, f in enumerate(reel)), 2))
    assert len(out) == 2 * len(reel) - 1
    # frame 7 sits between the last frame of the first shot (6) and the first of the second (8): a repeat of
    # one side, not a ghost of both
    assert np.array_equal(out[7][1], reel[3]) or np.array_equal(out[7][1], reel[4])
    # inside each shot frames are still interpolated
    assert not np.array_equal(out[5][1], reel[2]) and not np.array_equal(out[5][1], reel[3])
    assert not np.array_equal(out[9][1], reel[4]) and not np.array_equal(out[9][1], reel[5])


def test_large_frames_work_at_the_pixel_cap_and_training_crops_at_three_quarters() -> None:
    config = flow.RECOMMENDED
    assert flow.work_size(1080, 1920, config) == (405, 720)  # 1080p: 0.375 of the size
    assert flow.work_size(2160, 3840, config) == (405, 720)
    assert flow.work_size(256, 256, config) == (192, 192)  # a training crop: 3/4, as before the cap
    assert flow.work_size(1080, 1920, flow.FlowConfig(max_work_pixels=None)) == (810, 1440)
    default, full = flow.members(flow.BEST_QUALITY)  # quality=best: the default and the same at full size
    assert default == config
    assert flow.work_size(720, 1280, full) == (720, 1280)  # full size up to 720p...
    assert flow.work_size(1080, 1920, full) == (720, 1280)  # ...and 720p's pixels beyond (bounded cost)
    assert flow.work_size(2160, 3840, full) == (720, 1280)
    assert baselines.DIS_BASELINE.max_work_pixels is None  # the baseline keeps its full-size flow


def test_capped_flows_still_rebuild_full_size_frames_well_above_a_blend(clip: np.ndarray) -> None:
    capped = flow.FlowConfig(max_work_pixels=60 * 36)  # the clip's 160x96 works at 60x36
    pf = flow.pair_flows(clip[5], clip[7], clip[3], clip[9], capped)
    assert pf.f01.shape[:2] == (36, 60)
    out = flow.interpolate_with_flows(clip[5], clip[7], pf, 0.5, capped)
    assert out.shape == clip[6].shape
    blend = baselines.linear_blend(clip[5], clip[7])
    assert psnr(out, clip[6]) > psnr(blend, clip[6]) + 3.0


def test_a_retime_makes_each_frames_flow_image_once(
    clip: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    made: list[int] = []
    real = flow.flow_image

    def counted(frame: np.ndarray, config: flow.FlowConfig) -> np.ndarray:
        made.append(id(frame))
        return real(frame, config)

    monkeypatch.setattr(flow, "flow_image", counted)
    frames = list(clip[:6])
    out = list(flow_sequence.retime(((i, f) for i, f in enumerate(frames)), 2))
    assert len(out) == 11
    assert sorted(made) == sorted(id(f) for f in frames)  # six frames, six flow images, none twice
