import numpy as np
import pytest
from skimage.metrics import structural_similarity

from engine import degrade, synth
from engine.metrics import masked_psnr, psnr, ssim


def _img(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((40, 50, 3), dtype=np.float32)


def test_psnr_of_known_error() -> None:
    a = np.zeros((8, 8, 3), np.float32)
    assert psnr(a, a + 0.1) == pytest.approx(20.0, abs=1e-4)
    assert psnr(a, a) > 100


def test_masked_psnr_counts_only_the_mask() -> None:
    a = _img()
    b = a.copy()
    mask = np.zeros(a.shape[:2], bool)
    mask[10:20, 10:20] = True
    b[~mask] = 0  # errors outside the mask do not count
    b[mask] += 0.01
    assert masked_psnr(b, a, mask) == pytest.approx(40.0, abs=0.01)
    with pytest.raises(ValueError, match="at least one"):
        masked_psnr(a, b, np.zeros_like(mask))


def test_ssim_matches_scikit_image_and_drops_with_noise() -> None:
    a = synth.camera_move(synth.photo("astronaut"), 1, (80, 60))[0]
    assert ssim(a, a) == pytest.approx(1.0, abs=1e-5)
    noisy = degrade.add_noise(a, 0.1, seed=1)
    reference = structural_similarity(
        noisy,
        a,
        gaussian_weights=True,
        sigma=1.5,
        use_sample_covariance=False,
        channel_axis=2,
        data_range=1.0,
    )
    assert ssim(noisy, a) == pytest.approx(reference, abs=0.02)
    assert ssim(noisy, a) < 0.8
