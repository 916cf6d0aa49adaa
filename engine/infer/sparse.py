"""Running a net only on the tiles of a frame that hold detail (edges, texture); zero elsewhere.

A super-resolution net's correction over its bicubic base is large at edges and texture and near zero on
flat areas (sky, walls, green screen), large in some plates (in the footage measured, almost every tile had
detail: the upscale head keeps this off by default, docs/benchmarks.md). `detail_tiles` scores
each tile of a grid of `SparseSpec.core` input pixels by the largest local gradient in its window (the core
plus `halo` pixels each side: everything the net sees): the per-pixel max of the absolute horizontal and
vertical steps of the luminance (Rec. 601 weights), averaged over 3x3 pixels (one noisy pixel does not make
a tile "detailed"), in 0..1 units. `run_on_tiles` runs the net on the tiles at or above the threshold,
`batch` windows per call, and writes each core's output into a zero image.

Guarantee: where a tile runs, its output is the net's output on the whole frame (up to the runtime's
rounding): each window holds its core plus at least `halo` >= the net's receptive radius pixels of the frame
on every side that is not the frame's own edge (windows at the frame's edges are shifted inwards, so the net
sees the frame's edge exactly where an untiled run does). Tiles below the threshold get 0, i.e. the bicubic
base alone; the quality this costs is measured in bench/upscale_gate_study.py. Windows start at multiples of
8 (or at the frame's far edge, padded to the net's fold by the caller), so nets that fold 2x2 or 4x4 pixels
into channels see the same blocks as an untiled run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

ArrayFn = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class SparseSpec:
    core: int = 120  # input pixels per tile side whose output is kept (a multiple of 8)
    halo: int = 8  # input pixels of context each side, at least the net's receptive radius
    batch: int = 8  # windows per call of the net
    threshold: float = 0.0  # the detail score (0..1) a tile needs to run; 0 runs every tile
    dense: float = 0.8  # windows to run covering this share of the frame or more: run the whole frame

    @property
    def window(self) -> int:
        return self.core + 2 * self.halo


@dataclass(frozen=True)
class Tile:
    y: int  # core's top-left, input pixels
    x: int
    wy: int  # window's top-left
    wx: int


def _starts(size: int, core: int) -> list[int]:
    starts = list(range(0, max(size - core, 0), core))
    starts.append(max(size - core, 0))
    return starts


def tiles(height: int, width: int, spec: SparseSpec) -> list[Tile]:
    """Every tile of the grid (the last row and column shifted back to end at the frame's edge), with its
    window; empty when the frame is smaller than one window (run the net on the whole frame instead)."""
    side = spec.window
    if height < side or width < side:
        return []
    out = []
    for y in _starts(height, spec.core):
        for x in _starts(width, spec.core):
            wy = min(max(y - spec.halo, 0), height - side)
            wx = min(max(x - spec.halo, 0), width - side)
            out.append(Tile(y, x, wy, wx))
    return out


def detail_score_map(frame: np.ndarray) -> np.ndarray:
    """Per input pixel: the 3x3 mean of max(|horizontal step|, |vertical step|) of the luminance."""
    gray = frame if frame.ndim == 2 else cv2.cvtColor(np.asarray(frame, np.float32), cv2.COLOR_RGB2GRAY)
    gray = np.asarray(gray, np.float32)
    step = np.zeros_like(gray)
    cv2.absdiff(gray[:, 1:], gray[:, :-1], dst=step[:, 1:])
    np.maximum(step[1:], cv2.absdiff(gray[1:], gray[:-1]), out=step[1:])
    return np.asarray(cv2.blur(step, (3, 3)))


def detail_tiles(frame: np.ndarray, spec: SparseSpec) -> tuple[list[Tile], list[Tile]]:
    """(tiles to run, tiles left at zero) for `frame` (H,W[,C] in 0..1) by their windows' detail scores."""
    grid = tiles(frame.shape[0], frame.shape[1], spec)
    if spec.threshold <= 0:
        return grid, []
    score = detail_score_map(frame)
    side = spec.window
    run: list[Tile] = []
    skip: list[Tile] = []
    for t in grid:
        detailed = float(score[t.wy : t.wy + side, t.wx : t.wx + side].max()) >= spec.threshold
        (run if detailed else skip).append(t)
    return run, skip


def run_on_tiles(
    fn: ArrayFn, frame: np.ndarray, chosen: Sequence[Tile], spec: SparseSpec, scale: int = 1
) -> np.ndarray | None:
    """`fn` (N,h,w,C -> N,h*s,w*s,C' float32) on the windows of `chosen`, each core's output written into
    a zero H*s,W*s,C' image; None when no tile is chosen (the caller knows the output's channels)."""
    side, core, s = spec.window, spec.core, scale
    out: np.ndarray | None = None
    for i in range(0, len(chosen), spec.batch):
        chunk = chosen[i : i + spec.batch]
        batch = np.stack([frame[t.wy : t.wy + side, t.wx : t.wx + side] for t in chunk])
        res = fn(np.ascontiguousarray(batch, np.float32))
        if out is None:
            out = np.zeros((frame.shape[0] * s, frame.shape[1] * s, res.shape[3]), np.float32)
        for t, r in zip(chunk, res, strict=True):
            dy, dx = (t.y - t.wy) * s, (t.x - t.wx) * s
            out[t.y * s : (t.y + core) * s, t.x * s : (t.x + core) * s] = r[
                dy : dy + core * s, dx : dx + core * s
            ]
    return out
