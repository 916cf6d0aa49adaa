"""Cleanup aligns its neighbours from a flow on boxes around the hole, not the whole frame: the boxes hold
where the hole's surroundings come from however far the camera moves, and the alignment is as good as the
whole frame's flow gives."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from engine import synth
from engine.heads import cleanup
from engine.heads.cleanup import _flow_boxes, _homography, classical_base, flow_image
from engine.metrics import masked_psnr

WIDTH, HEIGHT = 640, 360  # under FLOW_SIDE: the flow runs at the frame's own size


def _pan(speed: float, frames: int = 5) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """A camera panning `speed` pixels a frame (and slowly zooming) over a photo: the frames and, for
    each, the 3x3 map from its pixels to the photo's (the truth the alignment is checked against)."""
    big = cv2.resize(synth.photo("astronaut"), (1400, 900), interpolation=cv2.INTER_AREA)
    out, maps = [], []
    for t in range(frames):
        zoom = 1.0 + 0.004 * t
        m = np.array([[zoom, 0.0, 100 + speed * t], [0.0, zoom, 80 + 0.5 * speed * t], [0.0, 0.0, 1.0]])
        flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
        out.append(np.clip(cv2.warpAffine(big, m[:2], (WIDTH, HEIGHT), flags=flags), 0, 1).astype(np.float32))
        maps.append(m)
    return out, maps


def _hole(y: int, x: int, h: int = 50, w: int = 70) -> np.ndarray:
    hole = np.zeros((HEIGHT, WIDTH), bool)
    hole[y : y + h, x : x + w] = True
    return hole


def _whole_frame_flow(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make cleanup compute its flow over the whole frame, as before the boxes."""
    monkeypatch.setattr(
        cleanup, "_flow_boxes", lambda a, b, hole, reach: ((0, a.shape[0], 0, a.shape[1]), (0, 0))
    )


@pytest.mark.parametrize("speed", [0.0, 12.0, 45.0])
def test_the_flow_boxes_hold_where_the_pixels_around_the_hole_come_from(speed: float) -> None:
    frames, maps = _pan(speed)
    hole = _hole(150, 280)
    reach = 28
    a, b = flow_image(frames[2]), flow_image(frames[0])  # two frames apart: twice the speed
    (y0, y1, x0, x1), (dx, dy) = _flow_boxes(a, b, hole, reach)
    assert y0 <= 150 - reach and y1 >= 200 + reach and x0 <= 280 - reach and x1 >= 350 + reach
    assert (y1 - y0) * (x1 - x0) < 0.5 * HEIGHT * WIDTH  # far less than the whole frame
    near = cv2.dilate(hole.astype(np.uint8), np.ones((2 * reach + 1, 2 * reach + 1), np.uint8)) > 0
    ys, xs = np.nonzero(near)
    there = np.linalg.inv(maps[0]) @ maps[2] @ np.stack([xs, ys, np.ones_like(xs)]).astype(float)
    assert there[0].min() >= x0 + dx and there[0].max() <= x1 + dx - 1  # inside the neighbour's box
    assert there[1].min() >= y0 + dy and there[1].max() <= y1 + dy - 1


@pytest.mark.parametrize("speed", [3.0, 30.0])
def test_the_boxes_align_a_moving_neighbour_as_well_as_the_whole_frames_flow(
    speed: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    frames, maps = _pan(speed)
    hole = _hole(140, 300)
    ys, xs = np.nonzero(hole)
    pts = np.stack([xs, ys, np.ones_like(xs)]).astype(float)

    def error(j: int) -> float:
        mat = _homography(frames[2], hole, frames[j], np.zeros_like(hole))
        assert mat is not None
        got, truth = mat @ pts, np.linalg.inv(maps[j]) @ maps[2] @ pts
        return float(np.hypot(*(got[:2] / got[2] - truth[:2])).mean())

    ours = [error(j) for j in (0, 1, 3, 4)]
    _whole_frame_flow(monkeypatch)
    theirs = [error(j) for j in (0, 1, 3, 4)]
    assert max(ours) < 0.5  # the hole lands within half a pixel of where it truly is
    assert np.mean(ours) < np.mean(theirs) + 0.1


def test_the_filled_hole_matches_a_whole_frame_flow_run_within_a_tenth_of_a_db(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    frames, _ = _pan(20.0)
    holes = [_hole(120 + 4 * t, 250 + 10 * t, 60, 90) for t in range(5)]  # the object moves too
    ours, unseen = classical_base(frames, holes, 2)
    _whole_frame_flow(monkeypatch)
    theirs, unseen_before = classical_base(frames, holes, 2)
    assert not unseen.any() and not unseen_before.any()  # the neighbours saw all of it
    assert masked_psnr(ours, frames[2], holes[2]) > masked_psnr(theirs, frames[2], holes[2]) - 0.1
    assert masked_psnr(ours, frames[2], holes[2]) > 35
    assert np.array_equal(ours[~holes[2]], frames[2][~holes[2]])


@pytest.mark.parametrize(("size", "whole"), [((50, 70), False), ((260, 500), True)])
def test_a_hole_over_most_of_the_frame_is_aligned_from_the_whole_frames_flow(
    size: tuple[int, int], whole: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    shapes: list[tuple[int, ...]] = []
    real = cleanup._dis

    class Spy:
        def calc(self, a: np.ndarray, b: np.ndarray, flow: None) -> np.ndarray:
            shapes.append(a.shape)
            result: np.ndarray = real().calc(a, b, flow)
            return result

    monkeypatch.setattr(cleanup, "_dis", Spy)
    frames, maps = _pan(10.0)
    hole = _hole(50, 70, *size)
    mat = _homography(frames[2], hole, frames[0], np.zeros_like(hole))
    assert mat is not None
    fine = max(shapes, key=lambda s: s[0] * s[1])  # the alignment flow (the other: the coarse one)
    assert (fine == (HEIGHT, WIDTH)) == whole
    ys, xs = np.nonzero(hole)
    pts = np.stack([xs, ys, np.ones_like(xs)]).astype(float)
    got, truth = mat @ pts, np.linalg.inv(maps[0]) @ maps[2] @ pts
    assert float(np.hypot(*(got[:2] / got[2] - truth[:2])).mean()) < 0.5
