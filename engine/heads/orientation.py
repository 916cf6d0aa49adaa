"""Self-ensembles: a net run on turned copies of its input, each output turned back, the outputs averaged.

A head's net trains on crops flipped and transposed at random (engine.heads.base.augment), so every turned
copy is an input it knows, and its errors on the copies are partly independent: their mean is a better
estimate at n times the net's cost. An ensemble of n takes the first n ORIENTATIONS. The half turn comes
second: of the pairs with the frame itself it gained the most in upscale's study (docs/benchmarks.md).

An orientation is (quarter turns counter-clockwise, mirrored left-right after turning). `turn`/`turn_back` work
on H,W[,C] arrays, `turn_tensor`/`turn_tensor_back` on N,C,H,W tensors (inside a net's forward, where the
inference runtime compiles them with it, so they are made of transposes and flips, which export to ONNX).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from engine.heads.errors import HeadError

Orientation = tuple[int, bool]
ORIENTATIONS: tuple[Orientation, ...] = (
    (0, False),
    (2, False),
    (1, False),
    (3, False),
    (0, True),
    (2, True),
    (1, True),
    (3, True),
)
ENSEMBLES = (1, 2, 4, 8)


def orientations(value: Any, head: str) -> int:
    """The `ensemble` parameter of `head` as a count of orientations: 1, 2, 4 or 8. A bool is what upscale
    fixes queued before the count carry: true meant all 8, false the net once."""
    if isinstance(value, bool):
        return len(ORIENTATIONS) if value else 1
    if not isinstance(value, int) or value not in ENSEMBLES:
        raise HeadError(f"{head} ensemble={value} must be one of {', '.join(map(str, ENSEMBLES))}")
    return value


def turn(img: np.ndarray, orientation: Orientation) -> np.ndarray:
    """H,W[,C] `img` turned by `orientation` (contiguous)."""
    turns, mirror = orientation
    moved = np.rot90(img, turns)
    return np.ascontiguousarray(moved[:, ::-1] if mirror else moved)


def turn_back(img: np.ndarray, orientation: Orientation) -> np.ndarray:
    """What `turn` of that orientation made, turned back (a view)."""
    turns, mirror = orientation
    return np.rot90(img[:, ::-1] if mirror else img, -turns)


def _rot90(x: torch.Tensor, turns: int) -> torch.Tensor:
    """torch.rot90 over the last two dims, from transposes and flips (the ONNX exporter has no rot90)."""
    turns %= 4
    if turns == 1:
        return torch.flip(x.transpose(2, 3), dims=(2,))
    if turns == 2:
        return torch.flip(x, dims=(2, 3))
    if turns == 3:
        return torch.flip(x.transpose(2, 3), dims=(3,))
    return x


def turn_tensor(x: torch.Tensor, orientation: Orientation) -> torch.Tensor:
    """N,C,H,W `x` turned by `orientation`, as `turn` turns an H,W,C array."""
    turns, mirror = orientation
    moved = _rot90(x, turns)
    return torch.flip(moved, dims=(3,)) if mirror else moved


def turn_tensor_back(x: torch.Tensor, orientation: Orientation) -> torch.Tensor:
    """What `turn_tensor` of that orientation made, turned back."""
    turns, mirror = orientation
    return _rot90(torch.flip(x, dims=(3,)) if mirror else x, -turns)
