"""The flow path keeps detail: bicubic final warps, and near-static content left unresampled."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from engine import flow, synth
from engine.metrics import psnr


@pytest.fixture(scope="module")
def slow_pan() -> np.ndarray:
    """A detailed photo panned by about a pixel per frame: every warp samples between pixels."""
    move = synth.CameraMove(pan=(0.06, 0.02), zoom=(1.0, 1.0), rotate=0, curve=0)
    return synth.camera_move(synth.photo("astronaut"), 9, (160, 96), move, seed=3)


def _mid(clip: np.ndarray, config: flow.FlowConfig) -> np.ndarray:
    return flow.interpolate(clip[3], clip[5], 0.5, clip[1], clip[7], config)


def test_sub_pixel_motion_is_rebuilt_sharper_than_with_bilinear_warps(slow_pan: np.ndarray) -> None:
    truth = slow_pan[4]
    ours = psnr(_mid(slow_pan, flow.RECOMMENDED), truth)
    bilinear = psnr(_mid(slow_pan, replace(flow.RECOMMENDED, warp_kernel="linear")), truth)
    assert flow.RECOMMENDED.warp_kernel == "cubic"
    assert ours > bilinear + 1.0


def test_an_unknown_warp_kernel_is_refused_in_one_sentence(slow_pan: np.ndarray) -> None:
    with pytest.raises(flow.FlowError, match="unknown warp kernel 'nearest'; use linear, cubic or lanczos"):
        _mid(slow_pan, replace(flow.RECOMMENDED, warp_kernel="nearest"))


def test_near_static_content_is_not_resampled_by_sub_pixel_flow_noise() -> None:
    """A still shot whose flows carry the sub-pixel noise DIS returns there: the frame rebuilt is the still
    frame itself (no blur), where the noisy flows alone would soften it."""
    still = synth.camera_move(synth.photo("astronaut"), 1, (160, 96), seed=4)[0]
    rng = np.random.default_rng(6)
    h, w = still.shape[:2]

    def noise() -> np.ndarray:
        return rng.uniform(-0.6, 0.6, (h, w, 2)).astype(np.float32)

    pf = flow.PairFlows(noise(), noise())
    config = replace(flow.RECOMMENDED, quadratic=False)
    on = flow.interpolate_with_flows(still, still, pf, 0.5, config)
    off = flow.interpolate_with_flows(still, still, pf, 0.5, replace(config, static_tolerance=0.0))
    assert psnr(on, still) > 50
    assert psnr(off, still) < psnr(on, still) - 10


def _object_over_still(speed: int) -> np.ndarray:
    """A still background with a square cut from another photo sliding across it `speed` pixels a frame."""
    background = synth.camera_move(synth.photo("chelsea"), 1, (160, 96), seed=4)[0]
    square = synth.camera_move(synth.photo("astronaut"), 1, (40, 40), seed=2)[0]
    frames = np.stack([background] * 9)
    for i, frame in enumerate(frames):
        frame[28:68, 20 + speed * i : 60 + speed * i] = square
    return frames


def test_moving_content_keeps_its_flow(slow_pan: np.ndarray) -> None:
    """The static check leaves real motion alone: pans and a sliding object are rebuilt as well as without
    it (its occlusions, where the frames disagree with and without motion, included)."""
    pan = synth.camera_move(
        synth.photo("astronaut"), 9, (160, 96), synth.CameraMove(pan=(0.3, 0.1), zoom=(1.0, 1.1)), seed=3
    )
    for clip in (slow_pan, pan, _object_over_still(2), _object_over_still(6)):
        truth = clip[4]
        on = psnr(_mid(clip, flow.RECOMMENDED), truth)
        off = psnr(_mid(clip, replace(flow.RECOMMENDED, static_tolerance=0.0)), truth)
        assert on > off - 0.05
