"""The exported inference runtimes give PyTorch's output; a missing runtime says what to do."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from engine import degrade, synth
from engine.heads import get_head
from engine.infer import runtime
from engine.metrics import psnr

BACKENDS = [b for b in ("openvino", "onnxruntime") if runtime.installed(b)]
QUICKEST = BACKENDS[-1]  # onnxruntime (the extra) compiles faster than openvino (the dependency)


def _trained_like(name: str) -> torch.nn.Module:
    """A head's net with random (non-zero) weights, so that the net really changes its output."""
    head = get_head(name)
    cfg = head.default_config()
    if "adapt" in cfg:  # inference alone: upscale's per-shot fine-tuning is tested in test_upscale_adapt.py
        cfg["adapt"] = 0
    net = head.build(cfg)
    torch.manual_seed(5)
    for p in net.parameters():
        torch.nn.init.normal_(p, std=0.03)
    return net.eval()


def _frames(size: tuple[int, int] = (96, 64)) -> np.ndarray:
    clean = synth.camera_move(synth.photo("astronaut"), 3, size)
    return np.asarray(degrade.add_noise(clean, 15 / 255, seed=2))


def _run(name: str, net: torch.nn.Module, frames: np.ndarray, backend: str) -> list[np.ndarray]:
    runtime.clear_cache()
    with runtime.using(backend=backend, min_pixels=0, threads=1):
        return [f for _, f in get_head(name).apply(net, list(enumerate(frames)), {"tile": 64})]


def test_openvino_is_installed_as_the_default_runtime() -> None:
    assert runtime.installed("openvino")
    assert runtime.resolve_backend("auto") == "openvino"


