"""The regrade head's no-reference part: predict the inverse of a grade error from global statistics.

With no reference to match, a frame can only be brought back to the show's look by knowing what the show's
frames normally look like. The grade errors regrade trains on (engine.degrade.regrade and
engine.production_degradations.apply_grade) belong to one five-number family, applied per channel:

    linear = display ** 2.2 * 2**exposure * gain_c;  display' = clip(linear) ** (1/2.2)
    out = clip((display' ** gamma - 0.5) * contrast + 0.5)

so away from clipped values the error is invertible: undo the contrast, the gamma, then divide the linear
light by the exposure and the white-balance gains. `InverseGrade` predicts the five numbers
(exposure stops, log2 red and blue gains over green, log gamma, log contrast) with a one-hidden-layer MLP
from what only the whole frame shows (`global_features`): per-channel mean in linear light, spread,
quantiles and the share of clipped pixels. Robust statistics only, on purpose: with histograms and a CNN
encoding of the thumbnail as well, it learned to recognise the few scenes of the training clips and got
worse on unseen ones (-0.3 dB after 200 steps; these features: +2.3 dB, bench numbers in
docs/benchmarks.md). Its last layer starts at zero, so a fresh one predicts no error and `curve_lut` is
the identity LUT (to float precision).

Trained on thumbnails of the show's frames under random grade errors whose numbers are known (`grade_vector`):
an L1 loss between the un-graded thumbnail and the original, plus a small loss on the numbers themselves,
which keeps exposure, gamma and contrast apart where the pixels alone barely tell them apart.
What it cannot do: bring back highlights that clipped, or tell a dark scene from an under-exposed one
beyond what the show's own frames taught it (the prior is the show's look).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from engine.production_degradations import GAMMA, Grade

PARAMS = 5  # exposure stops, log2 red gain, log2 blue gain, log gamma, log contrast
# Spread of each number under the training grades (production_degradations.production_grade), so the
# parameter loss weighs them alike.
PARAM_SCALE = (2.0, 0.6, 0.6, 0.35, 0.35)
EPS = 1e-4


def grade_vector(grade: Grade) -> np.ndarray:
    """The five numbers of a grade error (what InverseGrade predicts)."""
    wb = np.asarray(grade.white_balance, np.float64)
    wb = wb / wb[1]
    return np.array(
        [grade.exposure_stops, np.log2(wb[0]), np.log2(wb[2]), np.log(grade.gamma), np.log(grade.contrast)],
        np.float32,
    )


def global_features(thumb: torch.Tensor) -> torch.Tensor:
    """Robust whole-frame statistics of thumbnails (N,3,h,w) 0..1 -> (N, FEATURES), each near unit range:
    per channel the log2 mean in linear light, the shares clipped to white and to black, the display-space
    spread and 10/50/90 % quantiles; the log2 10/50/90 % quantiles of linear luminance."""
    flat = thumb.flatten(2).clamp(0, 1)
    linear = flat.clamp(min=EPS) ** GAMMA
    levels = torch.tensor([0.1, 0.5, 0.9], device=thumb.device, dtype=thumb.dtype)
    luminance = torch.quantile(linear.mean(1), levels, dim=1).T
    display = torch.quantile(flat, levels, dim=2).permute(1, 0, 2).flatten(1)
    parts = [
        torch.log2(linear.mean(2) + EPS) / 4,
        torch.log2(luminance + EPS) / 4,
        (flat > 254 / 255).to(flat.dtype).mean(2),
        (flat < 1 / 255).to(flat.dtype).mean(2),
        flat.std(2) * 4,
        display,
    ]
    return torch.cat(parts, 1)


FEATURES = 24


def invert(display: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
    """Undo the grade error `params` (N,5) on display values (N,3,...) 0..1; differentiable in both."""
    ones = (1,) * (display.dim() - 2)
    zero = torch.zeros_like(params[:, 0])
    gain_stops = (torch.stack([params[:, 1], zero, params[:, 2]], 1) + params[:, :1]).view(-1, 3, *ones)
    gamma = params[:, 3].exp().view(-1, 1, *ones)
    contrast = params[:, 4].exp().view(-1, 1, *ones)
    x = ((display - 0.5) / contrast + 0.5).clamp(0, 1)
    x = _power(x, 1 / gamma)
    # to linear light, divide by the gains, back to display: x * gain ** (-1 / GAMMA), clipped at white
    return (x * torch.pow(2.0, -gain_stops / GAMMA)).clamp(max=1)


def _power(x: torch.Tensor, exponent: torch.Tensor) -> torch.Tensor:
    """x ** exponent for x in 0..1, linear below EPS so that its gradients stay finite at black."""
    safe = x.clamp(min=EPS)
    return torch.where(x > EPS, safe**exponent, x * EPS ** (exponent - 1))


def curve_lut(params: torch.Tensor, identity: torch.Tensor) -> torch.Tensor:
    """The inverse as LUTs (N,S,S,S,3) over `identity` (S,S,S,3): each channel's curve on its own axis."""
    n = params.shape[0]
    grid = identity.permute(3, 0, 1, 2).unsqueeze(0).expand(n, -1, -1, -1, -1)  # (N,3,S,S,S)
    return invert(grid, params).permute(0, 2, 3, 4, 1)


class InverseGrade(nn.Module):
    """Global statistics of a thumbnail -> the five numbers of the grade error."""

    def __init__(self, hidden: int = 64) -> None:
        super().__init__()
        last = nn.Linear(hidden, PARAMS)
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)
        self.mlp = nn.Sequential(
            nn.Linear(FEATURES, hidden),
            nn.LeakyReLU(0.1, inplace=True),
            last,
        )
        self.register_buffer("scale", torch.tensor(PARAM_SCALE))

    def forward(self, thumb: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.mlp(global_features(thumb))
        return out * torch.as_tensor(self.scale)


def inverse_loss(
    predicted: torch.Tensor, graded: torch.Tensor, clean: torch.Tensor, truth: torch.Tensor
) -> torch.Tensor:
    """L1 of the un-graded thumbnails against the originals, plus the scaled error of the five numbers."""
    scale = torch.tensor(PARAM_SCALE, device=predicted.device, dtype=predicted.dtype)
    pixels = (invert(graded, predicted) - clean).abs().mean()
    numbers = (((predicted - truth) / scale) ** 2).mean()
    return pixels + 0.02 * numbers
