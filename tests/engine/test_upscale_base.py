"""Upscale at inference: the net's correction over OpenCV's bicubic of the whole frame is the training
graph's output (forward(): F.interpolate + net), through PyTorch and through the exported runtime."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine import synth
from engine.baselines.restore import downscale
from engine.heads import get_head
from engine.infer import runtime
from engine.infer.tiling import TileSpec, image_to_tensor, tensor_to_image

BACKENDS = ["torch"] + [b for b in ("openvino", "onnxruntime") if runtime.installed(b)]


def _acting_net() -> torch.nn.Module:
    head = get_head("upscale")
    net = head.build(head.default_config())
    torch.manual_seed(7)
    for p in net.parameters():
        torch.nn.init.normal_(p, std=0.02)
    return net.eval()


@pytest.mark.parametrize("backend", BACKENDS)
def test_upscale_gives_the_training_graphs_output_on_the_whole_frame(backend: str) -> None:
    head = get_head("upscale")
    net = _acting_net()
    lr = downscale(synth.camera_move(synth.photo("astronaut"), 1, (256, 160))[0])
    with torch.no_grad():
        whole = head.forward(net, image_to_tensor(lr))  # type: ignore[attr-defined]
    expected = np.clip(tensor_to_image(whole), 0, 1)
    bicubic = torch.nn.functional.interpolate(image_to_tensor(lr), scale_factor=2, mode="bicubic")
    assert np.abs(expected - np.clip(tensor_to_image(bicubic), 0, 1)).max() > 0.01  # the net acts
    runtime.clear_cache()
    with runtime.using(backend=backend, min_pixels=0, threads=1):
        out = head.upscale(net, lr, TileSpec(tile=256))  # type: ignore[attr-defined]
    assert out.shape == expected.shape and out.dtype == np.float32
    assert np.abs(out - expected).max() < runtime.TOLERANCE
