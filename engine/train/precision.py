"""Which arithmetic a head's training steps run in: mixed precision where the hardware makes it pay.

On CUDA every head trains under bfloat16 autocast, or float16 with a gradient scaler on a GPU without
bfloat16 (`training_dtype`, `needs_scaler`): gradients need bfloat16's range more than float16's three extra
bits, which fixes take (engine.infer.run.autocast_for).

On a CPU, a head measured to gain from it (`Head.cpu_bf16`: upscale, denoise) trains under bfloat16 autocast
as TrainSettings.cpu_bf16 says: "auto" only where the CPU computes bfloat16 natively (`native_bf16`: Linux's
`amx_bf16` flag, Intel Xeon from Sapphire Rapids on, or `avx512_bf16`, AMD from Zen 4 on and Intel Cooper
Lake), where oneDNN runs the convolutions in it: with AMX upscale took 1.7x the steps per CPU second (+0.18 dB
at equal CPU time, -0.08 at equal steps), denoise 1.8x (+0.3 to +0.6 dB at equal CPU time); with AVX-512
bfloat16 on an AMD EPYC, 1.8x for both (docs/benchmarks.md, "Upscale trained in bfloat16" and "bfloat16 on
AVX-512"). "on" everywhere (without either it is emulated and slower: for tests); "off" never. Weights,
optimiser and loss stay float32: autocast casts each convolution's inputs to bfloat16, and the head's output
meets float32 again in its loss (upscale: its bicubic base).

Bases train in float32 unless their settings say otherwise (`base_settings`, BASE_CPU_BF16): bfloat16 is a
short run's lever. Upscale bases trained in it scored lower on unseen clips than float32 ones on both
machines measured, although they took more steps (AMX: -0.08 dB at equal steps; AVX-512 on an AMD EPYC: -0.30
with 1.4x the steps of a 2,400 s base), while a 200 s show run in bfloat16 from a float32 base scored +0.05
over the same run in float32 (docs/benchmarks.md, "bfloat16 in a base, and in a show run").
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

import torch

from engine.heads import Head
from engine.train.settings import CpuBf16, TrainSettings

CPUINFO = Path("/proc/cpuinfo")


BASE_CPU_BF16: CpuBf16 = "off"  # a base's cpu_bf16 unless its settings set one (module docstring)
NATIVE_BF16_FLAGS = ("amx_bf16", "avx512_bf16")  # /proc/cpuinfo flags of bfloat16 arithmetic in hardware


@functools.cache
def native_bf16(cpuinfo: Path = CPUINFO) -> bool:
    """Whether this machine's CPU computes bfloat16 in hardware, with AMX tiles or AVX-512 dot products
    (Linux: its flags in /proc/cpuinfo; elsewhere False)."""
    try:
        text = cpuinfo.read_text(errors="replace")
    except OSError:
        return False
    flags = next(
        (line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), []
    )
    return any(f in flags for f in NATIVE_BF16_FLAGS)


def base_settings(settings: TrainSettings) -> TrainSettings:
    """`settings` for a base run: cpu_bf16 BASE_CPU_BF16 unless the caller set it."""
    if "cpu_bf16" in settings.model_fields_set:
        return settings
    return settings.model_copy(update={"cpu_bf16": BASE_CPU_BF16})


def cpu_bf16_for(head: Head, setting: CpuBf16) -> bool:
    """Whether `head` trains under bfloat16 autocast on this machine's CPU."""
    if not head.cpu_bf16 or setting == "off":
        return False
    return setting == "on" or native_bf16()


def training_dtype(
    device: torch.device, cpu_bf16: bool, cuda_bf16: Callable[[], bool] = torch.cuda.is_bf16_supported
) -> torch.dtype | None:
    """The autocast dtype of a training step on `device` (None: float32 throughout). `cpu_bf16`: whether the
    head trains in bfloat16 on this CPU (cpu_bf16_for); `cuda_bf16`: whether the GPU has bfloat16."""
    if device.type == "cuda":
        return torch.bfloat16 if cuda_bf16() else torch.float16
    if device.type == "cpu" and cpu_bf16:
        return torch.bfloat16
    return None


def needs_scaler(dtype: torch.dtype | None) -> bool:
    """float16 gradients underflow without loss scaling; bfloat16 has float32's range."""
    return dtype == torch.float16


def train_autocast(device: torch.device, dtype: torch.dtype | None) -> AbstractContextManager[Any]:
    """The autocast a training step runs under (`training_dtype`), or none."""
    return torch.autocast(device.type, dtype=dtype) if dtype is not None else nullcontext()
