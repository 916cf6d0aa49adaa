import subprocess
import sys

import numpy as np
import torch

from engine import synth
from engine.heads import get_head
from engine.infer import TileSpec, image_to_tensor, run_tiled, tensor_to_image
from engine.model import ShowModel


def _randomised(net: torch.nn.Module) -> torch.nn.Module:
    torch.manual_seed(3)
    for p in net.parameters():
        torch.nn.init.normal_(p, std=0.05)
    return net.eval()


def test_tiled_equals_untiled_at_scale_1_and_2() -> None:
    """Overlaps of about four times the net's reach (upscale folds 2x2 pixels: 14 input pixels) blend to
    the untiled image."""
    for name, scale, size, spec in (
        ("denoise", 1, (150, 110), TileSpec(tile=48, overlap=24, batch=3)),
        ("upscale", 2, (300, 220), TileSpec(tile=128, overlap=56, batch=3)),
    ):
        img = synth.camera_move(synth.photo("astronaut"), 1, size)[0]
        head = get_head(name)
        net = _randomised(head.build({**head.default_config(), "frames": 1}))  # tiling is per image
        fn = head.forward  # type: ignore[attr-defined]
        x = image_to_tensor(img)
        with torch.no_grad():
            whole = tensor_to_image(fn(net, x))
            tiled = tensor_to_image(run_tiled(lambda t, fn=fn, net=net: fn(net, t), x, scale, spec))
        assert tiled.shape == whole.shape == (size[1] * scale, size[0] * scale, 3)
        assert np.abs(tiled - whole).max() < 2e-3, name


def test_apply_is_frame_exact_and_keeps_numbers() -> None:
    clip = synth.camera_move(synth.photo("coffee"), 5, (64, 48))
    model = ShowModel.fresh(["denoise", "upscale"])
    numbers = [1001, 1002, 1004, 1005, 1009]  # a gap: numbers are kept, not renumbered
    head = get_head("denoise")
    out = list(head.apply(model.net("denoise"), zip(numbers, clip, strict=True)))
    assert [n for n, _ in out] == numbers
    assert all(np.allclose(o, f, atol=1e-6) for (_, o), f in zip(out, clip, strict=True))  # fresh = no-op
    up = list(get_head("upscale").apply(model.net("upscale"), zip(numbers, clip, strict=True), {"tile": 32}))
    assert [n for n, _ in up] == numbers
    assert up[0][1].shape == (96, 128, 3)


def test_cleanup_streams_every_frame_and_leaves_unmasked_pixels() -> None:
    clip = synth.camera_move(synth.photo("chelsea"), 9, (96, 64), synth.CameraMove(pan=(0.6, 0.1)))
    mask = np.zeros((64, 96), bool)
    mask[20:40, 30:50] = True
    head = get_head("cleanup")
    net = head.build(head.default_config())
    out = list(head.apply(net, ((i + 10, f) for i, f in enumerate(clip)), {"masks": mask, "radius": 2}))
    assert [n for n, _ in out] == list(range(10, 19))
    for (_, o), f in zip(out, clip, strict=True):
        assert np.array_equal(o[~mask], f[~mask])
        assert not np.allclose(o[mask], f[mask])


def test_engine_infer_imports_on_its_own() -> None:
    """The heads import engine.infer and engine.infer imports no head at import time (no cycle)."""
    code = "import engine.infer, engine.model, engine.train; print('ok')"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


def test_channels_last_tiles_cut_from_parts_equal_the_tiled_stack() -> None:
    """run_tiled_parts (the runtime path: tiles cut straight from the aligned frames, channels last) blends
    exactly as run_tiled does on the concatenated NCHW image, at scale 1 and 2."""
    from engine.infer.tiling import run_tiled_parts

    parts = list(synth.camera_move(synth.photo("astronaut"), 3, (150, 110)))
    for name, scale, channels in (("denoise", 1, 9), ("upscale", 2, 3)):
        head = get_head(name)
        net = _randomised(head.build(head.default_config()))
        use = parts if channels == 9 else parts[:1]

        def fn(t: torch.Tensor, head=head, net=net) -> torch.Tensor:  # type: ignore[no-untyped-def]
            return head.forward(net, t)  # type: ignore[attr-defined]

        def channels_last(a: np.ndarray, fn=fn) -> np.ndarray:  # type: ignore[no-untyped-def]
            with torch.no_grad():
                return fn(torch.from_numpy(a).permute(0, 3, 1, 2)).permute(0, 2, 3, 1).numpy()

        spec = TileSpec(tile=48, overlap=24, batch=3)
        with torch.no_grad():
            nchw = tensor_to_image(run_tiled(fn, image_to_tensor(np.concatenate(use, 2)), scale, spec))
        ours = run_tiled_parts(channels_last, use, scale, spec)
        assert ours.shape == nchw.shape == (110 * scale, 150 * scale, 3)
        assert np.abs(ours - nchw).max() < 1e-5, name
