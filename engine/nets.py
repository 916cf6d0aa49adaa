"""Small building blocks for the heads' nets."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


class ResidualCNN(nn.Module):
    """A plain conv stack predicting a residual over a classical base (the head adds the base).

    `unshuffle` > 1 folds the input into unshuffle**2 times the channels at 1/unshuffle the size first
    (FFDNet-style: cheaper, wider reach; inputs must be divisible by it).
    `shuffle` > 1 makes the last conv emit shuffle**2 times the channels and pixel-shuffles them, so the
    net runs at the input's resolution and outputs at `shuffle` times it (the upscale head).
    The last conv starts at zero: a fresh net is an exact no-op over its base.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int = 3,
        channels: int = 32,
        depth: int = 7,
        shuffle: int = 1,
        dilations: Sequence[int] | None = None,
        unshuffle: int = 1,
    ) -> None:
        super().__init__()
        dil = list(dilations) if dilations else [1] * (depth - 1)
        if len(dil) != depth - 1:
            raise ValueError(f"ResidualCNN needs {depth - 1} dilations for depth {depth}, got {len(dil)}")
        layers: list[nn.Module] = [nn.PixelUnshuffle(unshuffle)] if unshuffle > 1 else []
        c_in = in_channels * unshuffle * unshuffle
        for d in dil:
            conv = nn.Conv2d(c_in, channels, 3, padding=d, dilation=d)
            nn.init.kaiming_normal_(conv.weight, a=0.1, nonlinearity="leaky_relu")  # keeps signals alive
            if conv.bias is not None:
                nn.init.zeros_(conv.bias)
            layers += [conv, nn.LeakyReLU(0.1, inplace=True)]
            c_in = channels
        up = shuffle * unshuffle
        last = nn.Conv2d(c_in, out_channels * up * up, 3, padding=1)
        nn.init.zeros_(last.weight)
        if last.bias is not None:
            nn.init.zeros_(last.bias)
        layers.append(last)
        if up > 1:
            layers.append(nn.PixelShuffle(up))
        self.body = nn.Sequential(*layers)
        self.receptive_radius = (sum(dil) + 1) * unshuffle
        self.unshuffle = unshuffle

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.body(x)
        return out
