"""Upscale's detail gate: the net runs only on tiles with edges or texture, bicubic elsewhere; where it
runs, the output is the whole-frame output, and on footage with flat areas the gated frame scores
within a tenth of a dB of the ungated one."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from engine import synth
from engine.baselines.restore import downscale
from engine.heads import get_head
from engine.infer import runtime
from engine.infer.sparse import SparseSpec, detail_score_map, detail_tiles
from engine.metrics import psnr

BACKENDS = ["torch"] + [b for b in ("openvino", "onnxruntime") if runtime.installed(b)]


def _half_flat(size: tuple[int, int] = (640, 400)) -> np.ndarray:
    """A photo on the left half of the frame and a smooth sky-like gradient on the right half."""
    w, h = size
    frame = synth.camera_move(synth.photo("astronaut"), 1, size)[0].copy()
    ramp = np.linspace(0.55, 0.7, h, dtype=np.float32)[:, None, None]
    frame[:, w // 2 :] = ramp * np.array([0.8, 0.9, 1.0], np.float32)
    return frame


def _acting_net() -> torch.nn.Module:
    head = get_head("upscale")
    net = head.build(head.default_config())
    torch.manual_seed(7)
    for p in net.parameters():
        torch.nn.init.normal_(p, std=0.02)
    return net.eval()


@pytest.mark.parametrize("backend", BACKENDS)
def test_gated_tiles_give_the_whole_frame_output_and_flat_tiles_keep_bicubic(backend: str) -> None:
    head = get_head("upscale")
    net = _acting_net()
    lr = np.ascontiguousarray(downscale(_half_flat()))  # 320 x 200
    gate = SparseSpec(core=56, threshold=0.02)
    run, skip = detail_tiles(lr, gate)
    assert run and skip  # the photo's tiles run, the sky's do not
    runtime.clear_cache()
    with runtime.using(backend=backend, min_pixels=0, threads=1):
        whole = head.upscale(net, lr)  # type: ignore[attr-defined]
        gated = head.upscale(net, lr, gate=gate)  # type: ignore[attr-defined]
    bicubic = np.clip(cv2.resize(lr, (640, 400), interpolation=cv2.INTER_CUBIC), 0, 1)
    assert np.abs(whole - bicubic).max() > 0.01  # the net acts everywhere
    for t in run:
        box = np.s_[2 * t.y : 2 * (t.y + 56), 2 * t.x : 2 * (t.x + 56)]
        assert np.abs(gated[box] - whole[box]).max() < runtime.TOLERANCE
    ran = np.zeros(lr.shape[:2], bool)
    for t in run:
        ran[t.y : t.y + 56, t.x : t.x + 56] = True
    flat = ~np.repeat(np.repeat(ran, 2, 0), 2, 1)
    assert flat.any() and np.array_equal(gated[flat], bicubic[flat])


def test_the_detail_score_sees_edges_and_texture_not_flat_areas_or_one_noisy_pixel() -> None:
    frame = np.full((64, 64, 3), 0.5, np.float32)
    frame[10, 10] = 0.6  # one pixel off by 0.1
    frame[:, 40:] = 0.9  # an edge
    score = detail_score_map(frame)
    assert score[30, 20] == 0.0 and score[10, 10] < 0.05
    assert score[30, 40] > 0.1


def test_threshold_zero_and_frames_smaller_than_one_window_run_the_ungated_path() -> None:
    head = get_head("upscale")
    net = _acting_net()
    lr = np.ascontiguousarray(downscale(_half_flat((192, 128))))  # 96 x 64: under one 136-pixel window
    with runtime.using(backend="torch"):
        whole = head.upscale(net, lr)  # type: ignore[attr-defined]
        small = head.upscale(net, lr, gate=SparseSpec(threshold=0.5))  # type: ignore[attr-defined]
        off = list(head.apply(net, [(1, lr)], {"detail": 0}))[0][1]
    assert np.abs(small - whole).max() < 1e-6 and np.abs(off - whole).max() < 1e-6


def _trained_net(frames: np.ndarray, steps: int = 120) -> torch.nn.Module:
    """A small upscale net fitted for a few seconds on crops of `frames` (the head's own samples)."""
    head = get_head("upscale")
    torch.manual_seed(0)
    net = head.build({**head.default_config(), "channels": 16, "depth": 4})
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    rng = np.random.default_rng(0)
    for _ in range(steps):
        ex = [head.sample(frames, rng, 48) for _ in range(8)]  # type: ignore[attr-defined]
        lr = torch.from_numpy(np.stack([e["lr"] for e in ex]))
        target = torch.from_numpy(np.stack([e["target"] for e in ex]))
        loss = head.loss(net, {"lr": lr, "target": target})
        opt.zero_grad()
        loss.backward()
        opt.step()
    return net.eval()


def test_a_trained_net_gated_at_the_fix_default_scores_within_a_tenth_of_a_db_of_ungated() -> None:
    from engine.heads.upscale import DETAIL

    head = get_head("upscale")
    clip = np.stack([_half_flat((320, 200)), synth.camera_move(synth.photo("coffee"), 1, (320, 200))[0]])
    net = _trained_net(clip)
    truth = _half_flat()
    lr = np.ascontiguousarray(downscale(truth))
    gate = SparseSpec(threshold=DETAIL, core=56)
    run, skip = detail_tiles(lr, gate)
    assert DETAIL > 0 and skip  # the sky is skipped at the default
    with runtime.using(backend="torch"):
        whole = head.upscale(net, lr)  # type: ignore[attr-defined]
        gated = head.upscale(net, lr, gate=gate)  # type: ignore[attr-defined]
    b = np.s_[4:-4, 4:-4]
    assert psnr(whole[b], truth[b]) - psnr(gated[b], truth[b]) < 0.1
