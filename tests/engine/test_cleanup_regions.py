"""Cleanup's cost follows the hole: the net runs on boxes around it with the same output as on the whole
frame, and every pixel outside the hole is the input's, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine import synth
from engine.baselines.restore import inpaint_telea
from engine.heads import get_head
from engine.heads.cleanup import CONTEXT, CleanupHead, classical_base, hole_regions, temporal_fill
from engine.heads.params import COVERED, coverage
from engine.infer import runtime
from engine.infer.tiling import image_to_tensor, tensor_to_image

BACKENDS = [b for b in ("openvino", "onnxruntime") if runtime.installed(b)]


def _head() -> CleanupHead:
    head = get_head("cleanup")
    assert isinstance(head, CleanupHead)
    return head


def _acting_net() -> torch.nn.Module:
    """The cleanup net with random non-zero weights, so that it really changes the hole."""
    head = _head()
    net = head.build(head.default_config())
    torch.manual_seed(3)
    for p in net.parameters():
        torch.nn.init.normal_(p, std=0.03)
    return net.eval()


def _holes(height: int, width: int) -> np.ndarray:
    """Three separate parts: one inside, one far from it, one on the frame's corner."""
    hole = np.zeros((height, width), bool)
    hole[30:52, 40:70] = True
    hole[140:170, 200:240] = True
    hole[0:12, width - 16 : width] = True
    return hole


def _whole_frame(net: torch.nn.Module, base: np.ndarray, hole: np.ndarray, unseen: np.ndarray) -> np.ndarray:
    """The net on the whole frame at once, untiled, in PyTorch: what the boxes must reproduce."""
    stacked = np.concatenate([base, hole[..., None], unseen[..., None]], 2).astype(np.float32)
    x = image_to_tensor(stacked)
    with torch.no_grad():
        out = _head().forward(net, x[:, :3], x[:, 3:4], x[:, 4:5])
    return np.where(hole[..., None], np.clip(tensor_to_image(out), 0, 1), base)


def test_the_net_on_boxes_around_the_hole_gives_the_whole_frames_output() -> None:
    frame = synth.camera_move(synth.photo("astronaut"), 1, (320, 200))[0]
    hole = _holes(200, 320)
    unseen = np.zeros_like(hole)
    unseen[35:45, 45:60] = True
    net = _acting_net()
    with runtime.using(backend="torch"):
        out = _head().refine(net, frame, hole, unseen)
    expected = _whole_frame(net, frame, hole, unseen)
    assert np.abs(out[hole] - frame[hole]).max() > 0.01  # the net really acts in the hole
    assert np.abs(out - expected).max() < 1e-5
    assert np.array_equal(out[~hole], frame[~hole])


def test_hole_regions_give_each_hole_pixel_one_box_with_the_nets_reach_around_it() -> None:
    hole = _holes(200, 320)
    reach = 21
    regions = hole_regions(hole, reach)
    assert len(regions) == 3
    owner = np.zeros(hole.shape, int)
    for (y0, y1, x0, x1), inside in regions:
        assert inside.shape == (y1 - y0, x1 - x0)
        owner[y0:y1, x0:x1] += inside
        ys, xs = np.nonzero(inside)
        margin = reach + CONTEXT
        assert ys.min() >= min(margin, ys.min() + y0) and xs.min() >= min(margin, xs.min() + x0)
        assert (y1 - y0) - 1 - ys.max() >= min(margin, 200 - y0 - 1 - ys.max())
        assert (x1 - x0) - 1 - xs.max() >= min(margin, 320 - x0 - 1 - xs.max())
    assert np.array_equal(owner, hole.astype(int))  # every hole pixel exactly once, nothing else
    assert hole_regions(np.zeros_like(hole), reach) == []


def test_a_hole_in_many_scattered_parts_runs_as_one_box() -> None:
    hole = np.zeros((400, 400), bool)
    hole[::37, ::41] = True  # 110 specks, far apart
    regions = hole_regions(hole, 5)
    assert len(regions) == 1
    (y0, y1, x0, x1), inside = regions[0]
    assert inside.sum() == hole.sum()
    assert (y0, x0) == (0, 0) and y1 > 37 * 10 and x1 > 41 * 9


def test_cleanup_leaves_every_pixel_outside_the_mask_bit_identical() -> None:
    clip = synth.camera_move(synth.photo("astronaut"), 5, (320, 200))
    mask = _holes(200, 320)
    out = [f for _, f in _head().apply(_acting_net(), list(enumerate(clip)), {"masks": mask, "radius": 2})]
    assert len(out) == 5
    for fixed, frame in zip(out, clip, strict=True):
        assert np.array_equal(fixed[~mask], frame[~mask])
        assert np.abs(fixed[mask] - frame[mask]).max() > 0  # the hole was filled


