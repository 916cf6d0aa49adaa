"""The regrade head's no-reference part: the inverse of a grade error, fitted to the show's learned look.

With no reference to match, a frame can only be brought back to the show's look by knowing what the show's
frames normally look like. The grade errors regrade trains on (engine.degrade.regrade and
engine.degrade.production.apply_grade) belong to one five-number family, applied per channel:

    linear = display ** 2.2 * 2**exposure * gain_c;  display' = clip(linear) ** (1/2.2)
    out = clip((display' ** gamma - 0.5) * contrast + 0.5)

so away from clipped values the error is invertible: undo the contrast, the gamma, then divide the linear
light by the exposure and the white-balance gains. `InverseGrade` predicts the five numbers
(exposure stops, log2 red and blue gains over green, log gamma, log contrast) in two parts:

1. The fit to the show's look (`fit_to_look`). The look is learned from the show's own ungraded frames
   (`InverseGrade.learn_look`, a running mean of `look_stats` over the latest LOOK_MEMORY thumbnails, so
   a show grown from a base soon has its own): the black and white points of the display luminance
   (0.5 / 99.5 % quantiles), the grey-world and white-patch colour ratios, and the median. A graded frame
   gets the five numbers whose inverse brings its statistics closest to the look, each statistic weighed
   by how much it varies between scenes (LOOK_SPREAD), with a prior that the error is small: a MAP
   estimate. The black and white points and the colour ratios hold between scenes within 0.03-0.2; the
   mean brightness does not (the two held-out clips of bench/learned_parts.py are 1.2 stops darker than
   the five training ones), so a fit of the mean, or an MLP that learns the training scenes' brightness,
   moves unseen scenes the wrong way (fit with the mean: -3.6 dB; MLP alone: -2.4 to +3.0 by seed).
2. A learned correction: a one-hidden-layer MLP on robust whole-frame statistics (`global_features`),
   its last layer zero at the start, trained on thumbnails of the show's frames under random grade errors
   whose numbers are known (`grade_vector`): an L1 loss between the un-graded thumbnail and the original,
   plus a small loss on the numbers themselves.

A fresh one has no look and predicts no error: `curve_lut` is then the identity LUT (to float precision).
What it cannot do: bring back highlights that clipped, or tell a dark scene from an under-exposed one
beyond what the black and white points say.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from engine.degrade import GAMMA
from engine.degrade.production import Grade

PARAMS = 5  # exposure stops, log2 red gain, log2 blue gain, log gamma, log contrast
# Spread of each number under the training grades (degrade.production.production_grade), so the
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


# The show's look (`look_stats`): display-luminance black point, median and white point (0.5/50/99.5 %
# quantiles), the grey-world log2 red/green and blue/green ratios of the linear means, and the white-patch
# log2 red/green and blue/green ratios of each channel's 99.5 % quantile.
LOOK_STATS = 7
# How far each statistic of the look may stray between the scenes of one show, in its own unit. Measured
# on the five training clips of bench/learned_parts.py: the black and white points and both colour ratios
# hold within 0.03-0.2 between scenes; the median does not (0.3 to 0.8 between scenes), so it barely counts.
LOOK_SPREAD = (0.05, 2.0, 0.05, 0.15, 0.15, 0.15, 0.15)
LOOK_PRIOR = 3.0  # weight of the prior that the error is small (the five numbers in units of PARAM_SCALE)
LOOK_MEMORY = 4000  # thumbnails: the look follows the latest this many (a show's dailies replace its base's)
LOOK_ITERATIONS = 6  # Levenberg-Marquardt steps
LOOK_SIDE = 32
STEP = 0.05  # forward-difference step, in units of PARAM_SCALE
DAMPING = 0.1
QUANTILES = (0.005, 0.5, 0.995)


def look_stats(thumb: torch.Tensor) -> torch.Tensor:
    """The look's statistics (module comment above) of thumbnails (N,3,h,w) 0..1 -> (N, LOOK_STATS), on
    LOOK_SIDE-pixel thumbnails (quantiles are sorts: four times cheaper than at 64)."""
    x = nn.functional.adaptive_avg_pool2d(thumb, LOOK_SIDE).clamp(0, 1)
    means = (x.clamp(min=EPS) ** GAMMA).flatten(2).mean(2) + EPS
    tones = quantiles(x.mean(1).flatten(1), QUANTILES)
    whites = quantiles(x.flatten(2), QUANTILES[-1:])[..., 0] + 1e-3
    ratios = [means[:, 0] / means[:, 1], means[:, 2] / means[:, 1], whites[:, 0] / whites[:, 1]]
    ratios.append(whites[:, 2] / whites[:, 1])
    return torch.cat([tones, torch.log2(torch.stack(ratios, 1))], 1)


def quantiles(values: torch.Tensor, levels: Sequence[float]) -> torch.Tensor:
    """torch.quantile(values, levels, dim=-1) (linear interpolation), the levels on a new last dimension, by
    selection instead of a sort of every row: the values nearest the end a level is near (topk), or the two
    order statistics around it (kthvalue). Six times faster on a thumbnail's 1,024 values; `fit_to_look` takes
    them over a hundred times a training step of regrade, where torch.quantile's sorts were half its time."""
    n = values.shape[-1]
    found = []
    for level in levels:
        pos = level * (n - 1)
        lo = int(pos)
        hi = min(lo + 1, n - 1)
        if hi < NEAR_END:  # the hi + 1 smallest, ascending
            smallest = values.topk(hi + 1, dim=-1, largest=False).values
            a, b = smallest[..., lo], smallest[..., hi]
        elif n - 1 - lo < NEAR_END:  # the n - lo largest, descending
            largest = values.topk(n - lo, dim=-1).values
            a, b = largest[..., n - 1 - lo], largest[..., n - 1 - hi]
        else:
            a = values.kthvalue(lo + 1, dim=-1).values
            b = values.kthvalue(hi + 1, dim=-1).values if hi != lo else a
        found.append(a + (b - a) * (pos - lo))
    return torch.stack(found, -1)