def test_openvino_is_used_without_its_telemetry_sending_anything_or_writing_to_the_home(
    tmp_path: Path,
) -> None:
    # `import openvino` used to fork a process sending a usage event to Google Analytics and write the user's
    # client id under ~/intel; a `rushes fix` once hung at its exit on that forked process
    script = (
        "from engine.infer import runtime; runtime._openvino().Core(); print(runtime._openvino().__version__)"
    )
    home = tmp_path / "home"
    home.mkdir()
    done = subprocess.run(
        [sys.executable, "-c", script],
        env={**os.environ, "HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0 and done.stdout.strip(), done.stderr
    assert list(home.iterdir()) == []  # no ~/intel/openvino_ga_cid, no ~/intel/stats


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", ["denoise", "upscale"])
def test_exported_runtime_gives_pytorchs_output_within_a_tenth_of_a_db(name: str, backend: str) -> None:
    net = _trained_like(name)
    frames = _frames()
    ours = _run(name, net, frames, backend)
    theirs = _run(name, net, frames, "torch")
    if name == "denoise":
        assert np.abs(theirs[1] - frames[1]).max() > 0.01  # the net really acts
    for a, b in zip(ours, theirs, strict=True):
        assert a.shape == b.shape
        assert np.abs(a - b).max() < runtime.TOLERANCE
    truth = frames[1] if name == "denoise" else np.repeat(np.repeat(frames[1], 2, 0), 2, 1)
    assert abs(psnr(ours[1], truth) - psnr(theirs[1], truth)) < 0.1


def test_a_runtime_asked_for_by_name_and_missing_is_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runtime, "installed", lambda backend: backend == "torch")
    with pytest.raises(runtime.RuntimeMissing) as err:
        runtime.resolve_backend("openvino")
    message = str(err.value)
    assert "pip install openvino" in message and "RUSHES_INFER_BACKEND" in message
    assert "\n" not in message


def test_auto_without_any_runtime_falls_back_to_pytorch_and_logs_it(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(runtime, "installed", lambda backend: backend == "torch")
    monkeypatch.setattr(runtime, "_warned", set())
    net = _trained_like("denoise")
    frames = _frames((64, 48))
    with caplog.at_level(logging.WARNING, logger="engine.infer.runtime"):
        out = _run("denoise", net, frames, "auto")
    assert "heads run in PyTorch" in caplog.text and "pip install openvino" in caplog.text
    assert np.abs(out[0] - _run("denoise", net, frames, "torch")[0]).max() == 0


def test_a_runtime_whose_output_differs_from_pytorch_is_not_used(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    real = runtime._COMPILERS[QUICKEST]

    def off_by_a_little(onnx: bytes, threads: int) -> runtime.ArrayFn:
        run = real(onnx, threads)
        return lambda x: run(x) + 0.01

    monkeypatch.setitem(runtime._COMPILERS, QUICKEST, off_by_a_little)
    monkeypatch.setattr(runtime, "_warned", set())
    net = _trained_like("denoise")
    frames = _frames((64, 48))
    with caplog.at_level(logging.WARNING, logger="engine.infer.runtime"):
        out = _run("denoise", net, frames, QUICKEST)
    assert "differs from PyTorch" in caplog.text
    assert np.abs(out[1] - _run("denoise", net, frames, "torch")[1]).max() == 0


def test_a_net_changed_in_place_is_exported_again() -> None:
    net = _trained_like("denoise")
    frames = _frames((64, 48))
    with runtime.using(backend=QUICKEST, min_pixels=0, threads=1):
        head = get_head("denoise")
        before = [f for _, f in head.apply(net, list(enumerate(frames)))]
        with torch.no_grad():
            for p in net.parameters():
                p.mul_(0.5)  # what an optimizer step does: same tensors, new values
        after = [f for _, f in head.apply(net, list(enumerate(frames)))]
    expected = _run("denoise", net, frames, "torch")
    assert np.abs(after[1] - expected[1]).max() < runtime.TOLERANCE
    assert np.abs(after[1] - before[1]).max() > 10 * runtime.TOLERANCE


def test_threads_follow_the_machines_load() -> None:
    with runtime.using(threads=None):
        assert runtime.choose_threads(cpu_count=2, load=0.2) == 2
        assert runtime.choose_threads(cpu_count=2, load=1.4) == 1
        assert runtime.choose_threads(cpu_count=2, load=9.0) == 1
        assert runtime.choose_threads(cpu_count=16, load=4.0) == 12
    with runtime.using(threads=3):
        assert runtime.choose_threads(cpu_count=2, load=9.0) == 3


def test_an_unknown_backend_or_device_is_one_clear_error() -> None:
    with pytest.raises(runtime.InferenceSettingError, match=r"RUSHES_INFER_BACKEND.*use one of"):
        runtime.resolve_backend("tensorrt")
    with pytest.raises(runtime.InferenceSettingError, match=r"RUSHES_INFER_DEVICE.*cpu, cuda or auto"):
        runtime.inference_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(runtime.RuntimeMissing, match="no CUDA GPU"):
            runtime.inference_device("cuda")
    assert runtime.inference_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")


@pytest.mark.parametrize("backend", BACKENDS)
def test_denoise_through_the_channels_last_runtime_path_gives_pytorchs_output(backend: str) -> None:
    """Frames large enough for the runtime go to it channels-last, tiles cut from the aligned frames;
    the result is PyTorch's on the same frames (three tiles across, so the blend is exercised)."""
    from engine.infer.run import RUNTIME_TILE

    net = _trained_like("denoise")
    frames = _frames((RUNTIME_TILE * 2, 96))
    runtime.clear_cache()
    with runtime.using(backend=backend, min_pixels=0, threads=1):
        ours = get_head("denoise").denoise(net, list(frames), 1)
        assert any(k[-1] is True for k in runtime._cache)  # it did take the channels-last path
    with runtime.using(backend="torch"):
        theirs = get_head("denoise").denoise(net, list(frames), 1)
    assert np.abs(theirs - frames[1]).max() > 0.01  # the net really acts
    assert np.abs(ours - theirs).max() < runtime.TOLERANCE


def test_compiled_runtimes_take_every_core_whatever_the_load_unless_told(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(runtime.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(runtime.os, "getloadavg", lambda: (19.0, 17.0, 15.0))
    with runtime.using(threads=None):
        assert runtime.choose_threads() == 1  # PyTorch and OpenCV: what the load leaves
        assert runtime.runtime_threads() == 2  # OpenVINO / ONNX Runtime: every core
    with runtime.using(threads=1):
        assert runtime.runtime_threads() == 1