def test_a_soft_matte_merges_the_fill_through_its_feather() -> None:
    """A feathered roto was cut at half: its outer feather (where a removed object's motion blur lies) was left
    in the plate and the fill ended in a hard edge at the 50% line."""
    clip = synth.camera_move(synth.photo("astronaut"), 5, (320, 200))
    yy, xx = np.mgrid[0:200, 0:320]
    distance = np.hypot(yy - 100, xx - 160)
    matte = np.clip((40 - distance) / 20, 0, 1)  # solid within 20 px, fading to nothing at 40
    cover = coverage(matte)
    hole = cover >= COVERED
    whole = _head().apply(_acting_net(), list(enumerate(clip)), {"masks": hole, "radius": 2})  # filled whole
    soft = _head().apply(_acting_net(), list(enumerate(clip)), {"masks": cover, "radius": 2})
    weight = (cover.astype(np.float32) / 255)[..., None]
    for (_, fixed), (_, filled), frame in zip(soft, whole, clip, strict=True):
        assert np.array_equal(fixed[~hole], frame[~hole])  # outside the matte: bit-identical
        np.testing.assert_allclose(fixed, frame + (filled - frame) * weight, atol=1e-5)  # merged through it
        feather = (matte > 0.1) & (matte < 0.5)
        assert (np.abs(fixed - frame).max(axis=2)[feather] > 0).mean() > 0.9  # below half: no longer left


def test_a_lossy_hard_mask_is_filled_whole_as_it_was() -> None:
    """A JPEG or H.264 mask's white sits at 247-254 and its black at a few code values: read as cover, 2% of the
    plate showed through the fill in the codec's block pattern."""
    clip = synth.camera_move(synth.photo("astronaut"), 5, (320, 200))
    hole = _holes(200, 320)
    noise = np.random.default_rng(5).integers(0, 8, hole.shape)
    lossy = coverage(np.where(hole, 1 - noise / 255, noise / 255))  # 247-255 inside, 0-7 outside
    hard = _head().apply(_acting_net(), list(enumerate(clip)), {"masks": hole, "radius": 2})
    read = _head().apply(_acting_net(), list(enumerate(clip)), {"masks": lossy, "radius": 2})
    for (_, fixed), (_, whole) in zip(read, hard, strict=True):
        np.testing.assert_array_equal(fixed, whole)


def test_telea_on_the_box_of_what_no_frame_saw_equals_telea_on_the_whole_frame() -> None:
    still = synth.camera_move(synth.photo("astronaut"), 1, (320, 200))[0]
    frames = [still] * 3  # a still shot under a still mask: no neighbour sees the hole
    hole = _holes(200, 320)
    base, unseen = classical_base(frames, [hole] * 3, 1)
    assert np.array_equal(unseen, hole)
    filled, _ = temporal_fill(frames, [hole] * 3, 1)
    assert np.array_equal(base, inpaint_telea(filled, unseen))


@pytest.mark.parametrize("backend", BACKENDS)
def test_crops_of_a_large_frame_run_in_the_exported_runtime_with_pytorchs_output(backend: str) -> None:
    frame = synth.camera_move(synth.photo("astronaut"), 1, (320, 200))[0]
    hole = _holes(200, 320)
    unseen = np.zeros_like(hole)
    net = _acting_net()
    runtime.clear_cache()
    with runtime.using(backend=backend, min_pixels=320 * 200, threads=1):  # the frame's size, not the boxes'
        ours = _head().refine(net, frame, hole, unseen)
        assert len(runtime._cache) == 1 and None not in runtime._cache.values()  # compiled, and used
    with runtime.using(backend="torch"):
        theirs = _head().refine(net, frame, hole, unseen)
    assert np.abs(ours - theirs).max() < runtime.TOLERANCE
    assert np.array_equal(ours[~hole], frame[~hole])


def test_refining_in_place_gives_the_same_frame_as_refining_a_copy() -> None:
    frame = synth.camera_move(synth.photo("astronaut"), 1, (240, 240))[0]
    hole = np.zeros((240, 240), bool)
    hole[20:30, 20:200] = True  # an L whose box holds the other part's box
    hole[20:200, 20:30] = True
    hole[150:170, 150:170] = True
    unseen = np.zeros_like(hole)
    net = _acting_net()
    with runtime.using(backend="torch"):
        copied = _head().refine(net, frame, hole, unseen)
        base = frame.copy()
        in_place = _head().refine(net, base, hole, unseen, in_place=True)
    assert len(hole_regions(hole, 21)) == 2
    assert in_place is base  # no full-size copy
    assert np.array_equal(in_place, copied)