NEAR_END = 64  # a level within this many values of an end is read with topk


def fit_to_look(thumb: torch.Tensor, look: torch.Tensor) -> torch.Tensor:
    """The five numbers (N,5) whose inverse brings thumbnails (N,3,h,w) closest to the show's `look`
    (LOOK_STATS,): a MAP fit of the statistics' errors weighed by LOOK_SPREAD with a Gaussian prior on the
    numbers (PARAM_SCALE wide, LOOK_PRIOR strong), by Levenberg-Marquardt steps on forward differences
    (the quantiles are not smooth enough for exact gradients to help; a step that clips the white point can
    overshoot, so a step is kept only where it lowers the cost). Each thumbnail is fitted on its
    own; no gradient flows through the fit, and it runs in float32 under any autocast (a GPU's training
    autocast would make the normal equations' products bfloat16, which torch.linalg.solve refuses)."""
    scale = torch.tensor(PARAM_SCALE, dtype=torch.float32, device=thumb.device)
    spread = torch.tensor(LOOK_SPREAD, dtype=torch.float32, device=thumb.device)
    x = thumb.detach().float()
    target = look.detach().float().to(x.device)
    n = len(x)
    prior = LOOK_PRIOR**0.5
    eye = torch.eye(PARAMS, device=x.device)

    def residual(p: torch.Tensor, frames: torch.Tensor) -> torch.Tensor:
        misfit = (look_stats(invert(frames, p * scale)) - target) / spread
        return torch.cat([misfit, prior * p], 1)

    p = torch.zeros(n, PARAMS, device=x.device)
    damping = torch.full((n, 1, 1), DAMPING, device=x.device)
    with torch.no_grad(), torch.autocast(x.device.type, enabled=False):
        r0 = residual(p, x)
        for _ in range(LOOK_ITERATIONS):
            shifted = torch.cat([p + STEP * eye[k] for k in range(PARAMS)])
            r = residual(shifted, x.repeat(PARAMS, 1, 1, 1)).view(PARAMS, n, -1)
            jac = ((r - r0) / STEP).permute(1, 2, 0)  # (N, residuals, PARAMS)
            normal = jac.transpose(1, 2) @ jac + damping * eye
            step = torch.linalg.solve(normal, jac.transpose(1, 2) @ r0.unsqueeze(2)).squeeze(2)
            tried = residual(p - step, x)
            better = (tried**2).sum(1) < (r0**2).sum(1)  # Levenberg-Marquardt: keep a step only if it helps
            p = torch.where(better[:, None], p - step, p)
            r0 = torch.where(better[:, None], tried, r0)
            damping = torch.where(better[:, None, None], damping / 3, damping * 4)
    return (p * scale).to(thumb.dtype)


class InverseGrade(nn.Module):
    """Thumbnails -> the five numbers of the grade error: the fit to the show's look (`fit_to_look`, once
    the look has been learned from its frames by `learn_look`) plus a learned correction from global
    statistics (an MLP whose last layer starts at zero). A fresh one predicts no error."""

    look: torch.Tensor
    look_seen: torch.Tensor

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
        self.register_buffer("look", torch.zeros(LOOK_STATS))
        self.register_buffer("look_seen", torch.zeros(()))  # thumbnails the look was learned from (capped)

    def _load_from_state_dict(self, state_dict: dict[str, Any], prefix: str, *args: Any) -> None:
        # A version saved before the look was learned has none: it loads with no look (the MLP alone).
        for name in ("look", "look_seen"):
            state_dict.setdefault(prefix + name, torch.zeros_like(getattr(self, name)))
        super()._load_from_state_dict(state_dict, prefix, *args)

    @torch.no_grad()
    def learn_look(self, clean: torch.Tensor) -> None:
        """Move the look towards the statistics of the show's own (ungraded) thumbnails (N,3,h,w): a running
        mean over the latest LOOK_MEMORY thumbnails."""
        seen = float(self.look_seen)
        rate = len(clean) / min(seen + len(clean), LOOK_MEMORY)
        look = self.look
        look += rate * (look_stats(clean.float()).mean(0).to(look.dtype) - look)
        self.look_seen.fill_(min(seen + len(clean), LOOK_MEMORY))

    def forward(self, thumb: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.mlp(global_features(thumb)) * torch.as_tensor(self.scale)
        if float(self.look_seen) > 0:
            out = out + fit_to_look(thumb, torch.as_tensor(self.look))
        return out


def inverse_loss(
    predicted: torch.Tensor, graded: torch.Tensor, clean: torch.Tensor, truth: torch.Tensor
) -> torch.Tensor:
    """L1 of the un-graded thumbnails against the originals, plus the scaled error of the five numbers."""
    scale = torch.tensor(PARAM_SCALE, device=predicted.device, dtype=predicted.dtype)
    pixels = (invert(graded, predicted) - clean).abs().mean()
    numbers = (((predicted - truth) / scale) ** 2).mean()
    return pixels + 0.02 * numbers
