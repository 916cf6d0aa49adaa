import numpy as np
import pytest
import torch

from engine import degrade, synth
from engine.baselines.restore import downscale, inpaint_telea, upscale_bicubic
from engine.heads import HeadError, get_head, head_names
from engine.heads.cleanup import classical_base
from engine.heads.denoise import align, stack_aligned
from engine.infer.tiling import image_to_tensor, tensor_to_image
from engine.metrics import masked_psnr, psnr
from engine.train.loop import make_batch

RESTORE = ("denoise", "upscale", "cleanup")


def _clip(frames: int = 6, size: tuple[int, int] = (96, 72), seed: int = 0) -> np.ndarray:
    return synth.camera_move(synth.photo("astronaut"), frames, size, seed=seed)


def test_the_registry_knows_the_restore_heads() -> None:
    assert set(RESTORE) <= set(head_names())
    with pytest.raises(HeadError, match="unknown head"):
        get_head("sharpen")


def test_fresh_nets_are_no_ops_over_their_classical_bases() -> None:
    frame = _clip(1)[0]
    noisy = degrade.add_noise(frame[None], seed=1)[0]
    denoise = get_head("denoise")
    net = denoise.build(denoise.default_config())
    assert np.allclose(denoise.denoise(net, noisy), noisy, atol=1e-6)  # type: ignore[attr-defined]
    upscale = get_head("upscale")
    lr = downscale(frame)
    out = upscale.upscale(upscale.build(upscale.default_config()), lr)  # type: ignore[attr-defined]
    assert np.abs(out - upscale_bicubic(lr)).mean() < 2e-3  # torch's bicubic is OpenCV's
    # torch bicubic as the base, untouched by a fresh net
    base = torch.nn.functional.interpolate(
        image_to_tensor(lr), scale_factor=2, mode="bicubic", align_corners=False
    )
    assert np.allclose(out, np.clip(tensor_to_image(base), 0, 1), atol=1e-6)


