"""Channels-last weights while a net trains: the same arithmetic, laid out for the CPU's convolutions.

PyTorch's CPU convolutions (oneDNN) run faster on NHWC activations than on NCHW: on one core a training step
of batch 8 on 64-pixel crops took 0.56x the time for interpolate, about 0.8x for denoise, cleanup and upscale,
and the same for regrade (`bench/train_layout.py`, docs/benchmarks.md). A convolution whose weight is channels-last
computes in that layout and hands it on, so converting the nets' 4-D weights is enough: the batches stay as
the heads make them. Only 4-D parameters are touched (the regrade head has others).

Guarantees: `channels_last(net)` restores the default layout on exit, so evaluation, checkpoints and the
saved version see the tensors as before; the values are the same tensors' values, moved, not changed (the
computed results differ from an NCHW run only by the order of floating-point sums). Saving a state dict still
makes every tensor contiguous (engine.train.checkpoint, engine.model.version), for a checkpoint taken mid-head.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch


@contextlib.contextmanager
def channels_last(net: torch.nn.Module) -> Iterator[torch.nn.Module]:
    """`net` with its 4-D parameters in channels-last order until the block ends."""
    params = [p for p in net.parameters() if p.dim() == 4]
    for p in params:
        p.data = p.data.contiguous(memory_format=torch.channels_last)
    try:
        yield net
    finally:
        for p in params:
            p.data = p.data.contiguous()
            if p.grad is not None:
                p.grad = p.grad.contiguous()
