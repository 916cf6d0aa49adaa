"""The learned parts learn: the interpolate refiner beats its flow path and regrade without a reference
beats the ungraded input, each after a short training on a few frames, scored on frames it did not see."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine import lut, synth
from engine.degrade.production import Grade, apply_grade
from engine.heads.interpolate import InterpolateHead, _stack_parts, _triplet_parts
from engine.heads.regrade import RegradeHead, RegradeNet, grade_error, thumbnail
from engine.heads.regrade_inverse import LOOK_MEMORY, InverseGrade, look_stats
from engine.metrics import psnr


def _occluded_clip(frames: int = 16) -> np.ndarray:
    """A panning photo with a second photo's patch crossing it fast: occlusions the flow path blends badly."""
    background = synth.camera_move(synth.photo("chelsea"), frames, (96, 64), seed=3)
    patch = synth.photo("astronaut")[100:400:12, 150:450:12][:22, :22]
    clip = background.copy()
    for i in range(frames):
        x, y = 4 + 5 * i % 70, 20 + (2 * i) % 20
        clip[i, y : y + 22, x : x + 22] = patch
    return clip


def _l1(out: torch.Tensor, truth: torch.Tensor) -> float:
    return float((out - truth).abs().mean())


def test_interpolate_refiner_trained_on_a_few_triplets_beats_the_flow_path_on_others() -> None:
    torch.manual_seed(0)
    head = InterpolateHead()
    clip = _occluded_clip()
    config = head.flow_config()
    triplets = []
    for t in range(1, len(clip) - 1):
        parts, truth = _triplet_parts(clip, t, config)
        triplets.append(
            (
                torch.from_numpy(_stack_parts(parts).transpose(2, 0, 1)),
                torch.from_numpy(truth.transpose(2, 0, 1)),
            )
        )
    train = [triplets[i] for i in range(len(triplets)) if i % 3 != 1]
    held = [triplets[i] for i in range(len(triplets)) if i % 3 == 1]
    net = head.build({"channels": 16, "depth": 5})
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    rng = np.random.default_rng(0)
    for _ in range(150):
        pick = [train[int(i)] for i in rng.integers(0, len(train), 4)]
        x, y = torch.stack([p[0] for p in pick]), torch.stack([p[1] for p in pick])
        loss = (head.forward(net, x) - y).abs().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    x, y = torch.stack([p[0] for p in held]), torch.stack([p[1] for p in held])
    with torch.no_grad():
        refined, flow_path = _l1(head.forward(net, x).clamp(0, 1), y), _l1(x[:, :3], y)
    assert refined < 0.95 * flow_path


@pytest.mark.parametrize("production", [False, True])
def test_regrade_without_reference_learns_the_look_and_beats_the_ungraded_input(production: bool) -> None:
    torch.manual_seed(0)
    head = RegradeHead()
    clip = synth.camera_move(synth.photo("coffee"), 12, (96, 64), seed=2)
    train, held = clip[::2], clip[1::2]
    net = head.build({})
    assert isinstance(net, RegradeNet)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    rng = np.random.default_rng(0)
    for _ in range(10):  # the look is learned within the first steps; the MLP correction is trained on top
        ex = head.inverse_examples(train, rng, 16, 0.5)
        graded = torch.from_numpy(ex["inv_graded"])
        loss = head.inverse_loss(
            net, graded, torch.from_numpy(ex["inv_clean"]), torch.from_numpy(ex["inv_grades"])
        )
        opt.zero_grad()
        loss.backward()
        opt.step()
    before, after = [], []
    for i, frame in enumerate(held):
        graded = grade_error(np.random.default_rng(100 + i), production)[0](frame[None])[0]
        restored = lut.apply_lut(graded, head.predict_lut(net, graded))
        before.append(psnr(graded, frame))
        after.append(psnr(restored, frame))
    assert np.mean(after) > np.mean(before) + 2.0


