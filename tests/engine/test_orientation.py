"""Self-ensembles (engine.heads.orientation): turned copies of an input through a net, turned back, averaged.
Denoise averages them inside each tile's forward, so the compiled inference runtime must run the turns too."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.heads import HeadError, get_head
from engine.heads.orientation import ORIENTATIONS, turn, turn_back, turn_tensor, turn_tensor_back
from engine.infer import runtime
from engine.infer.tiling import image_to_tensor, tensor_to_image


def test_every_orientation_turns_arrays_and_tensors_alike_and_turns_back() -> None:
    x = torch.arange(2 * 3 * 5 * 7, dtype=torch.float32).reshape(2, 3, 5, 7)
    img = x[0].permute(1, 2, 0).numpy()
    assert len(set(ORIENTATIONS)) == 8
    for orientation in ORIENTATIONS:
        turns, mirror = orientation
        expected = torch.rot90(x, turns, dims=(2, 3))
        expected = torch.flip(expected, dims=(3,)) if mirror else expected
        assert torch.equal(turn_tensor(x, orientation), expected), orientation
        assert torch.equal(turn_tensor_back(turn_tensor(x, orientation), orientation), x), orientation
        assert np.array_equal(turn(img, orientation), expected[0].permute(1, 2, 0).numpy()), orientation
        assert np.array_equal(turn_back(turn(img, orientation), orientation), img), orientation


def _acting_denoise_net() -> torch.nn.Module:
    """A single-frame denoise net with random weights: not symmetric, so every turned copy differs."""
    torch.manual_seed(0)
    net = get_head("denoise").build({"frames": 1})
    for p in net.parameters():
        torch.nn.init.normal_(p, std=0.05)
    return net.eval()


def _turned_mean(net: torch.nn.Module, img: np.ndarray, count: int) -> np.ndarray:
    head = get_head("denoise")
    outs = []
    for orientation in ORIENTATIONS[:count]:
        with torch.no_grad():
            y = tensor_to_image(head.forward(net, image_to_tensor(turn(img, orientation))))  # type: ignore[attr-defined]
        outs.append(turn_back(y, orientation))
    return np.clip(np.mean(outs, axis=0), 0.0, 1.0)


BACKENDS = [b for b in ("openvino", "onnxruntime") if runtime.installed(b)]


@pytest.mark.parametrize("backend", ["torch", *BACKENDS])
def test_denoise_ensemble_is_the_mean_of_its_turned_outputs_in_pytorch_and_the_compiled_runtimes(
    backend: str,
) -> None:
    """Through an inference runtime the turns compile with the net: one compiled model per count of copies,
    none fallen back to PyTorch, reused for every frame a fix streams; the same result as PyTorch's."""
    head = get_head("denoise")
    net = _acting_denoise_net()
    img = np.random.default_rng(1).random((96, 120, 3), dtype=np.float32)
    runtime.clear_cache()
    with runtime.using(backend=backend, min_pixels=96 * 120, threads=1):
        plain = head.denoise(net, img)  # type: ignore[attr-defined]
        for count in (2, 4, 8):
            out = head.denoise(net, img, ensemble=count)  # type: ignore[attr-defined]
            assert np.abs(out - _turned_mean(net, img, count)).max() < 1e-4, count
            assert np.abs(out - plain).max() > 1e-3, count
        streamed = [o for _, o in head.apply(net, [(3, img), (4, img), (5, img)], {"ensemble": 2})]
        compiled = list(runtime._cache.values())
    assert all(np.abs(o - _turned_mean(net, img, 2)).max() < 1e-4 for o in streamed)
    if backend != "torch":
        assert len(compiled) == 4 and None not in compiled  # 1, 2, 4 and 8 copies, each compiled once


def test_a_denoise_ensemble_it_cannot_run_is_refused_in_one_line() -> None:
    head = get_head("denoise")
    net = _acting_denoise_net()
    img = np.zeros((16, 16, 3), np.float32)
    for wrong in (3, "2", 1.5):
        with pytest.raises(HeadError, match=f"denoise ensemble={wrong} must be one of 1, 2, 4, 8"):
            next(iter(head.apply(net, [(0, img)], {"ensemble": wrong})))
