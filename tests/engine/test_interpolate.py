"""The interpolate head: a fresh net is exactly its flow base; retime and fill through apply(); the flow
path's occlusion cues point at the frame that hides a region; versions made before the cues still load."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from engine import flow, flow_sequence, synth
from engine.baselines import interpolate as baselines
from engine.heads import HeadError, Shot, get_head
from engine.heads.base import as_float
from engine.heads.interpolate import IN_CHANNELS, _stack_parts
from engine.heads.interpolate_net import FIRST_CONV, OLD_FEATURES, SWAP, features
from engine.media import probe, read_frames
from engine.metrics import psnr
from engine.model.show import ShowModel
from engine.nets import ResidualCNN
from tests import footage


@pytest.fixture(scope="module")
def clip() -> np.ndarray:
    return synth.camera_move(synth.photo("chelsea"), 8, (96, 64), synth.CameraMove(pan=(0.4, 0.1)), seed=3)


def test_fresh_refiner_is_exactly_the_flow_base(clip: np.ndarray) -> None:
    head = get_head("interpolate")
    net = head.build({})
    pf = flow.pair_flows(clip[2], clip[4], clip[0], clip[6])
    parts = flow.interpolate_reverse(clip[2], clip[4], pf, 0.5, flow.FlowConfig())
    np.testing.assert_allclose(head.refine(net, parts), parts.frame, atol=1e-6)


def test_apply_retime_and_fill(clip: np.ndarray) -> None:
    head = get_head("interpolate")
    net = head.build({})
    out = list(head.apply(net, ((100 + i, f) for i, f in enumerate(clip[:4])), {"factor": 2}))
    assert [n for n, _ in out] == list(range(100, 107))
    filled = dict(head.apply(net, ((100 + i, f) for i, f in enumerate(clip)), {"frames": "103"}))
    assert sorted(filled) == list(range(100, 108))
    with pytest.raises(HeadError, match="factor"):
        list(head.apply(net, [], {"factor": "fast"}))


def test_frames_a_sequence_lacks_are_rebuilt_by_auto_and_a_retime_runs_across_them(tmp_path: Path) -> None:
    # frames 1004 and 1005 of a camera move are missing on disk, as after a failed render or copy
    pattern = footage.sequence(tmp_path, "sh010", first=1001, n=9, size=(96, 64), skip=(1004, 1005))
    truth = footage.frames(9, (96, 64))
    shot = Shot(pattern, probe(pattern))
    head = get_head("interpolate")
    net = head.build({})

    def run(raw: dict[str, str]) -> dict[int, np.ndarray]:
        params = head.params_type.parse(raw).bind(shot)
        return dict(head.apply(net, ((f.number, f.rgb) for f in read_frames(pattern)), params))

    auto = run({})
    assert sorted(auto) == list(range(1001, 1010))
    for number in (1004, 1005):  # in their place, not a copy of a neighbour
        rebuilt = psnr(auto[number], truth[number - 1001])
        assert rebuilt > psnr(truth[2], truth[number - 1001]) + 3
        assert rebuilt > psnr(truth[5], truth[number - 1001]) + 3
    assert set(head.params_type.parse({"frames": "1002"}).bind(shot)) == {"frames"}  # named frames only
    retimed = run({"factor": "2"})
    assert sorted(retimed) == list(range(1001, 1001 + 2 * 9 - 1))  # the hole's span, at twice the rate
    np.testing.assert_allclose(retimed[1001 + 2 * 3], auto[1004], atol=1e-6)


def test_auto_finds_duplicated_frames_as_they_pass_and_holds_a_few_frames_not_the_shot() -> None:
    moving = footage.frames(40, (64, 48))
    glitched = moving.copy()
    for i in (7, 20, 39):  # a frame repeated by a dropped-frame recorder, the last one too
        glitched[i] = glitched[i - 1]
    read = 0

    def decoded() -> Iterator[tuple[int, np.ndarray]]:
        nonlocal read
        for i, rgb in enumerate(glitched):
            read += 1
            yield 1001 + i, rgb

    head = get_head("interpolate")
    fixed = head.apply(head.build({}), decoded(), {"frames": "auto"})

    first = next(fixed)
    assert first[0] == 1001 and read <= 8  # it used to decode all 40 (a 4K shot: 125 MB a frame) before any
    out = dict([first, *fixed])
    assert sorted(out) == list(range(1001, 1041))  # every frame, the repeated last one too
    found = flow_sequence.detect_drops(list(glitched))
    assert [i for i, kind in found if kind == "duplicated"] == [7, 20, 39]
    for i in (7, 20):  # rebuilt between their neighbours, closer to the motion than the repeat
        assert psnr(out[1001 + i], moving[i]) > psnr(glitched[i], moving[i])
    for i in (3, 30):
        np.testing.assert_array_equal(out[1001 + i], as_float(glitched[i]))


def locked_off(n: int, grain: float = 0.0) -> np.ndarray:
    """A locked-off shot: a still photo with a small square walking 3 px a frame across it (a figure far off, a
    graphic), nothing repeated; `grain` (sigma, 0..1) new in every frame."""
    still = cv2.resize(synth.photo("chelsea"), (160, 96), interpolation=cv2.INTER_AREA)
    rng = np.random.default_rng(5)
    shot = np.repeat(still[None], n, axis=0)
    for i in range(n):
        shot[i, 40:54, 10 + 3 * i : 24 + 3 * i] = (0.9, 0.2, 0.1)
    return np.clip(shot + rng.normal(0, grain, shot.shape), 0, 1).astype(np.float32) if grain else shot


def auto_rebuilds(shot: np.ndarray) -> tuple[set[int], dict[int, np.ndarray]]:
    """What interpolate frames=auto finds in `shot` (numbered from 1001) and the frames it puts out."""
    found: set[int] = set()
    frames = flow_sequence.with_duplicates_found(((1001 + i, f) for i, f in enumerate(shot)), found)
    out = dict(flow_sequence.fill(frames, found.__contains__, flow.FlowConfig(), None))
    assert sorted(out) == list(range(1001, 1001 + len(shot)))
    return found, out


@pytest.mark.parametrize("grain", [0.0, 1.5 / 255])
def test_auto_leaves_a_locked_off_shot_whose_small_subject_moves_every_frame(grain: float) -> None:
    """It used to call every frame a repeat (the frame's mean change under half a code value) and freeze the
    subject on the first frame for the whole shot."""
    shot = locked_off(24, grain)
    found, out = auto_rebuilds(shot)
    assert found == set()
    for i in (5, 23):
        np.testing.assert_array_equal(out[1001 + i], shot[i])

    repeated = shot.copy()
    repeated[12] = repeated[11]  # the recorder dropped a frame: the one before is repeated in its place
    found, out = auto_rebuilds(repeated)
    assert found == {1013}
    assert psnr(out[1013], shot[12]) > psnr(repeated[12], shot[12]) + 3


def test_auto_leaves_a_slow_fade_a_held_frame_run_and_a_repeat_at_the_end() -> None:
    moving = footage.frames(30, (96, 64)).astype(np.float32)
    fade = moving[0] * np.linspace(1.0, 0.92, 24)[:, None, None, None]  # a slow fade on a still frame
    assert auto_rebuilds(fade.astype(np.float32))[0] == set()
    held = moving.copy()
    held[10:18] = held[9]  # the camera holds for eight frames, as cut
    assert auto_rebuilds(held)[0] == set()
    tail = moving.copy()
    tail[29] = tail[28]  # the shot's last frame repeats: no frame after it to rebuild it from
    found, out = auto_rebuilds(tail)
    assert found == set()
    np.testing.assert_array_equal(out[1030], tail[29])


def test_quality_best_runs_the_mean_with_full_size_flows_and_rebuilds_a_frame_closer(
    clip: np.ndarray,
) -> None:
    head = get_head("interpolate")
    net = head.build({})
    frames = [(100 + i, f) for i, f in enumerate(clip)]
    default = dict(head.apply(net, frames, {"frames": "103", "refine": False}))[103]
    best = dict(head.apply(net, frames, {"frames": "103", "refine": False, "quality": "best"}))[103]
    members = [
        dict(flow_sequence.fill(iter(frames), {103}, config))[103]
        for config in flow.members(flow.BEST_QUALITY)
    ]
    np.testing.assert_allclose(best, np.mean(members, axis=0), atol=1e-6)
    np.testing.assert_allclose(members[0], default, atol=1e-6)  # its first member is the default path
    assert psnr(best, clip[3]) > psnr(default, clip[3]) + 0.3  # the dropped frame, rebuilt closer
    with pytest.raises(HeadError, match="quality 'fastest' must be one of default, best"):
        list(head.apply(net, frames, {"frames": "103", "quality": "fastest"}))


def test_sample_and_loss_train(clip: np.ndarray) -> None:
    head = get_head("interpolate")
    net = head.build({"channels": 8, "depth": 3})
    rng = np.random.default_rng(0)
    samples = [head.sample(clip, rng, 32) for _ in range(2)]
    batch = {k: torch.from_numpy(np.stack([s[k] for s in samples])) for k in samples[0]}
    assert batch["inputs"].shape[1] == IN_CHANNELS
    loss = head.loss(net, batch)
    loss.backward()
    assert torch.isfinite(loss)


def test_evaluate_reports_baselines(clip: np.ndarray) -> None:
    head = get_head("interpolate")
    scores = head.evaluate(head.build({}), [clip], np.random.default_rng(0), {"eval_frames": 2})
    assert scores["psnr"] == pytest.approx(scores["psnr_base"], abs=1e-3)
    assert scores["psnr"] > scores["psnr_linear"]
    assert scores["baseline_best"] >= scores["psnr_dis"]


def test_a_refiner_that_did_not_beat_the_flow_path_is_skipped(clip: np.ndarray) -> None:
    head = get_head("interpolate")
    net = head.build({})
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.05)  # a refiner that changes the picture
    frames = [(100 + i, f) for i, f in enumerate(clip[:3])]
    no_gain = head.run_params({"factor": 2}, {"psnr": 33.36, "psnr_base": 33.36})
    gain = head.run_params({"factor": 2}, {"psnr": 33.9, "psnr_base": 33.4})
    assert no_gain["refine"] is False and gain["refine"] is True
    # 0.03 dB is not worth the refiner's cost (over half a frame's time at 1080p): it must gain MIN_REFINER_GAIN_DB
    assert head.run_params({"factor": 2}, {"psnr": 33.43, "psnr_base": 33.4})["refine"] is False
    assert head.run_params({"factor": 2, "refine": True}, {"psnr": 1.0, "psnr_base": 2.0})["refine"] is True
    skipped = dict(head.apply(net, frames, no_gain))
    used = dict(head.apply(net, frames, gain))
    classical = dict(head.apply(head.build({}), frames, {"factor": 2}))
    np.testing.assert_allclose(skipped[101], classical[101], atol=1e-6)  # the flow path alone
    assert not np.allclose(used[101], classical[101], atol=1e-3)


def _square_over(x: int) -> np.ndarray:
    """A still photo with a textured square whose left edge is at column x."""
    frame = synth.photo("chelsea")[::4, ::4][:64, :96].copy()
    frame[20:44, x : x + 24] = synth.photo("astronaut")[100:400:10, 150:450:10][:24, :24]
    return frame


def test_occlusion_cues_say_which_outer_frame_hides_a_region() -> None:
    # The square moves 12 px right per frame: at t = 0.5 it covers columns 36-59. Columns 61-65 are
    # background about to be covered (seen in frame 0, hidden in frame 1), columns 30-34 background just
    # uncovered (hidden in frame 0, seen in frame 1).
    f0, f1 = _square_over(30), _square_over(42)
    pf = flow.pair_flows(f0, f1, _square_over(18), _square_over(54))
    parts = flow.interpolate_reverse(f0, f1, pf, 0.5, flow.FlowConfig())
    covered, uncovered = np.s_[22:42, 61:66], np.s_[22:42, 30:35]
    cues = parts.cues()
    assert cues.fb0[covered].mean() > 2 * cues.fb1[covered].mean()
    assert cues.fb1[uncovered].mean() > 2 * cues.fb0[uncovered].mean()
    still = np.s_[50:64, 0:20]  # background far from the square: seen in both, no motion
    assert cues.fb0[still].mean() < 0.5 and cues.motion0[still].mean() < 0.5
    assert _stack_parts(parts).shape == (64, 96, IN_CHANNELS)


def test_refiner_is_symmetric_in_the_two_outer_frames(clip: np.ndarray) -> None:
    head = get_head("interpolate")
    net = head.build({"channels": 8, "depth": 3})
    seeded = torch.Generator().manual_seed(1)  # the same weights whatever ran before in this worker
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=seeded))
    pf = flow.pair_flows(clip[2], clip[4], clip[0], clip[6])
    x = torch.from_numpy(_stack_parts(flow.interpolate_reverse(clip[2], clip[4], pf, 0.5, flow.FlowConfig())))
    x = x.permute(2, 0, 1)[None]
    with torch.no_grad():
        delta, swapped = net(x), net(x[:, SWAP])
    assert float(delta.abs().max()) > 1e-3
    torch.testing.assert_close(delta, swapped, atol=3e-4, rtol=1e-3)  # float rounding of the logits


def test_a_version_trained_before_the_occlusion_cues_loads_and_computes_what_it_did(clip: np.ndarray) -> None:
    torch.manual_seed(0)
    old_body = ResidualCNN(OLD_FEATURES, 4, channels=8, depth=3, dilations=[1, 2])
    with torch.no_grad():
        for p in old_body.parameters():
            p.add_(0.05 * torch.randn_like(p))
    tensors = {f"interpolate.body.{k}": v for k, v in old_body.state_dict().items()}
    assert tensors[f"interpolate.{FIRST_CONV}"].shape[1] == OLD_FEATURES
    model = ShowModel.fresh(["interpolate"], {"interpolate": {"channels": 8, "depth": 3}})
    model.load_state(tensors)
    net = model.net("interpolate")
    pf = flow.pair_flows(clip[2], clip[4], clip[0], clip[6])
    x = torch.from_numpy(_stack_parts(flow.interpolate_reverse(clip[2], clip[4], pf, 0.5, flow.FlowConfig())))
    x = x.permute(2, 0, 1)[None]
    with torch.no_grad():
        out = old_body(features(x)[:, :OLD_FEATURES])  # the old refiner: 14 features, one side
        w0, w1, v0, v1 = x[:, 3:6], x[:, 6:9], x[:, 9:10], x[:, 10:11]
        m0 = (v0 / (v0 + v1 + 1e-6)).clamp(0.01, 0.99)
        m = torch.sigmoid(torch.log(m0 / (1 - m0)) + out[:, 3:4])
        torch.testing.assert_close(net(x), (m - m0) * (w0 - w1) + 0.05 * out[:, :3], atol=1e-5, rtol=1e-4)
    again = ShowModel.fresh(["interpolate"], {"interpolate": {"channels": 8, "depth": 3}})
    again.load_state(model.state_dict())  # saved after the load: still the old one-sided net
    with torch.no_grad():
        torch.testing.assert_close(again.net("interpolate")(x), net(x))


def test_an_ensembles_cues_are_the_mean_of_its_members_cues(clip: np.ndarray) -> None:
    members = [
        flow.interpolate_reverse(clip[2], clip[4], flow.pair_flows(clip[2], clip[4], config=c), 0.5, c)
        for c in flow.members(flow.BEST_QUALITY)
    ]
    mean = flow.mean_parts(members)
    np.testing.assert_allclose(
        mean.cues().fb1, (members[0].cues().fb1 + members[1].cues().fb1) / 2, atol=1e-5
    )
    np.testing.assert_allclose(mean.frame, (members[0].frame + members[1].frame) / 2, atol=1e-6)


def test_minterpolate_midpoints_are_the_ffmpeg_programs_frames() -> None:
    """The baseline runs minterpolate in PyAV's FFmpeg libraries: the midpoints are byte for byte those of the
    ffmpeg program (which `make test` installs) on the same frames, odd sizes and two frames included."""
    exe = shutil.which("ffmpeg")
    assert exe is not None, "ffmpeg is not on PATH: `make system-deps` installs it"
    for n, (w, h) in ((2, (120, 90)), (5, (131, 75))):
        frames = synth.camera_move(
            synth.photo("chelsea"), n, (w, h), synth.CameraMove(pan=(0.5, 0.2)), seed=n
        )
        ours = baselines.minterpolate_midpoints(frames)
        assert ours.shape == (n - 1, h, w, 3) and ours.dtype == np.float32
        pad = 2 if n >= 3 else 1  # as the baseline pads: two mirrored frames at each end
        padded = np.concatenate([frames[pad:0:-1], frames, frames[-2 : -2 - pad : -1]])
        raw = (np.clip(padded, 0, 1) * 255 + 0.5).astype(np.uint8).tobytes()
        cmd = [exe, "-v", "error", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-r", "1", "-i", "-",
               "-filter:v", f"minterpolate={baselines.MINTERPOLATE}", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"]  # fmt: skip
        out = np.frombuffer(subprocess.run(cmd, input=raw, capture_output=True, check=True).stdout, np.uint8)
        theirs = out.reshape(-1, h, w, 3)[2 * pad + 1 :: 2][: n - 1].astype(np.float32) / 255
        assert np.array_equal(ours, theirs)


def test_minterpolate_makes_midpoints_of_frames_under_its_smallest_side_at_their_size() -> None:
    """A daily at Rushes' 16x16 floor in a show's held-out clips: minterpolate refused it ("Invalid argument")
    and the training ended in a traceback at its scoring, its whole budget lost."""
    for w, h in ((16, 16), (64, 24)):
        frames = synth.camera_move(
            synth.photo("chelsea"), 4, (w, h), synth.CameraMove(pan=(0.5, 0.2)), seed=1
        )
        ours = baselines.minterpolate_midpoints(frames)
        assert ours.shape == (3, h, w, 3) and ours.dtype == np.float32
        assert np.abs(ours - (frames[:-1] + frames[1:]) / 2).mean() < 0.1  # midpoints of these frames


def test_the_side_check_trusts_the_warp_whose_outer_frame_agrees_where_the_other_side_hides() -> None:
    """Background about to be covered is seen in frames -1 and 0, not in 1 and 2: the side check takes it from
    frame 0's side (where it was uncovered, frame -1 shows the square too, so both sides agree with their outer
    frames there and the check decides less)."""
    f0, f1 = _square_over(30), _square_over(42)
    truth = as_float(_square_over(36))
    pf = flow.pair_flows(f0, f1, _square_over(18), _square_over(54))
    plain = flow.interpolate_reverse(f0, f1, pf, 0.5, replace(flow.RECOMMENDED, side_sigma=0.0)).frame
    checked = flow.interpolate_reverse(f0, f1, pf, 0.5, flow.RECOMMENDED).frame
    covered = np.s_[22:42, 58:66]
    assert (
        np.abs(checked[covered] - truth[covered]).mean()
        < 0.9 * np.abs(plain[covered] - truth[covered]).mean()
    )
    assert psnr(checked, truth) > psnr(plain, truth) + 0.3  # 0.64 dB when written; 0.58 at the working size
    no_outer = flow.pair_flows(f0, f1)  # no outer frames: the blend is the flow path's
    np.testing.assert_array_equal(
        flow.interpolate_reverse(f0, f1, no_outer, 0.5, flow.RECOMMENDED).frame,
        flow.interpolate_reverse(f0, f1, no_outer, 0.5, replace(flow.RECOMMENDED, side_sigma=0.0)).frame,
    )


def test_the_sequence_tools_hand_the_side_check_their_outer_frames() -> None:
    squares = [(n, as_float(_square_over(6 + 6 * n))) for n in range(7)]  # 6 px a frame; frame 3 to rebuild
    kept = [item for item in squares if item[0] != 3]

    def rebuilt(config: flow.FlowConfig) -> np.ndarray:
        return dict(flow_sequence.fill(kept, {3}, config))[3]

    checked, plain = rebuilt(flow.RECOMMENDED), rebuilt(replace(flow.RECOMMENDED, side_sigma=0.0))
    assert not np.array_equal(checked, plain)  # frames 1 and 5 reached the check
    assert psnr(checked, squares[3][1]) > psnr(plain, squares[3][1])


def _element_at(x: int) -> np.ndarray:
    """A CG element (RGBA, premultiplied): a textured square whose left edge is at column x, over nothing."""
    frame = np.zeros((64, 96, 4), np.float32)
    frame[20:44, x : x + 24, :3] = as_float(synth.photo("astronaut")[100:400:10, 150:450:10][:24, :24])
    frame[20:44, x : x + 24, 3] = 1.0
    return frame


def test_a_cg_elements_rebuilt_frame_carries_its_alpha_where_its_colour_went() -> None:
    """A render-farm frame missing from an element with alpha: the made frame's coverage moves with its colour
    (the same warps and blend), and carrying the alpha changes none of the colour, refined or not."""
    elements = [(n, _element_at(6 + 6 * n)) for n in range(7)]  # 6 px a frame; frame 3 to rebuild
    kept = [item for item in elements if item[0] != 3]
    truth = elements[3][1][..., 3]
    head = get_head("interpolate")
    net = head.build({"channels": 8, "depth": 3})
    with torch.no_grad():  # a refiner that changes the colour, so its path is taken and seen
        for p in net.parameters():
            p.add_(0.05 * torch.randn_like(p, generator=torch.Generator().manual_seed(0)))

    for params in ({"frames": "3", "refine": False}, {"frames": "3", "refine": True}):
        with_alpha = dict(head.apply(net, kept, params))[3]
        colour_only = dict(head.apply(net, [(n, f[..., :3]) for n, f in kept], params))[3]
        assert with_alpha.shape == (64, 96, 4), params
        np.testing.assert_array_equal(with_alpha[..., :3], colour_only)
        made = with_alpha[..., 3]
        assert np.abs(made - truth).mean() < 0.01, params
        assert np.abs(made - truth).mean() < 0.1 * np.abs(elements[2][1][..., 3] - truth).mean()
        assert made.min() >= 0.0 and made.max() <= 1.0
