"""Upscale's fast CPU paths. The detail gate: the net runs only on tiles with edges or texture, bicubic
elsewhere; where it runs, the output is the whole-frame output, and on footage with flat areas the gated
frame scores within a tenth of a dB of the ungated one. int8: the quantised net scores within a tenth of a
dB of the float one, and one that fails its check (or cannot be made) is refused with a log line."""

from __future__ import annotations

import logging

import cv2
import numpy as np
import pytest
import torch

from engine import synth
from engine.baselines.restore import downscale
from engine.heads import get_head, upscale_fast
from engine.infer import quantize, runtime
from engine.infer.quantize import QuantizeUnavailable
from engine.infer.sparse import SparseSpec, detail_score_map, detail_tiles
from engine.metrics import psnr
from tests.engine.upscale_nets import acting_upscale_net

BACKENDS = ["torch"] + [b for b in ("openvino", "onnxruntime") if runtime.installed(b)]


def _half_flat(size: tuple[int, int] = (640, 400)) -> np.ndarray:
    """A photo on the left half of the frame and a smooth sky-like gradient on the right half."""
    w, h = size
    frame = synth.camera_move(synth.photo("astronaut"), 1, size)[0].copy()
    ramp = np.linspace(0.55, 0.7, h, dtype=np.float32)[:, None, None]
    frame[:, w // 2 :] = ramp * np.array([0.8, 0.9, 1.0], np.float32)
    return frame


@pytest.mark.parametrize("backend", BACKENDS)
def test_gated_tiles_give_the_whole_frame_output_and_flat_tiles_keep_bicubic(backend: str) -> None:
    head = get_head("upscale")
    net = acting_upscale_net()
    lr = np.ascontiguousarray(downscale(_half_flat()))  # 320 x 200
    gate = SparseSpec(core=56, threshold=0.02, dense=2.0)  # gated however many tiles run
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
    net = acting_upscale_net()
    lr = np.ascontiguousarray(downscale(_half_flat((192, 128))))  # 96 x 64: under one 136-pixel window
    with runtime.using(backend="torch"):
        whole = head.upscale(net, lr)  # type: ignore[attr-defined]
        small = head.upscale(net, lr, gate=SparseSpec(threshold=0.5))  # type: ignore[attr-defined]
        off = next(iter(head.apply(net, [(1, lr)], {"detail": 0})))[1]
    assert np.abs(small - whole).max() < 1e-6 and np.abs(off - whole).max() < 1e-6


@pytest.fixture(scope="module")
def trained_net() -> torch.nn.Module:
    """A small upscale net fitted for a few seconds on crops of two photos (the head's own samples)."""
    frames = np.stack([_half_flat((320, 200)), synth.camera_move(synth.photo("coffee"), 1, (320, 200))[0]])
    head = get_head("upscale")
    torch.manual_seed(0)
    net = head.build({**head.default_config(), "channels": 16, "depth": 4})
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    rng = np.random.default_rng(0)
    for _ in range(60):
        ex = [head.sample(frames, rng, 48) for _ in range(8)]  # type: ignore[attr-defined]
        lr = torch.from_numpy(np.stack([e["lr"] for e in ex]))
        target = torch.from_numpy(np.stack([e["target"] for e in ex]))
        loss = head.loss(net, {"lr": lr, "target": target})
        opt.zero_grad()
        loss.backward()
        opt.step()
    return net.eval()


def test_a_trained_net_gated_on_a_half_flat_frame_scores_within_a_tenth_of_a_db_of_ungated(
    trained_net: torch.nn.Module,
) -> None:
    head = get_head("upscale")
    net = trained_net
    truth = _half_flat()
    lr = np.ascontiguousarray(downscale(truth))
    gate = SparseSpec(threshold=0.02, core=56, dense=2.0)
    _, skip = detail_tiles(lr, gate)
    assert len(skip) >= 8  # the sky is skipped
    with runtime.using(backend="torch"):
        whole = head.upscale(net, lr)  # type: ignore[attr-defined]
        gated = head.upscale(net, lr, gate=gate)  # type: ignore[attr-defined]
    b = np.s_[4:-4, 4:-4]
    assert psnr(whole[b], truth[b]) - psnr(gated[b], truth[b]) < 0.1


# int8: the quantised net is used only where it passes its check against PyTorch, else the float net runs.

needs_quantiser = pytest.mark.skipif(
    not runtime.installed("onnxruntime"), reason="int8 needs the onnxruntime extra (its quantiser)"
)


@needs_quantiser
@pytest.mark.parametrize("backend", ["auto", "onnxruntime"])
def test_the_int8_net_scores_within_a_tenth_of_a_db_of_the_float_net_and_auto_runs_it_on_openvino(
    trained_net: torch.nn.Module, caplog: pytest.LogCaptureFixture, backend: str
) -> None:
    head = get_head("upscale")
    truth = synth.camera_move(synth.photo("coffee"), 1, (640, 400), seed=3)[0]
    lr = np.ascontiguousarray(downscale(truth))
    runtime.clear_cache()
    with (
        runtime.using(backend=backend, min_pixels=0, threads=1),
        caplog.at_level(logging.INFO, "engine.infer.runtime"),
    ):
        float_out = head.upscale(trained_net, lr)  # type: ignore[attr-defined]
        int8_out = head.upscale(trained_net, lr, int8=True)  # type: ignore[attr-defined]
    chosen = "openvino" if backend == "auto" else backend
    assert f"int8 {chosen} (" in caplog.text and "ready" in caplog.text
    assert np.abs(int8_out - float_out).max() > 1e-5  # the int8 net ran, not the float one
    b = np.s_[4:-4, 4:-4]
    assert psnr(float_out[b], truth[b]) - psnr(int8_out[b], truth[b]) < 0.1


@needs_quantiser
def test_when_symmetric_int8_is_refused_the_asymmetric_net_is_tried_before_the_float_one(
    caplog: pytest.LogCaptureFixture,
) -> None:
    net = acting_upscale_net()
    frame = np.ascontiguousarray(downscale(_half_flat((256, 160))))
    outputs: list[np.ndarray] = []

    def second_only(candidate: runtime.ArrayFn) -> tuple[bool, str]:
        outputs.append(candidate(frame[None]))
        return len(outputs) == 2, f"candidate {len(outputs)}"

    runtime.clear_cache()
    with runtime.using(min_pixels=0, threads=1), caplog.at_level(logging.INFO, "engine.infer.runtime"):
        runner = runtime.quantized_array_fn(
            upscale_fast.runtime_forward(net), net, [frame[None]], second_only, schemes=upscale_fast.SCHEMES
        )
    assert upscale_fast.SCHEMES == ("symmetric", "asymmetric")
    assert runner is not None and np.array_equal(runner(frame[None]), outputs[1])
    assert np.abs(outputs[0] - outputs[1]).max() > 0  # two different int8 nets: the grids differ
    assert "(asymmetric) ready" in caplog.text and "refused" not in caplog.text


def test_int8_from_a_runtime_asked_for_by_name_and_missing_is_one_clear_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(runtime, "installed", lambda backend: backend == "torch")
    head = get_head("upscale")
    lr = np.ascontiguousarray(downscale(_half_flat((256, 160))))
    with runtime.using(backend="openvino", min_pixels=0), pytest.raises(runtime.RuntimeMissing) as err:
        head.upscale(acting_upscale_net(), lr, int8=True)  # type: ignore[attr-defined]
    assert "pip install openvino" in str(err.value) and "\n" not in str(err.value)


def test_the_nets_runtime_form_is_the_net_exactly() -> None:
    x = torch.rand(2, 3, 24, 40)
    for unshuffle in (1, 2):
        net = acting_upscale_net(unshuffle)
        with torch.no_grad():
            assert torch.equal(upscale_fast.runtime_forward(net)(x), net(x))
    plain = torch.nn.Sequential(torch.nn.Conv2d(3, 3, 3, padding=1))
    assert upscale_fast.runtime_forward(plain) is plain


def test_the_nets_runtime_form_is_compiled_once_for_every_frame() -> None:
    net = acting_upscale_net()
    example = np.random.default_rng(0).random((1, 64, 64, 3), np.float32)
    runtime.clear_cache()
    with runtime.using(backend=BACKENDS[-1], threads=1):
        first = runtime.compiled_array_fn(upscale_fast.runtime_forward(net), net, example)
        again = runtime.compiled_array_fn(upscale_fast.runtime_forward(net), net, example)
    assert first is not None and first is again


def _float_and_int8(net: torch.nn.Module) -> tuple[np.ndarray, np.ndarray]:
    """The head's float and int8 upscales of one flat half-size frame, from an empty runtime cache."""
    head = get_head("upscale")
    lr = np.ascontiguousarray(downscale(_half_flat()))
    runtime.clear_cache()
    with runtime.using(min_pixels=0, threads=1):
        float_out = head.upscale(net, lr)  # type: ignore[attr-defined]
        int8_out = head.upscale(net, lr, int8=True)  # type: ignore[attr-defined]
    return float_out, int8_out


def test_an_int8_net_that_fails_its_check_is_refused_with_one_log_line_and_the_float_net_runs(
    trained_net: torch.nn.Module, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(upscale_fast, "INT8_DB", -1.0)  # int8 would have to beat PyTorch by 1 dB
    with caplog.at_level(logging.INFO, "engine.infer.runtime"):
        float_out, int8_out = _float_and_int8(trained_net)
    assert np.array_equal(int8_out, float_out)
    if runtime.installed("onnxruntime"):
        assert "int8 openvino refused" in caplog.text or "int8 onnxruntime refused" in caplog.text
        assert "running the net in float" in caplog.text
    else:
        assert "pip install" in caplog.text


def test_without_the_quantiser_int8_falls_back_to_float_and_says_what_to_install(
    trained_net: torch.nn.Module, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    def missing(*args: object, **kwargs: object) -> bytes:
        raise QuantizeUnavailable("int8 inference needs ONNX Runtime's quantiser: pip install onnxruntime")

    monkeypatch.setattr(quantize, "quantize_onnx", missing)
    with caplog.at_level(logging.WARNING, "engine.infer.runtime"):
        float_out, int8_out = _float_and_int8(trained_net)
    assert np.array_equal(int8_out, float_out)
    assert "pip install onnxruntime" in caplog.text and "running it in float" in caplog.text


@needs_quantiser
def test_the_int8_net_compiled_per_frame_size_gives_the_any_size_output_in_a_new_array_per_frame() -> None:
    net = acting_upscale_net()
    frame = np.ascontiguousarray(downscale(_half_flat()))  # 320 x 200
    crop = np.ascontiguousarray(frame[:96, :136])
    module = runtime._Forward(upscale_fast.runtime_forward(net), net, channels_last=True).eval()
    onnx = runtime.export_onnx(module, torch.from_numpy(frame[None, :64, :64]), channels_last=True)
    int8 = quantize.quantize_onnx(onnx, upscale_fast._calibration(frame), scheme="symmetric")
    any_size = runtime._compile_openvino(int8, 1)
    per_size = runtime._StaticOpenVINO(int8, 1)
    first = per_size(frame[None])
    kept = first.copy()
    flipped = per_size(np.ascontiguousarray(frame[None, ::-1]))
    other = per_size(crop[None])
    assert first.shape == flipped.shape == (1, 400, 640, 3) and other.shape == (1, 192, 272, 3)
    assert np.array_equal(first, kept)  # a later frame of the same size leaves an earlier one alone
    assert np.abs(first).max() > 0.01 and not np.array_equal(first, flipped)  # the net acts on its input
    for x, got in ((frame, first), (crop, other)):
        assert np.abs(got - any_size(x[None])).max() < runtime.TOLERANCE


@needs_quantiser
def test_the_int8_net_keeps_exactly_the_named_convolutions_in_float() -> None:
    import onnx

    net = acting_upscale_net()
    frame = np.ascontiguousarray(downscale(_half_flat((256, 160))))
    module = runtime._Forward(upscale_fast.runtime_forward(net), net, channels_last=True).eval()
    graph = runtime.export_onnx(module, torch.from_numpy(frame[None, :64, :64]), channels_last=True)

    def float_convs(float_convs: tuple[str, ...]) -> list[bool]:
        int8 = onnx.load_from_string(quantize.quantize_onnx(graph, [frame[None]], "symmetric", float_convs))
        dequantised = {o for n in int8.graph.node if n.op_type == "DequantizeLinear" for o in n.output}
        return [n.input[1] not in dequantised for n in int8.graph.node if n.op_type == "Conv"]

    default = float_convs(quantize.FLOAT_CONVS)
    assert len(default) == 7 and default == float_convs(upscale_fast.FLOAT_CONVS)
    assert float_convs(("first", "last")) == [True] + [False] * 5 + [True]
    assert float_convs(("first",)) == [True] + [False] * 6
    with pytest.raises(ValueError, match="middle"):
        quantize.quantize_onnx(graph, [frame[None]], "symmetric", ("middle",))
