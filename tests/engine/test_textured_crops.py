"""Training crops drawn for texture (engine.heads.base.textured_crop, the upscale head's sample)."""

from __future__ import annotations

import numpy as np
import pytest

from engine.heads.base import HEADS, Head, crop_box, textured_crop


def half_textured_clip(frames: int = 4, height: int = 64, width: int = 256) -> np.ndarray:
    """Frames flat grey on the left half and random noise on the right half."""
    rng = np.random.default_rng(7)
    clip = np.full((frames, height, width, 3), 128, np.uint8)
    clip[:, :, width // 2 :] = rng.integers(0, 256, (frames, height, width // 2, 3), dtype=np.uint8)
    return clip


def share_on_texture(draws: int, tries: int = 200) -> float:
    clip, rng = half_textured_clip(), np.random.default_rng(0)
    centres = [textured_crop(clip, rng, 32, draws) for _ in range(tries)]
    return float(np.mean([x + w / 2 > clip.shape[2] / 2 for _t, _y, x, _h, w in centres]))


def test_more_draws_land_more_crops_on_texture() -> None:
    one, four = share_on_texture(1), share_on_texture(4)
    assert 0.35 < one < 0.65  # a plain random crop: about half on each side
    assert four > 0.9 and four > one + 0.3


def test_one_draw_is_the_plain_random_crop() -> None:
    clip = half_textured_clip()
    a, b = np.random.default_rng(3), np.random.default_rng(3)
    t, y, x, h, w = textured_crop(clip, a, 32, 1)
    assert t == int(b.integers(0, len(clip)))
    assert (y, x, h, w) == crop_box(clip.shape[1], clip.shape[2], 32, b)


def mean_texture(head: Head, draws: int) -> float:
    clip, rng = half_textured_clip(), np.random.default_rng(0)
    head.draws = draws
    targets = [head.sample(clip, rng, 32)["target"] for _ in range(100)]
    return float(np.mean([np.abs(np.diff(t, axis=2)).mean() for t in targets]))


def test_upscale_trains_on_the_textured_crops(monkeypatch: pytest.MonkeyPatch) -> None:
    head = HEADS["upscale"]
    assert head.draws > 1
    monkeypatch.setattr(head, "draws", head.draws)  # restored after the test
    # its training targets carry more texture than plain random crops of the same clip (0.25 vs 0.17 here)
    assert mean_texture(head, head.draws) > 1.25 * mean_texture(head, 1)
