"""A running average of a head's weights over its steps (an exponential moving average), which the version
keeps instead of the last step's weights.

Why: where the last step stops decides much of what a net makes of footage it never saw. Three 1,200
CPU-second upscale runs of the same settings ended 0.56 dB apart on the unseen clips (+2.98 to +3.54 over the
best of Lanczos/bicubic); the running averages of four runs ended 0.04 dB apart (+3.35 to +3.39), and an
average was never worse than its own run's last step by more than 0.003 dB (docs/benchmarks.md, "Upscale: the
last step's luck, and a running average of the weights"). That is not a rule: with crops drawn for texture,
three runs' averages lay 0.19 dB apart and one lay 0.18 dB below its last step ("Upscale: training crops
drawn for texture"). Only the heads named in TrainSettings.weight_averages average (upscale, the one measured).

The average's decay ramps up over the first steps, min(decay, (1 + n) / (10 + n)) after n steps, so a short
run keeps mostly its later weights rather than its starting ones. torch's AveragedModel holds the average;
its state goes into the checkpoint (engine.train.checkpoint), so a resumed run averages as an unbroken one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
from torch.optim.swa_utils import AveragedModel


def _ramped(decay: float) -> Callable[[torch.Tensor, torch.Tensor, torch.Tensor | int], torch.Tensor]:
    def average(averaged: torch.Tensor, current: torch.Tensor, count: torch.Tensor | int) -> torch.Tensor:
        n = float(count)
        d = min(decay, (1.0 + n) / (10.0 + n))
        return averaged + (current - averaged) * (1.0 - d)

    return average


def weight_average(net: torch.nn.Module, decay: float) -> AveragedModel:
    """A running average of `net`'s parameters; `update_parameters(net)` after each step adds one."""
    return AveragedModel(net, avg_fn=_ramped(decay))


def copy_average(average: AveragedModel, net: torch.nn.Module) -> bool:
    """Put the averaged parameters into `net` (buffers untouched); False when no step was averaged."""
    if int(average.n_averaged) == 0:
        return False
    with torch.no_grad():
        for mine, averaged in zip(net.parameters(), average.module.parameters(), strict=True):
            mine.copy_(averaged)
    return True


def average_tensors(averages: Mapping[str, AveragedModel]) -> dict[str, torch.Tensor]:
    """The averages' state as flat tensors for a safetensors file, keyed "<head>.<name>"."""
    return {
        f"{head}.{key}": value.detach().contiguous()
        for head, average in averages.items()
        for key, value in average.state_dict().items()
    }


def load_averages(averages: Mapping[str, AveragedModel], tensors: Mapping[str, torch.Tensor]) -> None:
    """Restore each average whose state `tensors` holds (average_tensors' keys); others stay fresh."""
    for head, average in averages.items():
        prefix = f"{head}."
        state = {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
        if state:
            average.load_state_dict(state)