def test_regrade_without_reference_leaves_frames_alone_when_its_inverse_did_not_gain_on_held_out_clips() -> (
    None
):
    head = RegradeHead()
    net = head.build({})
    assert isinstance(net, RegradeNet)
    with torch.no_grad():
        for p in net.inverse.parameters():
            p.add_(0.05)  # an inverse that moves the picture
    frame = synth.camera_move(synth.photo("coffee"), 1, (96, 64), seed=2)[0]
    lost = head.run_params({}, {"psnr_no_reference": 18.0, "psnr_input": 18.7})
    gained = head.run_params({}, {"psnr_no_reference": 21.0, "psnr_input": 18.7})
    assert lost["inverse"] is False and gained["inverse"] is True
    kept = dict(head.apply(net, [(1, frame)], {**lost, "precise": True}))
    moved = dict(head.apply(net, [(1, frame)], {**gained, "precise": True}))
    np.testing.assert_allclose(kept[1], frame, atol=1e-5)
    assert not np.allclose(moved[1], frame, atol=1e-3)


def _thumbs(frames: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.stack([thumbnail(f) for f in frames]).transpose(0, 3, 1, 2).copy())


def test_regrade_learns_the_shows_look_from_its_frames_and_a_shows_dailies_replace_its_bases_look() -> None:
    base_show = _thumbs(synth.camera_move(synth.photo("astronaut"), 8, (96, 64), seed=1))
    show = _thumbs(synth.camera_move(synth.photo("coffee"), 8, (96, 64), seed=2))
    base_look, show_look = look_stats(base_show).mean(0), look_stats(show).mean(0)
    inverse = InverseGrade()
    for _ in range(LOOK_MEMORY // 400):
        inverse.learn_look(base_show.repeat(50, 1, 1, 1))
    torch.testing.assert_close(inverse.look, base_look, atol=1e-4, rtol=0)
    for _ in range(3 * LOOK_MEMORY // 400):  # the show's dailies, three times the look's memory
        inverse.learn_look(show.repeat(50, 1, 1, 1))
    assert (inverse.look - show_look).abs().max() < 0.1 * (base_look - show_look).abs().max()


def test_regrade_without_reference_undoes_under_exposure_and_far_off_white_balance_from_the_look_alone() -> (
    None
):
    clip = synth.camera_move(synth.photo("coffee"), 12, (96, 64), seed=2)
    inverse = InverseGrade()
    inverse.learn_look(_thumbs(clip[::2]))  # the look of the show's other frames; no weight trained
    for stops, red in ((-1.8, 0.7), (-1.0, 1.0)):
        frame = clip[5]
        graded = apply_grade(frame[None], Grade(exposure_stops=stops, white_balance=(red, 1.0, 0.8)))[0]
        with torch.no_grad():
            found = inverse(_thumbs(graded[None]))[0]
        assert abs(float(found[0]) - stops) < 0.5
        restored = lut.apply_lut(graded, RegradeHead().predict_lut(_net_with(inverse), graded))
        assert psnr(restored, frame) > psnr(graded, frame) + 4.0


def test_a_regrade_version_saved_before_the_look_was_learned_still_loads_and_predicts_no_look() -> None:
    old = {k: v for k, v in InverseGrade().state_dict().items() if not k.startswith("look")}
    inverse = InverseGrade()
    inverse.learn_look(_thumbs(synth.camera_move(synth.photo("coffee"), 4, (96, 64), seed=2)))
    inverse.load_state_dict(old)
    assert float(inverse.look_seen) == 0.0
    with torch.no_grad():
        assert inverse(_thumbs(synth.camera_move(synth.photo("astronaut"), 2, (96, 64)))).abs().max() == 0


def _net_with(inverse: InverseGrade) -> RegradeNet:
    net = RegradeHead().build({})
    assert isinstance(net, RegradeNet)
    net.inverse.load_state_dict(inverse.state_dict())
    return net
