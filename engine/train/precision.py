"""Which arithmetic a head's training steps run in: mixed precision where the hardware makes it pay.

On CUDA every head trains under fp16 autocast (engine.infer.run.autocast_for; a gradient scaler where the GPU
has no bf16). On a CPU, a head that says it holds its quality in bfloat16 (`Head.cpu_bf16`) trains under
bfloat16 autocast when the setting asks for it (TrainSettings.cpu_bf16): "auto" only where the CPU has AMX
tiles for bfloat16 (`amx_bf16`: Intel Xeon from Sapphire Rapids on, Linux's `amx_bf16` flag), where oneDNN
runs the convolutions on them: the upscale net's training step took 1.8-2.2x fewer seconds there
(docs/benchmarks.md); "on" everywhere (bfloat16 without AMX is emulated and slower: for tests, not speed);
"off" never. The weights, the optimiser and the loss stay float32: autocast casts each convolution's inputs
to bfloat16 and the head's output back up where it meets float32 (upscale: its bicubic base).
"""

from __future__ import annotations

import functools
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any, Literal

import torch

from engine.heads import Head
from engine.infer.run import autocast_for

CpuBf16 = Literal["auto", "on", "off"]
CPUINFO = Path("/proc/cpuinfo")


@functools.cache
def amx_bf16(cpuinfo: Path = CPUINFO) -> bool:
    """Whether this machine's CPU has AMX tiles for bfloat16 (Linux: the `amx_bf16` flag; elsewhere False)."""
    try:
        text = cpuinfo.read_text(errors="replace")
    except OSError:
        return False
    flags = next(
        (line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), []
    )
    return "amx_bf16" in flags


def cpu_bf16_for(head: Head, setting: CpuBf16) -> bool:
    """Whether `head` trains under bfloat16 autocast on this machine's CPU."""
    if not head.cpu_bf16 or setting == "off":
        return False
    return setting == "on" or amx_bf16()


def train_autocast(device: torch.device, bf16: bool) -> AbstractContextManager[Any]:
    """The autocast a training step runs under: fp16 on CUDA, bfloat16 on a CPU when `bf16`, else none."""
    if device.type == "cpu":
        return torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else nullcontext()
    return autocast_for(device)
