"""The production-like degradations: clipped highlights, far-off white balance, grain that follows the signal
and survives 4:2:0 compression, references a few frames away, wide gaps for interpolation."""

from __future__ import annotations

import numpy as np

from engine import synth
from engine.degrade.production import (
    Grade,
    apply_grade,
    compress_420,
    production_grade,
    reference_index,
    signal_grain,
    wide_stride,
)


def _frame() -> np.ndarray:
    return synth.camera_move(synth.photo("astronaut"), 1, (128, 96))[0]


def test_two_stops_over_clip_the_highlights_for_good() -> None:
    frame = _frame()
    over = apply_grade(frame, Grade(exposure_stops=2.0))
    assert (over >= 1.0).mean() > 5 * max((frame >= 1.0).mean(), 0.01)
    back = apply_grade(over, Grade(exposure_stops=-2.0))
    bright = frame.mean(axis=2) > 0.8
    assert np.abs(back - frame)[bright].mean() > 0.05  # the exact inverse cannot bring them back


def test_production_grades_reach_two_stops_and_far_white_balance() -> None:
    rng = np.random.default_rng(0)
    grades = [production_grade(rng) for _ in range(400)]
    stops = np.array([g.exposure_stops for g in grades])
    assert stops.min() < -1.8 and stops.max() > 1.8
    spread = np.array([np.log2(g.white_balance[0] / g.white_balance[2]) for g in grades])
    assert np.abs(spread).max() > 0.9  # red and blue more than 0.9 stop apart in the worst cases
    assert all(g.white_balance[1] == 1.0 for g in grades)


def test_grain_follows_the_signal_and_survives_420_compression() -> None:
    ramp = np.repeat(np.linspace(0.02, 0.98, 256, dtype=np.float32)[None, :, None], 128, axis=0)
    ramp = np.repeat(ramp, 3, axis=2)
    raw = signal_grain(ramp[None], np.random.default_rng(1), quality=None)[0]
    coded = signal_grain(ramp[None], np.random.default_rng(1), quality=88)[0]
    dark, bright = slice(0, 40), slice(200, 256)

    def linear_noise(img: np.ndarray, part: slice) -> float:  # the noise in linear light, where it is made
        return float((img[:, part] ** 2.2 - ramp[:, part] ** 2.2).std())

    assert linear_noise(raw, bright) > 2 * linear_noise(raw, dark)  # shot noise grows with the signal
    assert linear_noise(coded, bright) > 0.5 * linear_noise(raw, bright)  # still there after 4:2:0 coding


def test_compress_420_keeps_the_picture_and_costs_some_detail() -> None:
    frame = _frame()
    coded = compress_420(frame, 88)
    err = np.abs(coded - frame).mean()
    assert coded.shape == frame.shape and 0.001 < err < 0.05


def test_reference_is_a_few_frames_away_inside_the_shot() -> None:
    rng = np.random.default_rng(2)
    for t in range(30):
        r = reference_index(t, 30, rng)
        assert 0 <= r < 30 and 3 <= abs(r - t) <= 12
    assert reference_index(0, 1, rng) == 0
    assert reference_index(1, 3, rng) in (0, 2)


def test_wide_strides_keep_three_frames_and_reach_the_gap() -> None:
    rng = np.random.default_rng(3)
    picks = [wide_stride(20, rng, max_gap=4) for _ in range(200)]
    assert all(2 <= k <= 4 and a >= 0 and len(range(a, 20, k)) >= 3 for a, k in picks)
    assert max(k for _, k in picks) == 4
    assert wide_stride(4, rng) == (0, 1)  # too short for any gap


def test_heads_score_on_production_degradations_when_asked() -> None:
    from engine.heads import get_head

    clip = synth.camera_move(synth.photo("coffee"), 5, (64, 48))
    regrade = get_head("regrade")
    net = regrade.build(regrade.default_config())
    one = {"eval_frames": 1}
    easy = regrade.evaluate(net, [clip], np.random.default_rng(0), one)
    hard = regrade.evaluate(net, [clip], np.random.default_rng(0), {**one, "grades": "production"})
    assert hard["psnr_input"] != easy["psnr_input"]  # other grade errors were applied
    denoise = get_head("denoise")
    dnet = denoise.build(denoise.default_config())
    opts = {"eval_frames": 1}
    grain = denoise.evaluate(dnet, [clip], np.random.default_rng(0), {**opts, "noise": "grain"})
    gauss = denoise.evaluate(dnet, [clip], np.random.default_rng(0), opts)
    assert grain["psnr"] != gauss["psnr"] and np.isfinite(grain["baseline_best"])
