"""Training arithmetic (engine.train.precision): bfloat16 autocast on a CPU only for the heads that opt in."""

from pathlib import Path

import numpy as np
import pytest
import torch

from engine import synth
from engine.heads import get_head
from engine.options import TrainOptions
from engine.train import TrainClip, TrainSettings, train
from engine.train.precision import cpu_bf16_for, native_bf16, needs_scaler, train_autocast, training_dtype


def test_native_bfloat16_is_read_from_the_cpus_flags(tmp_path: Path) -> None:
    cpus = {
        "amx": "fpu avx512f amx_bf16 amx_tile",  # Intel Xeon, Sapphire Rapids on
        "zen4": "fpu avx2 avx512f avx512_bf16",  # AMD EPYC, Zen 4 on: 1.8x the steps (docs/benchmarks.md)
        "plain": "fpu avx2 avx512f avx512bw",  # AVX-512 without bfloat16: emulated, slower
        "named": "fpu avx2 avx512_bf16x",  # a flag that only starts like one does not count
    }
    for name, flags in cpus.items():
        (tmp_path / name).write_text(f"processor\t: 0\nflags\t\t: {flags}\n\nprocessor\t: 1\n")
    assert native_bf16(tmp_path / "amx") is True
    assert native_bf16(tmp_path / "zen4") is True
    assert native_bf16(tmp_path / "plain") is False
    assert native_bf16(tmp_path / "named") is False
    assert native_bf16(tmp_path / "missing") is False  # not Linux


def test_only_heads_that_opt_in_train_in_bfloat16() -> None:
    upscale, regrade = get_head("upscale"), get_head("regrade")
    assert cpu_bf16_for(upscale, "on") and not cpu_bf16_for(upscale, "off")
    assert cpu_bf16_for(upscale, "auto") == native_bf16()
    assert not cpu_bf16_for(regrade, "on")  # not measured in bfloat16: float32 whatever the setting
    cpu = torch.device("cpu")
    assert training_dtype(cpu, True) == torch.bfloat16 and training_dtype(cpu, False) is None
    with train_autocast(cpu, torch.bfloat16):
        assert (
            torch.nn.functional.conv2d(torch.ones(1, 1, 4, 4), torch.ones(1, 1, 3, 3)).dtype == torch.bfloat16
        )
    with train_autocast(cpu, None):
        assert (
            torch.nn.functional.conv2d(torch.ones(1, 1, 4, 4), torch.ones(1, 1, 3, 3)).dtype == torch.float32
        )


def test_a_gpu_trains_in_bfloat16_or_in_float16_with_a_gradient_scaler() -> None:
    gpu = torch.device("cuda")
    with_bf16 = training_dtype(gpu, False, cuda_bf16=lambda: True)
    without = training_dtype(gpu, False, cuda_bf16=lambda: False)
    assert with_bf16 == torch.bfloat16 and not needs_scaler(with_bf16)
    assert without == torch.float16 and needs_scaler(without)  # float16 gradients underflow unscaled
    assert not needs_scaler(None) and not needs_scaler(training_dtype(torch.device("cpu"), True))


def _clips() -> list[TrainClip]:
    return [
        TrainClip(
            id=f"shot{i}", content_hash=f"h{i}", frames=synth.camera_move(synth.photo(n), 6, (96, 64), seed=i)
        )
        for i, n in enumerate(("astronaut", "coffee", "chelsea"))
    ]


@pytest.mark.parametrize("head", ["upscale", "denoise"])
def test_a_head_trained_in_bfloat16_scores_as_in_float32_and_saves_float32_weights(
    tmp_path: Path, head: str
) -> None:
    options = TrainOptions(budget_seconds=600, device="cpu", resolution=64, holdout_fraction=0.34)
    common = {"max_steps": 60, "batch_size": 4, "crop": 32, "cache_dir": tmp_path / "cache"}
    runs = {
        s: train(_clips(), options, tmp_path / s, heads=[head], settings=TrainSettings(cpu_bf16=s, **common))
        for s in ("off", "on")
    }
    fp32, tried = runs["off"], runs["on"]
    assert fp32.version is not None and tried.version is not None
    weights = tried.version.model.state_dict()
    assert all(w.dtype == torch.float32 for k, w in weights.items() if w.is_floating_point())
    # it trains as float32 does: the same loss at the end, the same held-out PSNR
    assert np.mean(tried.losses[head][-2:]) == pytest.approx(np.mean(fp32.losses[head][-2:]), rel=0.1)
    assert tried.metrics[head]["psnr"] == pytest.approx(fp32.metrics[head]["psnr"], abs=0.2)
    # bfloat16 really was used: other arithmetic, other weights
    assert not all(torch.equal(w, fp32.version.model.state_dict()[k]) for k, w in weights.items())
