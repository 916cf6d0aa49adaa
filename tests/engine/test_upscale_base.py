"""Upscale at inference: the net's correction over OpenCV's bicubic of the whole frame is the training
graph's output (forward(): F.interpolate + net), through PyTorch and through the exported runtime."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from engine import synth
from engine.baselines.restore import downscale
from engine.heads import get_head
from engine.infer import runtime
from engine.infer.tiling import TileSpec, image_to_tensor, tensor_to_image
from engine.model import Manifest, ModelError, ShowModel, load_model, save_model
from tests.engine.upscale_nets import acting_upscale_net

BACKENDS = ["torch"] + [b for b in ("openvino", "onnxruntime") if runtime.installed(b)]


@pytest.mark.parametrize("backend", BACKENDS)
def test_upscale_gives_the_training_graphs_output_on_the_whole_frame(backend: str) -> None:
    head = get_head("upscale")
    net = acting_upscale_net()
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


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("unshuffle", [1, 2])
def test_odd_sized_frames_and_many_tiles_give_the_training_graphs_output(
    backend: str, unshuffle: int
) -> None:
    """A net that folds 2x2 pixels first pads an odd-sized frame (edges repeated) and crops back as
    forward() does; a frame cut into several runtime tiles (at even offsets) blends to the same image."""
    head = get_head("upscale")
    net = acting_upscale_net(unshuffle)
    hr = synth.camera_move(synth.photo("coffee"), 1, (1300, 1122))[0]
    lr = np.ascontiguousarray(downscale(hr)[:, :649])  # 561 x 649: odd both ways, two tiles a side
    with torch.no_grad():
        expected = np.clip(tensor_to_image(head.forward(net, image_to_tensor(lr))), 0, 1)  # type: ignore[attr-defined]
    runtime.clear_cache()
    with runtime.using(backend=backend, min_pixels=0, threads=1):
        out = head.upscale(net, lr, TileSpec(tile=320))  # type: ignore[attr-defined]
    assert out.shape == (2 * 561, 2 * 649, 3) == expected.shape
    assert np.abs(out - expected).max() < runtime.TOLERANCE


@pytest.mark.parametrize("unshuffle", [1, 2])
def test_a_fresh_upscale_net_is_exactly_the_bicubic_base(unshuffle: int) -> None:
    head = get_head("upscale")
    net = head.build({**head.default_config(), "unshuffle": unshuffle})
    lr = downscale(synth.camera_move(synth.photo("astronaut"), 1, (250, 162))[0])  # 125 x 81
    bicubic = np.clip(cv2.resize(lr, (2 * lr.shape[1], 2 * lr.shape[0]), interpolation=cv2.INTER_CUBIC), 0, 1)
    assert np.array_equal(head.upscale(net, lr), bicubic)  # type: ignore[attr-defined]


def test_versions_saved_before_the_fold_setting_existed_still_load_with_their_weights(tmp_path: Path) -> None:
    """The net's shape is in the version's config: one saved before `unshuffle` existed loads as the
    unfolded net it is, and a folded version loads folded; weights that fit neither say `rushes train`."""
    torch.manual_seed(5)
    old = ShowModel.fresh(["upscale"])
    for p in old.net("upscale").parameters():
        torch.nn.init.normal_(p, std=0.02)
    del old.configs["upscale"]["unshuffle"]  # as manifests stored it before
    save_model(tmp_path / "v1", old, Manifest(show="demo", version="v1"))
    loaded = load_model(tmp_path / "v1").model.net("upscale")
    for a, b in zip(loaded.state_dict().values(), old.net("upscale").state_dict().values(), strict=True):
        assert torch.equal(a, b)
    folded = ShowModel.fresh(["upscale"], {"upscale": {"unshuffle": 2}})
    save_model(tmp_path / "v2", folded, Manifest(show="demo", version="v2"))
    assert load_model(tmp_path / "v2").model.net("upscale").unshuffle == 2
    folded.configs["upscale"]["unshuffle"] = 1  # a config that does not describe its weights
    save_model(tmp_path / "v3", folded, Manifest(show="demo", version="v3"))
    with pytest.raises(ModelError, match="rushes train") as refused:
        load_model(tmp_path / "v3")
    assert "\n" not in str(refused.value)
