"""The regrade head: identity / matched-grade start, training reduces the loss, baselines run, apply writes a
.cube."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from engine import degrade, lut, synth
from engine.baselines import color
from engine.heads import get_head
from engine.metrics import psnr


@pytest.fixture(scope="module")
def clip() -> np.ndarray:
    return synth.camera_move(synth.photo("coffee"), 6, (96, 64), seed=2)


def test_fresh_head_without_reference_leaves_image_unchanged(clip: np.ndarray) -> None:
    head = get_head("regrade")
    net = head.build({})
    out = dict(head.apply(net, [(1, clip[0])], {"precise": True}))
    np.testing.assert_allclose(out[1], clip[0], atol=1e-5)


def test_fresh_head_with_reference_is_its_matched_grade_and_beats_reinhard(clip: np.ndarray) -> None:
    head = get_head("regrade")
    graded = degrade.regrade(clip[:1], -1.0, (0.9, 1.0, 1.1), 0.85)[0]  # darker, flatter: little is clipped
    restored = lut.apply_lut(graded, head.predict_lut(head.build({}), graded, clip[3]))
    np.testing.assert_allclose(restored, color.matched_grade(graded, clip[3]), atol=1e-4)
    assert psnr(restored, clip[0]) > psnr(color.reinhard(graded, clip[3]), clip[0]) + 3


@pytest.mark.parametrize("head_frame", ["flash", "black"])
def test_a_flash_or_black_frame_at_the_shots_head_does_not_set_its_grade(
    clip: np.ndarray, head_frame: str
) -> None:
    """The one grade of a shot was fitted on its first frame: a sync flash there made the whole shot a stop
    darker where it had to be a stop brighter, a black frame there made the grade an identity, published as the
    fix with nothing said."""
    head = get_head("regrade")
    under = degrade.regrade(clip, -1.0, (1.0, 1.0, 1.0), 1.0)  # one stop under
    first = np.clip(under[0] * 6, 0, 1) if head_frame == "flash" else np.zeros_like(under[0])
    shot = [(n, f) for n, f in enumerate([first, *under[1:]])]
    out = dict(head.apply(head.build({}), shot, {"reference": clip[3], "precise": True}))
    for n in range(1, len(clip)):
        assert psnr(out[n], clip[n]) > psnr(under[n], clip[n]) + 6, n


def test_a_reference_that_is_a_frame_of_the_shots_head_is_not_the_frame_its_grade_is_fitted_on(
    clip: np.ndarray,
) -> None:
    """`reference=` a frame of the shot's head: had that frame been the one the grade was fitted on, the grade took
    it to its own look and the Version was the daily unchanged."""
    head = get_head("regrade")
    under = degrade.regrade(clip[:2], -1.0, (1.0, 1.0, 1.0), 1.0)
    over = degrade.regrade(clip[3:], 0.7, (1.0, 1.0, 1.0), 1.0)
    shot = list(
        enumerate([*under, clip[2], *over])
    )  # the frame named, of middle brightness, in the right look
    params = {"reference": clip[2], "reference_frame": 2, "precise": True}
    out = dict(head.apply(head.build({}), shot, params))
    for n in range(3, len(clip)):
        assert psnr(out[n], clip[n]) > psnr(over[n - 3], clip[n]) + 6, n


def test_training_reduces_loss(clip: np.ndarray) -> None:
    torch.manual_seed(0)
    head = get_head("regrade")
    net = head.build({"luts": 3, "residual_with_reference": True})
    rng = np.random.default_rng(0)
    pool = [head.sample(clip, rng, 48) for _ in range(32)]  # each sample fits a grade: keep the test quick

    def batch() -> dict[str, torch.Tensor]:
        samples = [pool[i] for i in rng.choice(len(pool), 8, replace=False)]
        return {k: torch.from_numpy(np.stack([s[k] for s in samples])) for k in samples[0]}

    fixed = batch()
    with torch.no_grad():
        before = float(head.loss(net, fixed))
    opt = torch.optim.Adam(net.parameters(), lr=5e-3)
    for _ in range(40):
        loss = head.loss(net, batch())
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        after = float(head.loss(net, fixed))
    assert after < before * 0.9


def test_evaluate_reports_baselines(clip: np.ndarray) -> None:
    head = get_head("regrade")
    scores = head.evaluate(head.build({}), [clip], np.random.default_rng(0), {"eval_frames": 2})
    for key in ("psnr", "ssim", "psnr_reinhard", "psnr_histogram", "psnr_base", "baseline_best"):
        assert np.isfinite(scores[key])
    assert scores["baseline_best"] == max(scores["psnr_reinhard"], scores["psnr_histogram"])
    assert scores["psnr"] == pytest.approx(scores["psnr_base"], abs=0.1)  # a fresh net is its base


def test_baselines_restore_a_known_change(clip: np.ndarray) -> None:
    graded = degrade.regrade(clip[:1], -1.0, (0.9, 1.0, 1.1), 0.8)[0]
    before = psnr(graded, clip[0])
    assert psnr(color.reinhard(graded, clip[2]), clip[0]) > before
    assert psnr(color.histogram_match(graded, clip[2]), clip[0]) > before


def test_fix_returns_the_lut_it_applied(clip: np.ndarray) -> None:
    head = get_head("regrade")
    run = head.fix(head.build({}), enumerate(clip[:2]), {"reference": clip[4], "precise": True})
    out = dict(run)
    assert list(out) == [0, 1]
    applied = run.outputs.lut
    assert applied is not None and applied.shape == (33, 33, 33, 3)
    np.testing.assert_allclose(lut.apply_lut(clip[1], applied), out[1], atol=1e-6)


def test_learned_luts_leave_the_matched_grade_alone_by_default(clip: np.ndarray) -> None:
    head = get_head("regrade")
    net = head.build({})
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.05)  # a net moved away from its fresh state
    graded = degrade.regrade(clip[:1], -1.0, (0.9, 1.0, 1.1), 0.85)[0]
    restored = lut.apply_lut(graded, head.predict_lut(net, graded, clip[3]))
    np.testing.assert_allclose(restored, color.matched_grade(graded, clip[3]), atol=1e-4)
    assert not np.allclose(
        head.predict_lut(net, graded), lut.identity(33), atol=1e-3
    )  # no reference: learned


def test_a_shot_deeper_than_8_bits_is_graded_at_its_own_precision(tmp_path: Path) -> None:
    """A 16-bit plate's regrade keeps its smooth gradients: the 8-bit table banded them into 256 steps."""
    from engine.heads.params import Shot
    from engine.heads.regrade import RegradeParams
    from engine.media import probe, read_frames, write_sequence

    ramp = np.repeat(np.linspace(0.05, 0.95, 1024, dtype=np.float32)[None, :, None], 16, 0).repeat(3, 2)
    plate = [ramp * np.float32(0.7 + 0.01 * i) for i in range(3)]  # darker than the reference, frame 1003
    pattern = str(tmp_path / "sh010.####.png")
    write_sequence(pattern, np.stack(plate), 1001)
    shot = Shot(pattern, probe(pattern))
    params = RegradeParams(reference=1003).bind(shot)
    head = get_head("regrade")
    out = dict(head.fix(head.build({}), ((f.number, f.rgb) for f in read_frames(shot.info)), params))
    levels = len(np.unique(np.round(out[1001][8, :, 1] * 65535)))
    assert levels > 600  # 1024 pixels of a smooth ramp over most of the range: at 8 bits at most 256
