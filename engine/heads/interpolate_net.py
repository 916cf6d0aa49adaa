"""The interpolate head's learned part: a blend-mask and residual refiner over the flow path.

Input: the flow path's parts stacked as (N, 11, H, W): its blended frame, both warped frames and both
visibilities (engine.heads.interpolate.IN_CHANNELS). The flow path blends the two warped frames by a
weight m0 that follows their visibilities. Where it goes wrong is mostly a choice between the two warped
frames (an occluded region taken half from the frame that cannot see it, a ghost where the flows
disagree), which is one number per pixel: the refiner predicts a new blend weight m as a correction of
m0 in logit space, plus a small colour residual, and returns the change to the flow path's frame:

    delta = (m - m0) * (warped0 - warped1) + residual_scale * residual

The conv stack sees the warped frames as differences from the blend, scaled up (they are small where the
flows agree), and where they disagree, so the signal it learns from is not drowned by the image itself
(the plain residual CNN it replaces saw raw frames and learned nothing in the steps a CPU gives it). Its
last conv starts at zero: a fresh refiner changes nothing (the flow path exactly, m = m0).
"""

from __future__ import annotations

import torch
from torch import nn

from engine.nets import ResidualCNN

FEATURES = 14  # blend 3, warped0 - blend 3, warped1 - blend 3, |warped0 - warped1| 3, vis0, vis1
DIFF_GAIN = 4.0  # differences between the warped frames are small; scale them towards unit range
# Small output gains: Adam moves every weight of the zero-started last conv by about the learning rate on
# its first steps, which with gains of 4 and 0.25 cost 2.5 dB after one step (bench/learned_parts.py).
MASK_GAIN = 1.0  # how far one unit of the mask output moves the blend weight's logit
RESIDUAL_SCALE = 0.05


class InterpolateRefiner(nn.Module):
    """(N, 11, H, W) flow-path parts -> (N, 3, H, W) change to add to the blended frame."""

    def __init__(self, channels: int = 32, depth: int = 6) -> None:
        super().__init__()
        dilations = [1, 2, 4, 2, 1, 1, 1, 1][: depth - 1]
        dilations += [1] * (depth - 1 - len(dilations))
        self.body = ResidualCNN(FEATURES, 4, channels=channels, depth=depth, dilations=dilations)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        blend, w0, w1, v0, v1 = x[:, :3], x[:, 3:6], x[:, 6:9], x[:, 9:10], x[:, 10:11]
        diff = w0 - w1
        feats = torch.cat(
            [blend - 0.5, (w0 - blend) * DIFF_GAIN, (w1 - blend) * DIFF_GAIN, diff.abs() * DIFF_GAIN, v0, v1],
            1,
        )
        out = self.body(feats)
        m0 = (v0 / (v0 + v1 + 1e-6)).clamp(0.01, 0.99)
        m = torch.sigmoid(torch.log(m0 / (1 - m0)) + MASK_GAIN * out[:, 3:4])
        delta: torch.Tensor = (m - m0) * diff + RESIDUAL_SCALE * out[:, :3]
        return delta
