"""The matched grade: the exposure / white-balance / gamma / contrast inverse fitted between two frames of a shot."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from engine import degrade, lut, synth
from engine.baselines import color
from engine.degrade.production import Grade, apply_grade
from engine.metrics import psnr


@pytest.fixture(scope="module")
def clip() -> np.ndarray:
    return synth.camera_move(synth.photo("astronaut"), 8, (160, 96), seed=1)


@pytest.mark.parametrize(
    ("stops", "balance", "contrast"), [(0.6, (1.1, 1.0, 0.85), 1.15), (-1.2, (0.9, 1.0, 1.15), 0.8)]
)
def test_fit_recovers_a_known_change_from_another_frame(
    clip: np.ndarray, stops: float, balance: tuple[float, float, float], contrast: float
) -> None:
    graded = degrade.regrade(clip[:1], stops, balance, contrast)[0]
    fit = color.fit_grade(graded, clip[4])  # the camera moved between the two frames
    gains = (2.0**stops * np.asarray(balance)) ** (-1 / 2.2)
    np.testing.assert_allclose(fit.gains, gains, rtol=0.05)
    assert fit.contrast == pytest.approx(contrast, rel=0.06)
    assert fit.inliers > 0.5
    restored = fit.apply(graded)
    assert psnr(restored, clip[0]) > psnr(color.reinhard(graded, clip[4]), clip[0]) + 1
    assert psnr(restored, clip[0]) > psnr(color.histogram_match(graded, clip[4]), clip[0]) + 1


def test_clipped_values_become_what_the_reference_shows_there(clip: np.ndarray) -> None:
    # +1 stop and more contrast clip over a third of the values: the inverse alone only bounds those
    graded = degrade.regrade(clip[:1], 1.0, (1.1, 1.0, 0.85), 1.2)[0]
    fit = color.fit_grade(graded, clip[4])
    assert fit.white is not None and fit.black is not None
    bare = replace(fit, black=None, white=None)
    assert psnr(fit.apply(graded), clip[0]) > psnr(bare.apply(graded), clip[0]) + 3
    assert psnr(fit.apply(graded), clip[0]) > psnr(color.reinhard(graded, clip[4]), clip[0])


def test_fit_lut_is_the_same_map(clip: np.ndarray) -> None:
    graded = degrade.regrade(clip[:1], 0.7, (1.05, 1.0, 0.9), 1.1)[0]
    fit = color.fit_grade(graded, clip[2])
    inner = ((graded > 0.05) & (graded < 0.95)).all(axis=2)  # the clip values sit on the end nodes
    np.testing.assert_allclose(lut.apply_lut(graded, fit.lut(33))[inner], fit.apply(graded)[inner], atol=2e-3)


@pytest.mark.parametrize("stops", [-1.0, -3.0])
def test_a_plain_exposure_change_keeps_black_at_black(clip: np.ndarray, stops: float) -> None:
    """A shot only under-exposed was fitted with a contrast of 0.986 or 1.010 (the grid had no 1): under the
    gain that restores it, black came out at 1.2/255 a stop under (lifted, milky on a night shot)."""
    graded = degrade.regrade(clip[:1], stops, (1.0, 1.0, 1.0), 1.0)[0]
    fit = color.fit_grade(graded, clip[4])
    assert fit.contrast == 1.0
    assert float(fit.apply(np.zeros((2, 2, 3), np.float32)).max()) < 0.5 / 255


def test_no_usable_pairs_gives_the_identity() -> None:
    flat = np.ones((32, 48, 3), np.float32)  # every value clipped: nothing to fit on
    fit = color.fit_grade(flat, flat * 0.5)
    assert fit == color.IDENTITY_FIT


@pytest.mark.parametrize("gamma", [0.75, 1.35])
def test_a_grade_with_a_gamma_change_is_undone_too(clip: np.ndarray, gamma: float) -> None:
    """A colourist's gamma on top of exposure, white balance and contrast (engine.degrade.production): the fit
    finds each channel's gamma, and restores the frame far better than without one."""
    grade = Grade(exposure_stops=0.3, white_balance=(1.2, 1.0, 0.8), gamma=gamma, contrast=1.05)
    graded = apply_grade(clip[:1], grade)[0]
    fit = color.fit_grade(graded, clip[4])
    np.testing.assert_allclose(fit.gammas, gamma, rtol=0.1)
    restored = psnr(fit.apply(graded), clip[0])
    assert restored > psnr(replace(fit, gammas=(1.0, 1.0, 1.0)).apply(graded), clip[0]) + 3
    assert restored > psnr(color.histogram_match(graded, clip[4]), clip[0]) + 3


@pytest.mark.parametrize("shape", [(48, 1024), (8, 3, 1024), (5, 7), (4, 1)])
def test_the_looks_quantiles_by_selection_are_torchs_quantiles(shape: tuple[int, ...]) -> None:
    """look_stats reads its quantiles by selection (topk, kthvalue), not torch.quantile's sort of every row (half
    of a regrade training step was spent there): the same values, levels near either end and in the middle."""
    from engine.heads.regrade_inverse import quantiles

    values = torch.rand(*shape, generator=torch.Generator().manual_seed(0))
    for levels in ((0.005, 0.5, 0.995), (0.0, 1.0), (0.25, 0.9)):
        expected = torch.quantile(values, torch.tensor(levels), dim=-1).movedim(0, -1)
        assert torch.allclose(quantiles(values, levels), expected, atol=1e-6), levels