@pytest.mark.parametrize("name", RESTORE)
def test_training_reduces_the_loss(name: str) -> None:
    """A few optimiser steps on self-supervised examples cut from a clip fit them: the head learns."""
    head = get_head(name)
    torch.manual_seed(0)
    net = head.build(head.default_config())
    clips = [_clip(6, (64, 48), seed=s) for s in range(2)]
    batch = make_batch(head, clips, np.random.default_rng(99), 2, 48, torch.device("cpu"))
    with torch.no_grad():
        before = float(head.loss(net, batch))
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    for step in range(60):
        for group in opt.param_groups:
            group["lr"] = 2e-3 * min(1.0, (step + 1) / 10)
        loss = head.loss(net, batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        after = float(head.loss(net, batch))
    assert after < 0.9 * before, (before, after)


def test_upscale_trains_on_the_degradation_it_is_scored_on() -> None:
    """Every training example is the area (box) 2x downscale of its target, the degradation evaluate uses:
    a mix of degradations cost about 0.5 dB on held-out real clips."""
    head = get_head("upscale")
    rng = np.random.default_rng(5)
    for _ in range(4):
        example = head.sample(_clip(3, (64, 48)), rng, 32)
        target = example["target"].transpose(1, 2, 0)
        assert np.allclose(example["lr"].transpose(1, 2, 0), downscale(target, 2, "area"), atol=1e-6)


@pytest.mark.parametrize("share", [None, 0.5])
def test_upscale_trains_on_a_share_of_softened_sources(
    monkeypatch: pytest.MonkeyPatch, share: float | None
) -> None:
    """About SOFT_SOURCES of the training crops (every one by default) are blurred before they become the
    pair: footage differs in optical softness, and a net that saw only crisp sources added detail soft unseen
    clips never had. The low-resolution input is still the box downscale of the (softened) target."""
    import engine.heads.upscale as upscale

    monkeypatch.setattr(upscale, "SOFT_SIGMA", (1.0, 1.0))  # one blur, plain to detect on noise
    if share is not None:
        monkeypatch.setattr(upscale, "SOFT_SOURCES", share)
    head = get_head("upscale")
    noise = np.random.default_rng(2).integers(0, 256, (3, 64, 64, 3), dtype=np.uint8)
    sharp = np.abs(np.diff(noise[0].astype(np.float32) / 255, axis=1)).mean()
    rng = np.random.default_rng(5)
    softened = 0
    for _ in range(200):
        example = head.sample(noise, rng, 32)
        target = example["target"].transpose(1, 2, 0)
        assert np.allclose(example["lr"].transpose(1, 2, 0), downscale(target, 2, "area"), atol=1e-6)
        softened += int(np.abs(np.diff(target, axis=1)).mean() < 0.5 * sharp)
    assert abs(softened / 200 - upscale.SOFT_SOURCES) < 0.1


def test_cleanup_takes_the_hole_from_neighbour_frames() -> None:
    clip = synth.camera_move(synth.photo("coffee"), 5, (128, 96), synth.CameraMove(pan=(0.5, 0.1)))
    hole = degrade.blob_mask(96, 128, seed=3, fraction=0.06)
    frames = list(clip)
    base, unseen = classical_base(frames, [hole] * 5, 2)
    assert unseen.sum() < 0.1 * hole.sum()  # the camera move revealed nearly all of it
    telea = inpaint_telea(clip[2], hole)
    assert masked_psnr(base, clip[2], hole) > masked_psnr(telea, clip[2], hole) + 5.0


def test_evaluate_reports_the_head_beside_its_baselines() -> None:
    clips = [_clip(5, seed=4)]
    for name in RESTORE:
        head = get_head(name)
        scores = head.evaluate(
            head.build(head.default_config()), clips, np.random.default_rng(0), {"eval_frames": 1}
        )
        assert {"psnr", "ssim", "baseline_best"} <= set(scores)
        assert all(f"psnr_{b}" in scores for b in head.baselines)
        assert scores["baseline_best"] == max(scores[f"psnr_{b}"] for b in head.baselines)


def test_cleanup_without_masks_is_a_clear_error() -> None:
    head = get_head("cleanup")
    with pytest.raises(HeadError, match="masks"):
        list(head.apply(head.build(head.default_config()), [(1, _clip(1)[0])], {}))


def test_denoise_aligns_neighbours_before_the_net_sees_them() -> None:
    clip = synth.camera_move(synth.photo("coffee"), 3, (128, 96), synth.CameraMove(pan=(0.3, 0.1)))
    noisy = [degrade.add_noise(f[None], seed=i)[0] for i, f in enumerate(clip)]
    stacked = stack_aligned(noisy, 1, 3)
    assert stacked.shape == (96, 128, 9)
    inner = (slice(8, -8), slice(8, -8))
    moved = psnr(clip[2][inner], clip[1][inner])
    aligned = psnr(align(clip[1], clip[2])[inner], clip[1][inner])
    assert aligned > moved + 8.0


def test_denoise_trains_on_colours_its_clips_do_not_hold() -> None:
    # a show's few clips hold few hues; the denoiser must also see others (a base once turned magenta blue)
    from engine.heads.base import permute_colours

    frame = np.zeros((16, 16, 3), np.float32)
    frame[..., 0], frame[..., 1], frame[..., 2] = 0.9, 0.1, 0.5  # one hue only
    head = get_head("denoise")
    rng = np.random.default_rng(0)
    orders = set()
    for _ in range(60):
        target = head.sample(np.stack([frame] * 3), rng, 16)["target"]  # C,H,W
        colour = tuple(round(float(v), 2) for v in target[:, 0, 0])
        assert sorted(colour) == [0.1, 0.5, 0.9]  # reordered, never altered
        orders.add(colour)
    assert len(orders) >= 4 and (0.9, 0.1, 0.5) in orders  # several orders, and the clip's own

    pair = [frame, frame.copy()]
    assert all(
        a is b for a, b in zip(permute_colours(pair, rng, 0.0), pair, strict=True)
    )  # share 0: untouched
    moved = permute_colours(pair, np.random.default_rng(1), 1.0)
    assert np.array_equal(moved[0], moved[1]) and not np.array_equal(moved[0], frame)  # one order for all
