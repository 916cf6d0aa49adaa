"""The cleanup head checks each neighbour's alignment around the hole before the neighbour fills it."""

from __future__ import annotations

import numpy as np
import pytest

from engine import synth
from engine.baselines.restore import inpaint_telea
from engine.degrade import add_noise, blob_mask
from engine.heads import cleanup
from engine.heads.cleanup import classical_base
from engine.heads.cleanup_check import MAX_ERROR, expected_error, noise_level
from engine.metrics import masked_psnr

SIZE = (160, 120)  # width, height


def _shot(photo: str, pan: tuple[float, float] = (0.5, 0.1)) -> np.ndarray:
    return synth.camera_move(synth.photo(photo), 5, SIZE, synth.CameraMove(pan=pan))


def _hole() -> np.ndarray:
    return blob_mask(SIZE[1], SIZE[0], seed=3, fraction=0.06)


def test_neighbours_across_undetected_cuts_fill_nothing_and_telea_fills_the_hole() -> None:
    shot, before, after = _shot("coffee"), _shot("astronaut"), _shot("chelsea")
    frames = [before[0], before[1], shot[2], after[3], after[4]]  # a one-frame shot between two cuts
    hole = _hole()
    base, unseen = classical_base(frames, [hole] * 5, 2)
    assert np.array_equal(unseen, hole)
    assert np.array_equal(base, inpaint_telea(shot[2], hole))


def test_a_nearest_neighbour_across_a_cut_leaves_the_hole_to_the_frames_of_the_same_shot() -> None:
    shot, other = _shot("coffee"), _shot("astronaut")
    hole = _hole()
    frames = [shot[0], other[1], shot[2], shot[3], shot[4]]  # the cut is right before the target
    base, _ = classical_base(frames, [hole] * 5, 2)
    same, _ = classical_base([shot[0], shot[2], shot[3], shot[4]], [hole] * 4, 1)
    telea = inpaint_telea(shot[2], hole)
    ours = masked_psnr(base, shot[2], hole)
    assert ours > masked_psnr(same, shot[2], hole) - 0.5
    assert ours > masked_psnr(telea, shot[2], hole) + 5.0
    assert np.array_equal(base[~hole], shot[2][~hole])


def test_an_object_moving_against_the_camera_beside_the_hole_is_not_pasted_into_it() -> None:
    background = _shot("coffee", pan=(0.3, 0.0))
    texture = synth.photo("astronaut")[100:160, 300:340].astype(np.float32) / 255.0
    green = texture * np.array([0.1, 0.6, 0.1], np.float32) + np.array([0.0, 0.4, 0.0], np.float32)
    frames = [f.copy() for f in background]
    for t, x in enumerate((110, 90, 30, 5, 0)):  # right to left, fast, while the camera pans
        frames[t][30:90, x : x + 40] = green[:, : min(40, SIZE[0] - x)]
    truth = frames[2]  # the object sits left of the hole in the target frame
    hole = np.zeros((SIZE[1], SIZE[0]), bool)
    hole[40:80, 75:115] = True  # where it was one frame before
    base, _ = classical_base(frames, [hole] * 5, 2)

    def greenish(image: np.ndarray) -> float:
        return float((image[..., 1] - image[..., [0, 2]].max(-1) > 0.25)[hole].mean())

    assert greenish(truth) == 0
    assert greenish(base) < 0.02  # pasting it (no check) turns 42% of the hole green
    assert masked_psnr(base, truth, hole) > masked_psnr(inpaint_telea(truth, hole), truth, hole) + 3.0


def test_the_rings_alignment_error_is_carried_into_the_hole_from_the_nearest_side() -> None:
    error = np.zeros((60, 100), np.float32)
    error[:, 50:] = 0.2  # aligned well on the left, badly on the right
    hole = np.zeros((60, 100), bool)
    hole[20:40, 30:70] = True
    expected = expected_error(error, ~hole, spread=5.0)
    assert expected[30, 32] < MAX_ERROR / 2
    assert expected[30, 68] > 0.15
    assert np.isinf(expected_error(error, np.zeros_like(hole), spread=5.0)).all()  # nothing seen: no trust


def test_where_two_checked_neighbours_saw_a_pixel_their_average_halves_the_noise() -> None:
    still = synth.camera_move(synth.photo("coffee"), 1, SIZE)[0]
    rng = np.random.default_rng(0)
    frames = [np.clip(still + rng.normal(0, 0.02, still.shape), 0, 1).astype(np.float32) for _ in range(3)]
    hole = np.zeros((SIZE[1], SIZE[0]), bool)
    hole[40:80, 40:120] = True
    left, right = hole.copy(), hole.copy()
    left[:, 80:] = False
    right[:, :80] = False
    holes = [right, hole, np.zeros_like(hole)]  # frame 0 saw only the left half, frame 2 all of it
    base, unseen = classical_base(frames, holes, 1)
    assert not unseen.any()
    both = np.var(base[left] - still[left])
    one = np.var(base[right] - still[right])
    assert both < 0.7 * one, (both, one)


def test_grainy_footage_still_fills_its_hole_from_the_neighbours() -> None:
    clean = _shot("coffee")
    grainy = np.asarray(add_noise(clean, 15 / 255, seed=1), np.float32)  # two aligned frames differ by ~0.07
    hole = _hole()
    base, unseen = classical_base(list(grainy), [hole] * 5, 2)
    assert unseen.sum() < 0.1 * hole.sum()
    telea = inpaint_telea(grainy[2], hole)
    assert masked_psnr(base, clean[2], hole) > masked_psnr(telea, clean[2], hole) + 8.0


def test_the_noise_level_is_the_grains_sigma() -> None:
    rng = np.random.default_rng(0)
    flat = np.full((80, 80, 3), 0.5, np.float32) + rng.normal(0, 0.04, (80, 80, 3)).astype(np.float32)
    where = np.ones((80, 80), bool)
    assert abs(noise_level(flat, where) - 0.04) < 0.004
    assert noise_level(flat, np.zeros_like(where)) == 0.0


def test_the_check_works_on_the_box_around_the_hole_and_its_ring_not_the_frame(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    frames = list(synth.camera_move(synth.photo("coffee"), 3, (960, 540), synth.CameraMove(pan=(0.2, 0.0))))
    hole = np.zeros((540, 960), bool)
    hole[250:290, 400:460] = True
    reach = int(0.08 * 540)
    boxes: list[tuple[int, int, int, int]] = []
    real = cleanup._warp_into

    def spy(image: np.ndarray, mat: np.ndarray, box: tuple[int, int, int, int], *args: float) -> np.ndarray:
        boxes.append(box)
        return real(image, mat, box, *args)

    monkeypatch.setattr(cleanup, "_warp_into", spy)
    base, unseen = classical_base(frames, [hole] * 3, 1)
    assert boxes and all(box == (250 - reach, 290 + reach, 400 - reach, 460 + reach) for box in boxes)
    assert not unseen.any()
    assert np.array_equal(base[~hole], frames[1][~hole])
