"""Run a fully convolutional net over an image of any size in overlapping tiles with a feathered blend.

A 4K frame never needs a full-size activation map: only `batch` tiles of `tile` pixels are in flight.
Tiles at the frame's border see the frame's border exactly as an untiled run does; inside, each tile's
outer `overlap` pixels are faded out, so seams vanish as long as `overlap` exceeds the net's reach.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

TensorFn = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class TileSpec:
    tile: int = 256  # tile side in input pixels
    overlap: int = 24  # input pixels shared between neighbouring tiles
    batch: int = 4  # tiles per forward pass


def image_to_tensor(img: np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
    """H,W,C float32 -> 1,C,H,W."""
    arr = img if img.ndim == 3 else img[..., None]
    return torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1))).float().unsqueeze(0).to(device)


def tensor_to_image(t: torch.Tensor) -> np.ndarray:
    """1,C,H,W -> H,W,C float32."""
    return np.ascontiguousarray(t[0].detach().float().cpu().numpy().transpose(1, 2, 0))


def _starts(size: int, tile: int, overlap: int) -> list[int]:
    if size <= tile:
        return [0]
    step = tile - overlap
    starts = list(range(0, size - tile, step))
    starts.append(size - tile)
    return starts


def _ramp(length: int, lead: int, trail: int, fade: int) -> torch.Tensor:
    """1-D blend weight of a tile: fades over `fade` pixels on sides that border another tile."""
    w = torch.ones(length)
    if fade > 0:
        ramp = (torch.arange(fade, dtype=torch.float32) + 0.5) / fade
        if lead:
            w[:fade] = ramp
        if trail:
            w[length - fade :] = torch.flip(ramp, [0])
    return w


def run_tiled(fn: TensorFn, x: torch.Tensor, scale: int = 1, spec: TileSpec | None = None) -> torch.Tensor:
    """Apply `fn` (N,C,h,w -> N,C',h*scale,w*scale) to `x` (1,C,H,W) tile by tile; returns 1,C',H*s,W*s."""
    spec = spec or TileSpec()
    _, _, height, width = x.shape
    tile_h, tile_w = min(spec.tile, height), min(spec.tile, width)
    overlap = min(spec.overlap, tile_h // 2, tile_w // 2)
    if tile_h == height and tile_w == width:
        return fn(x)
    ys, xs = _starts(height, tile_h, overlap), _starts(width, tile_w, overlap)
    boxes = [(y, xx) for y in ys for xx in xs]
    out: torch.Tensor | None = None
    weight: torch.Tensor | None = None
    fade = overlap * scale // 2  # fade over the inner half of the overlap; the outer half is discarded
    for i in range(0, len(boxes), spec.batch):
        chunk = boxes[i : i + spec.batch]
        tiles = torch.cat([x[:, :, y : y + tile_h, xx : xx + tile_w] for y, xx in chunk])
        res = fn(tiles).float()
        if out is None:
            out = torch.zeros(1, res.shape[1], height * scale, width * scale, device=res.device)
            weight = torch.zeros(1, 1, height * scale, width * scale, device=res.device)
        assert weight is not None
        for k, (y, xx) in enumerate(chunk):
            th, tw = tile_h * scale, tile_w * scale
            keep = overlap * scale // 4  # pixels of each inner tile edge dropped outright
            top = keep if y > 0 else 0
            bottom = keep if y + tile_h < height else 0
            left = keep if xx > 0 else 0
            right = keep if xx + tile_w < width else 0
            wy = _ramp(th - top - bottom, top, bottom, fade).to(res.device)
            wx = _ramp(tw - left - right, left, right, fade).to(res.device)
            w2 = wy[:, None] * wx[None, :]
            oy, ox = y * scale + top, xx * scale + left
            region = res[k : k + 1, :, top : th - bottom, left : tw - right]
            out[:, :, oy : oy + region.shape[2], ox : ox + region.shape[3]] += region * w2
            weight[:, :, oy : oy + region.shape[2], ox : ox + region.shape[3]] += w2
    assert out is not None and weight is not None
    return out / weight.clamp_min(1e-8)
