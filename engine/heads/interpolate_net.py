"""The interpolate head's learned part: a blend-weight and residual refiner over the flow path, fed with
occlusion evidence.

Input: the flow path's parts stacked as (N, 17, H, W) (engine.heads.interpolate._stack_parts): its blended
frame, both warped frames, both visibilities, and the occlusion cues of flow.Parts for each side: the
forward-backward error of the flow at the source pixel each warp samples, that pixel's colour error against
the other outer frame, and the length of the reversed flow. The flow path blends the two warped frames by a
weight m0 that follows their visibilities, which at real footage's scale carry no usable occlusion cue (the
visibility-weighted blend scores as the plain average, docs/benchmarks.md). Where it goes wrong is mostly a
choice between the two warped frames (a region hidden in frame 1 taken half from frame 1), one number per
pixel, and the cues say it: a pixel of frame 0 hidden in frame 1 fails the forward-backward check and
mismatches in colour there. The refiner predicts a new blend weight m as a correction of m0 in logit space,
plus a small colour residual, and returns the change to the flow path's frame:

    delta = (m - m0) * (warped0 - warped1) + residual_scale * residual

Symmetric by construction: the conv stack runs on the parts and on the parts with the two outer frames
swapped (SWAP), and the two answers are combined so that swapping the outer frames swaps the weight
(logit (a - b) / 2) and keeps the residual ((a + b) / 2); no preference for one side can be learned from a
show whose motion runs mostly one way. Its last conv starts at zero: a fresh refiner changes nothing (the
flow path exactly, m = m0).

Versions trained before the cues (14 input features) still load: their first conv gets zero weights for the
cue features and they run one-sided as they were trained (the `symmetric` buffer, 0 for them), so they
compute what they computed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from engine.nets import ResidualCNN

# The input's channels with the two outer frames swapped: the same interpolation seen from the other side.
SWAP = [0, 1, 2, 6, 7, 8, 3, 4, 5, 10, 9, 12, 11, 14, 13, 16, 15]
OLD_FEATURES = 14  # blend 3, warped0 - blend 3, warped1 - blend 3, |warped0 - warped1| 3, vis0, vis1
FEATURES = 20  # ... + log(1 + fb error) 2, photometric error 2, log(1 + motion) 2
DIFF_GAIN = 4.0  # differences between the warped frames are small; scale them towards unit range
# Small output gains: Adam moves every weight of the zero-started last conv by about the learning rate on
# its first steps, which with gains of 4 and 0.25 cost 2.5 dB after one step (bench/learned_parts.py).
MASK_GAIN = 1.0  # how far one unit of the mask output moves the blend weight's logit
RESIDUAL_SCALE = 0.05
FIRST_CONV = "body.body.0.weight"


def features(x: torch.Tensor) -> torch.Tensor:
    """(N, 17, H, W) stacked parts -> (N, FEATURES, H, W) in about unit range."""
    blend, w0, w1 = x[:, :3], x[:, 3:6], x[:, 6:9]
    vis, fb, photo, motion = x[:, 9:11], x[:, 11:13], x[:, 13:15], x[:, 15:17]
    return torch.cat(
        [
            blend - 0.5,
            (w0 - blend) * DIFF_GAIN,
            (w1 - blend) * DIFF_GAIN,
            (w0 - w1).abs() * DIFF_GAIN,
            vis,
            torch.log1p(fb.clamp(min=0)),
            photo * DIFF_GAIN,
            torch.log1p(motion.clamp(min=0)),
        ],
        1,
    )


class InterpolateRefiner(nn.Module):
    """(N, 17, H, W) flow-path parts -> (N, 3, H, W) change to add to the blended frame."""

    symmetric: torch.Tensor

    def __init__(self, channels: int = 32, depth: int = 6) -> None:
        super().__init__()
        dilations = [1, 2, 4, 2, 1, 1, 1, 1][: depth - 1]
        dilations += [1] * (depth - 1 - len(dilations))
        self.body = ResidualCNN(FEATURES, 4, channels=channels, depth=depth, dilations=dilations)
        self.register_buffer("symmetric", torch.ones(()))
        self._symmetric = True

    def load_state_dict(
        self, state_dict: Mapping[str, Any], strict: bool = True, assign: bool = False
    ) -> Any:
        state = dict(state_dict)
        first = state.get(FIRST_CONV)
        if first is not None and first.shape[1] == OLD_FEATURES and "symmetric" not in state:
            # A version trained before the occlusion cues: zero weights for them, one-sided as trained.
            pad = first.new_zeros(first.shape[0], FEATURES - OLD_FEATURES, *first.shape[2:])
            state[FIRST_CONV] = torch.cat([first, pad], 1)
            state["symmetric"] = torch.zeros(())
        result = super().load_state_dict(state, strict=strict, assign=assign)
        self._symmetric = bool(self.symmetric.item() > 0.5)
        return result

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w0, w1, v0, v1 = x[:, 3:6], x[:, 6:9], x[:, 9:10], x[:, 10:11]
        n = x.shape[0]
        if self._symmetric:
            out = self.body(torch.cat([features(x), features(x[:, SWAP])], 0))
            logit = (out[:n, 3:4] - out[n:, 3:4]) / 2
            residual = (out[:n, :3] + out[n:, :3]) / 2
        else:
            out = self.body(features(x))
            logit, residual = out[:, 3:4], out[:, :3]
        m0 = (v0 / (v0 + v1 + 1e-6)).clamp(0.01, 0.99)
        m = torch.sigmoid(torch.log(m0 / (1 - m0)) + MASK_GAIN * logit)
        delta: torch.Tensor = (m - m0) * (w0 - w1) + RESIDUAL_SCALE * residual
        return delta
