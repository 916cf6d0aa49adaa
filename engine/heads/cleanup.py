"""cleanup: fill a masked region (white = fill) from the shot's other frames, then a small CNN.

1. Temporal fill: each neighbour frame is aligned to the target (OpenCV DIS flow around the hole, fitted by
   a RANSAC homography that carries the alignment into the hole) and its pixels are taken where it saw the
   background (outside its own mask), nearest frames first until every hole pixel has a source.
   A neighbour's alignment is checked before it fills anything: its aligned pixels are compared with the
   target's on the ring around the hole (within the reach the homography is fitted on), and that error is
   carried into the hole (engine.heads.cleanup_check: a gaussian-weighted mean of the nearby ring's errors).
   It fills a pixel only where that expected error is below MAX_ERROR over the target's noise floor (two
   aligned grainy frames differ by their noise), so a neighbour across an undetected cut, or a
   part of the picture moving otherwise than the homography says (a body, parallax), leaves the pixel to
   the next neighbour or to Telea instead of pasting the wrong picture in. Where several neighbours pass,
   their pixels are averaged, weighted by the inverse square of their expected errors. On held-out real
   footage with DAVIS masks (bench/cleanup_study.py) the check took the base from +4.08 to +4.61 dB over
   Telea on unseen clips and from +2.22 to +3.89 on clips' later frames (an undetected cut and fast action
   had pasted other pictures into the hole).
2. What no frame filled is inpainted with Telea; together these are the classical base.
3. A residual CNN (dilated, so it reaches across a hole) refines the base inside the hole only; a fresh
   net is a no-op over the base.
Cost follows the hole, not the frame: the net runs on boxes around the hole's parts holding its whole
reach (`hole_regions`; the same output as a run on the whole frame), neighbours are warped and checked on
the box around the hole and its ring, and Telea runs on the box of what is still missing. The alignment
flow runs on a box around the hole too (`_flow_boxes`): a coarse DIS flow over the whole frame at
COARSE_SIDE pixels gives the motion there (the whole frame's search range), the neighbour's box follows its
median and both grow by the largest remaining motion, so where the hole's surroundings come from stays
inside the boxes however fast the camera moves.
Pixels outside the hole are the input frame's, bit for bit.
Training masks are random object-like blobs (engine.degrade.blob_mask) moving across the neighbours.
Fix parameters (CleanupParams): `mask=x,y,w,h` (a rectangle), or an image or movie/sequence, white = fill.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Self

import cv2
import numpy as np
import torch

from engine.baselines.restore import inpaint_telea
from engine.degrade import blob_mask
from engine.heads.base import (
    Batch,
    Head,
    HeadError,
    NumberedFrame,
    as_float,
    augment,
    chw,
    crop_box,
    eval_indices,
    frame_pair,
    register,
)
from engine.heads.cleanup_check import Box, FillCheck, fill_check
from engine.heads.errors import ParamError
from engine.heads.params import (
    OPAQUE,
    RECT,
    FixParams,
    Rect,
    Shot,
    coverage,
    covered,
    load_mask,
    mask_gaps,
    rect_note,
    snapped,
)
from engine.heads.scoring import score_sheet, summarize
from engine.infer.run import run_on_image
from engine.infer.tiling import TileSpec
from engine.kinds import PARAM_KEYS
from engine.media.sequences import frames_named
from engine.metrics import masked_psnr, ssim
from engine.nets import ResidualCNN

NEIGHBOURS = (-1, 1, -2, 2, -3, 3, -4, 4)
FLOW_SIDE = 540
CONTEXT = 8  # pixels of context beyond the net's reach around each hole region
MAX_REGIONS = 16  # more separate hole regions than this run as one box around them all
TELEA_RADIUS = 5  # inpaint_telea's default
TELEA_CONTEXT = 4  # pixels beyond Telea's radius kept around what no frame saw
COARSE_SIDE = FLOW_SIDE // 4  # short side (pixels) of the coarse whole-frame flow giving the motion
MAX_BOX_SHARE = 0.5  # flow boxes over this share of the frame: the whole frame's flow instead
FLOW_PAD = 16  # pixels (flow scale) beyond reach + motion around the hole: two DIS patches
ERROR_FLOOR = 0.01  # added to the expected error before the blend's inverse-square weights


@dataclass(frozen=True)
class CleanupParams(FixParams):
    """Where to fill: a rectangle on every frame, or the path of a mask image or movie/sequence."""

    keys: ClassVar[tuple[str, ...]] = PARAM_KEYS["cleanup"]
    mask: Rect | str

    @classmethod
    def parse(cls, raw: Mapping[str, str]) -> Self:
        spec = raw.get("mask", "")
        if not spec:
            raise ParamError(
                "cleanup needs a mask: mask=x,y,w,h, or an image or movie that is white where to fill"
            )
        rect = RECT.match(spec)
        return cls(mask=Rect(*(int(v) for v in rect.groups())) if rect else spec)

    def bind(self, shot: Shot) -> dict[str, Any]:
        return {"masks": load_mask(self.mask, shot.info)}

    def notes(self, shot: Shot) -> list[str]:
        note = rect_note(self.mask, shot.info) if isinstance(self.mask, Rect) else None
        gaps = mask_gaps(self.mask, shot.info)
        holes = f"The mask sequence lacks {frames_named(gaps)}: left as the shot has them." if gaps else None
        return [n for n in (note, holes) if n]


def _gray(img: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(np.clip(img * 255 + 0.5, 0, 255).astype(np.uint8), cv2.COLOR_RGB2GRAY)


def flow_image(frame: np.ndarray) -> np.ndarray:
    """What the alignment flow of `frame` is computed on: 8-bit gray at about FLOW_SIDE pixels on the short
    side (a streaming window makes it once per frame, not once per pair)."""
    full_h, full_w = frame.shape[:2]
    scale = min(1.0, FLOW_SIDE / min(full_h, full_w))
    if scale < 1.0:
        size = (round(full_w * scale), round(full_h * scale))
        frame = cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
    return _gray(frame)


@dataclass(frozen=True)
class _Around:
    """The target's hole at the flow's scale, with the pixels within `reach` of it (the ring's bound):
    computed once per target frame, shared by its neighbour pairs."""

    hole: np.ndarray
    near: np.ndarray
    reach: int


def _around(hole: np.ndarray, size: tuple[int, int]) -> _Around:
    """`hole` at the flow image's `size` (w, h), and the pixels near it."""
    if (hole.shape[1], hole.shape[0]) != size:
        hole = cv2.resize(hole.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST) > 0
    reach = max(12, int(0.08 * min(hole.shape)))
    return _Around(hole, _dilate_near(hole, reach), reach)


def _homography(
    target: np.ndarray,
    hole: np.ndarray,
    neighbour: np.ndarray,
    neighbour_hole: np.ndarray,
    grays: tuple[np.ndarray, np.ndarray] | None = None,
    around: _Around | None = None,
) -> np.ndarray | None:
    """3x3 map from target pixel coordinates to the neighbour's, fitted to DIS flow around the hole.

    Large frames are aligned at about FLOW_SIDE pixels on their short side and the map scaled back.
    `grays`: the two frames' flow_image()s when the caller has them; `around`: _around(hole) likewise."""
    full_h, full_w = hole.shape
    scale = min(1.0, FLOW_SIDE / min(full_h, full_w))
    a, b = grays if grays is not None else (flow_image(target), flow_image(neighbour))
    size = (a.shape[1], a.shape[0])
    around = around or _around(hole, size)
    hole, near, reach = around.hole, around.near, around.reach
    if scale < 1.0:
        neighbour_hole = (
            cv2.resize(neighbour_hole.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST) > 0
        )
    blocked = hole | cv2.dilate(neighbour_hole.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    ring = near & ~blocked
    whole = (0, a.shape[0], 0, a.shape[1])
    if ring.sum() >= 64:  # the flow on boxes around the hole (_flow_boxes), not the whole frame
        (y0, y1, x0, x1), (dx, dy) = _flow_boxes(a, b, hole, reach)
        if (y1 - y0) * (x1 - x0) > MAX_BOX_SHARE * a.size:  # little to save: the whole frame's context
            (y0, y1, x0, x1), (dx, dy) = whole, (0, 0)
    else:  # too little seen around the hole: fit to the whole frame's flow
        ring, (y0, y1, x0, x1), (dx, dy) = ~blocked, whole, (0, 0)
    crop_a = np.ascontiguousarray(a[y0:y1, x0:x1])
    crop_b = np.ascontiguousarray(b[y0 + dy : y1 + dy, x0 + dx : x1 + dx])
    flow = _dis().calc(crop_a, crop_b, None) + np.array([dx, dy], np.float32)
    ys, xs = np.nonzero(ring[y0:y1, x0:x1])  # the ring lies inside the box
    if len(xs) < 16:
        return None
    step = max(1, len(xs) // 3000)
    ys, xs = ys[::step], xs[::step]
    src = np.stack([xs + x0, ys + y0], 1).astype(np.float32)
    dst = src + flow[ys, xs]
    mat, _ = cv2.findHomography(src, dst, cv2.RANSAC, 1.0)
    if mat is None:
        return None
    s = np.diag([scale, scale, 1.0])
    return np.linalg.inv(s) @ mat.astype(np.float64) @ s


def _dis() -> Any:  # cv2.DISOpticalFlow (its stubs refuse calc(..., None))
    return cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)  # type: ignore[attr-defined]


def _coarse_motion(a: np.ndarray, b: np.ndarray, box: Box) -> np.ndarray:
    """The displacements (N,2: x, y in pixels of `a`) from `a` to `b` over `box`, by DIS on the whole
    frame at about COARSE_SIDE pixels on its short side: how far the pixels of `box` move, found with the
    whole frame's search range."""
    h, w = a.shape
    scale = min(1.0, COARSE_SIDE / min(h, w))
    size = (max(round(w * scale), 8), max(round(h * scale), 8))
    fx, fy = w / size[0], h / size[1]
    small_a = cv2.resize(a, size, interpolation=cv2.INTER_AREA)
    small_b = cv2.resize(b, size, interpolation=cv2.INTER_AREA)
    coarse = _dis().calc(small_a, small_b, None)
    y0, y1, x0, x1 = box
    region = coarse[
        int(y0 / fy) : max(int(np.ceil(y1 / fy)), 1), int(x0 / fx) : max(int(np.ceil(x1 / fx)), 1)
    ]
    return region.reshape(-1, 2) * np.array([fx, fy], np.float32)


def _flow_boxes(a: np.ndarray, b: np.ndarray, hole: np.ndarray, reach: int) -> tuple[Box, tuple[int, int]]:
    """Where the alignment flow is computed: a box of `a` around the hole and the (dx, dy) by which the
    same-sized box of `b` is moved.

    The box holds every pixel within `reach` of the hole (the ring the homography is fitted to); `b`'s box
    follows the median motion of a coarse whole-frame flow there, and both grow by the largest remaining
    motion plus FLOW_PAD, so that where the ring's and the hole's pixels come from in `b` lies inside its
    box (up to the frame's edges) and the fine flow only has the small remaining motion to find."""
    h, w = a.shape
    motion = _coarse_motion(a, b, _bbox(hole, reach))
    shift = np.round(np.median(motion, 0)).astype(int)
    for _ in range(2):  # a box near the frame's edge cannot move as far: grow it for what is left
        rest = float(np.hypot(*(motion - shift).T).max()) if len(motion) else 0.0
        box = _bbox(hole, reach + int(np.ceil(rest)) + FLOW_PAD)
        y0, y1, x0, x1 = box
        shift = np.array([np.clip(shift[0], -x0, w - x1), np.clip(shift[1], -y0, h - y1)])
    return box, (int(shift[0]), int(shift[1]))


def _bbox(mask: np.ndarray, margin: int = 0) -> Box:
    """The box around `mask`'s set pixels grown by `margin` on every side, clipped to the frame."""
    ys, xs = np.nonzero(mask.any(1))[0], np.nonzero(mask.any(0))[0]
    h, w = mask.shape
    return (
        max(int(ys[0]) - margin, 0),
        min(int(ys[-1]) + 1 + margin, h),
        max(int(xs[0]) - margin, 0),
        min(int(xs[-1]) + 1 + margin, w),
    )


def _dilate_near(hole: np.ndarray, reach: int) -> np.ndarray:
    """Pixels within `reach` (an elliptic kernel) of the hole; computed on the box around the hole only
    (the same result: nothing outside that box is within reach)."""
    near = np.zeros(hole.shape, bool)
    if not hole.any():
        return near
    y0, y1, x0, x1 = _bbox(hole, reach)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * reach + 1, 2 * reach + 1))
    near[y0:y1, x0:x1] = cv2.dilate(hole[y0:y1, x0:x1].astype(np.uint8), kernel).astype(bool)
    return near


def _source_box(mat: np.ndarray, box: Box, shape: tuple[int, ...]) -> Box:
    """The box of the source image that `mat` (target -> source) maps `box` into, with a pixel to spare
    for the bilinear reads, clipped to the source; the whole source when the map folds over."""
    y0, y1, x0, x1 = box
    corners = mat @ np.array([[x0, x1, x0, x1], [y0, y0, y1, y1], [1.0, 1.0, 1.0, 1.0]])
    h, w = shape[:2]
    if (corners[2] <= 1e-6).any():
        return 0, h, 0, w
    xs, ys = corners[0] / corners[2], corners[1] / corners[2]
    sy0, sy1 = int(np.clip(np.floor(ys.min()) - 2, 0, h)), int(np.clip(np.ceil(ys.max()) + 3, 0, h))
    sx0, sx1 = int(np.clip(np.floor(xs.min()) - 2, 0, w)), int(np.clip(np.ceil(xs.max()) + 3, 0, w))
    if sy1 - sy0 < 2 or sx1 - sx0 < 2:  # the box maps outside the source: border values only
        return 0, h, 0, w
    return sy0, sy1, sx0, sx1


def _warp_into(image: np.ndarray, mat: np.ndarray, box: Box, border: int, value: float = 0.0) -> np.ndarray:
    """`image` warped by `mat` (target -> image coordinates), computed for the target pixels in `box` only
    (and read from the part of `image` they map into: a crop reaching the frame's edge where they leave
    it, so the border rule gives the same pixels)."""
    y0, y1, x0, x1 = box
    sy0, sy1, sx0, sx1 = _source_box(mat, box, image.shape)
    shift_out = np.array([[1.0, 0.0, -sx0], [0.0, 1.0, -sy0], [0.0, 0.0, 1.0]])
    shifted = shift_out @ mat @ np.array([[1.0, 0.0, x0], [0.0, 1.0, y0], [0.0, 0.0, 1.0]])
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    return cv2.warpPerspective(
        image[sy0:sy1, sx0:sx1],
        shifted,
        (x1 - x0, y1 - y0),
        flags=flags,
        borderMode=border,
        borderValue=value,
    )


def _candidate(
    neighbour: np.ndarray, neighbour_hole: np.ndarray, mat: np.ndarray, check: FillCheck
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`neighbour` aligned onto the check's box by `mat`, where it saw the background there, and the
    alignment error expected at each pixel (FillCheck.expected)."""
    warped = _warp_into(neighbour, mat, check.box, cv2.BORDER_REPLICATE)
    sy0, sy1, sx0, sx1 = _source_box(mat, check.box, neighbour.shape)  # what the warp reads of the mask
    seen = np.zeros(neighbour.shape[:2], np.float32)
    seen[sy0:sy1, sx0:sx1] = ~np.asarray(neighbour_hole, bool)[sy0:sy1, sx0:sx1]
    valid = _warp_into(seen, mat, check.box, cv2.BORDER_CONSTANT) > 0.999
    return warped, valid, check.expected(warped, valid)


def temporal_fill(
    frames: Sequence[np.ndarray],
    holes: Sequence[np.ndarray],
    index: int,
    grays: Sequence[np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Fill frames[index]'s hole from the other frames; returns (filled frame, pixels no frame filled).

    Nearest frames first, until every hole pixel has a source. A neighbour fills a pixel only where its
    alignment is checked good there (expected_error below the check's limit); where several do, their
    pixels are averaged, weighted by the inverse square of that error. `grays`: the frames' flow_image()s,
    when known."""
    target, hole = frames[index], np.asarray(holes[index], bool)
    filled = target.copy()
    missing = hole.copy()
    if not hole.any():
        return filled, missing
    reach = max(12, int(0.08 * min(hole.shape)))  # as _around's, at full resolution
    check = fill_check(target, hole, _bbox(hole, reach), _bbox(hole), reach)
    iy0, iy1, ix0, ix1 = check.inner
    y0, y1, x0, x1 = check.box[0] + iy0, check.box[0] + iy1, check.box[2] + ix0, check.box[2] + ix1
    inside = check.hole[iy0:iy1, ix0:ix1]
    total = np.zeros((*inside.shape, 3), np.float32)
    weights = np.zeros(inside.shape, np.float32)
    order = sorted((j for j in range(len(frames)) if j != index), key=lambda j: (abs(j - index), j))
    around: _Around | None = None
    for j in order:
        if not missing.any():
            break
        pair = (grays[index], grays[j]) if grays is not None else (flow_image(target), flow_image(frames[j]))
        around = around or _around(hole, (pair[0].shape[1], pair[0].shape[0]))
        mat = _homography(target, hole, frames[j], np.asarray(holes[j], bool), pair, around)
        if mat is None:
            continue
        warped, valid, error = (a[iy0:iy1, ix0:ix1] for a in _candidate(frames[j], holes[j], mat, check))
        take = inside & valid & (error < check.limit)
        weight = np.where(take, 1.0 / (error + ERROR_FLOOR) ** 2, 0.0).astype(np.float32)
        total += warped * weight[..., None]
        weights += weight
        missing[y0:y1, x0:x1] &= ~take
    done = inside & (weights > 0)
    filled[y0:y1, x0:x1][done] = (total[done] / weights[done, None]).astype(filled.dtype)
    return filled, missing


def classical_base(
    frames: Sequence[np.ndarray],
    holes: Sequence[np.ndarray],
    index: int,
    grays: Sequence[np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Temporal fill, then Telea for what no frame saw: (base frame, unseen mask)."""
    filled, unseen = temporal_fill(frames, holes, index, grays)
    if not unseen.any():
        return filled, unseen
    y0, y1, x0, x1 = _bbox(unseen, TELEA_RADIUS + TELEA_CONTEXT)  # Telea reads only near the hole
    filled[y0:y1, x0:x1] = inpaint_telea(filled[y0:y1, x0:x1], unseen[y0:y1, x0:x1], TELEA_RADIUS)
    return filled, unseen


def _reach(net: torch.nn.Module) -> int | None:
    """How far (pixels) an output pixel of `net` sees, when the net says (ResidualCNN does)."""
    reach = getattr(net, "receptive_radius", None)
    return int(reach) if isinstance(reach, int) else None


def hole_regions(hole: np.ndarray, reach: int | None) -> list[tuple[Box, np.ndarray]]:
    """Boxes to run the net on, each with the hole pixels it decides (a bool mask of the box's shape).

    Every hole pixel falls in exactly one box, which holds all pixels within `reach` + CONTEXT of it
    (clipped to the frame), so the net sees there what it would see on the whole frame. Boxes follow the
    separate parts of the hole dilated by that margin; past MAX_REGIONS parts, or when the net's reach is
    unknown, one box holds them all (the whole frame when the reach is unknown)."""
    height, width = hole.shape
    hole = hole.astype(bool, copy=False)
    if not hole.any():
        return []
    if reach is None:
        return [((0, height, 0, width), hole)]
    margin = reach + CONTEXT
    oy, y_end, ox, x_end = _bbox(hole, margin)  # the work stays on the box around the whole hole
    part = hole[oy:y_end, ox:x_end]
    grown = cv2.dilate(part.astype(np.uint8), np.ones((2 * margin + 1, 2 * margin + 1), np.uint8))
    count, labels, stats, _ = cv2.connectedComponentsWithStats(grown, connectivity=8)
    if count - 1 > MAX_REGIONS:
        return [((oy, y_end, ox, x_end), part)]
    regions = []
    for k in range(1, count):
        x, y, w, h = (int(v) for v in stats[k, :4])
        box = (oy + y, oy + y + h, ox + x, ox + x + w)
        inside = (labels[y : y + h, x : x + w] == k) & part[y : y + h, x : x + w]
        regions.append((box, inside))
    return regions


def _moving_masks(
    height: int, width: int, offsets: Sequence[int], rng: np.random.Generator, fraction: float
) -> list[np.ndarray]:
    """An object-like mask at offset 0 and the same shape moved at a constant velocity for the others."""
    base = blob_mask(height, width, seed=int(rng.integers(0, 2**31)), fraction=fraction)
    speed = 0.0 if rng.random() < 0.25 else float(rng.uniform(0, 0.5)) * np.sqrt(fraction * height * width)
    angle = float(rng.uniform(0, 2 * np.pi))
    vx, vy = speed * np.cos(angle), speed * np.sin(angle)
    out = []
    for d in offsets:
        m = np.array([[1, 0, vx * d], [0, 1, vy * d]], np.float32)
        out.append(cv2.warpAffine(base.astype(np.uint8), m, (width, height), flags=cv2.INTER_NEAREST) > 0)
    return out


@register
class CleanupHead(Head):
    name = "cleanup"
    baselines = ("telea",)
    params_type = CleanupParams

    def default_config(self) -> dict[str, Any]:
        return {
            "channels": 32,
            "dilations": [1, 2, 4, 8, 4, 1],
            "radius": 2,  # neighbours on each side used in training and evaluation
            "min_crop": 96,
            "fraction_min": 0.03,
            "fraction_max": 0.12,
            "eval_frames": 3,
        }

    def min_frames(self) -> int:
        return 3

    def build(self, config: Mapping[str, Any]) -> torch.nn.Module:
        cfg = {**self.default_config(), **config}
        dil = [int(d) for d in cfg["dilations"]]
        return ResidualCNN(5, 3, channels=int(cfg["channels"]), depth=len(dil) + 1, dilations=dil)

    def _window(self, length: int, t: int, radius: int) -> list[int]:
        return [t] + [t + d for d in NEIGHBOURS if abs(d) <= radius and 0 <= t + d < length]

    def sample(self, clip: np.ndarray, rng: np.random.Generator, crop: int) -> dict[str, np.ndarray]:
        cfg = self.default_config()
        crop = max(crop, int(cfg["min_crop"]))
        t = int(rng.integers(0, len(clip)))
        idx = self._window(len(clip), t, int(cfg["radius"]))
        y, x, h, w = crop_box(clip.shape[1], clip.shape[2], crop, rng)
        frames = augment([as_float(clip[i, y : y + h, x : x + w]) for i in idx], rng)
        fraction = float(rng.uniform(cfg["fraction_min"], cfg["fraction_max"]))
        fh, fw = frames[0].shape[:2]  # after a possible transpose
        holes = _moving_masks(fh, fw, [i - t for i in idx], rng, fraction)
        base, unseen = classical_base(frames, holes, 0)
        return {
            "base": chw(base),
            "hole": chw(holes[0].astype(np.float32)),
            "unseen": chw(unseen.astype(np.float32)),
            "target": chw(frames[0]),
        }

    def forward(
        self, net: torch.nn.Module, base: torch.Tensor, hole: torch.Tensor, unseen: torch.Tensor
    ) -> torch.Tensor:
        out: torch.Tensor = base + hole * net(torch.cat([base, hole, unseen], 1))
        return out

    def loss(self, net: torch.nn.Module, batch: Batch) -> torch.Tensor:
        hole = batch["hole"]
        err = (self.forward(net, batch["base"], hole, batch["unseen"]) - batch["target"]).abs() * hole
        return err.sum() / (hole.sum() * 3).clamp_min(1.0)

    def refine(
        self,
        net: torch.nn.Module,
        base: np.ndarray,
        hole: np.ndarray,
        unseen: np.ndarray,
        spec: TileSpec | None = None,
        in_place: bool = False,
    ) -> np.ndarray:
        """The net over `base` inside `hole`; pixels outside the hole are `base`'s, bit for bit. The net runs
        only on boxes around the hole with its full reach of context (hole_regions), not the whole frame.
        `in_place`: write into a float32 `base` rather than a full-size copy of it (the same output: a box
        reads other parts' written pixels only beyond the net's reach of its own)."""
        out = base if in_place and base.dtype == np.float32 else base.astype(np.float32, copy=True)
        for (y0, y1, x0, x1), inside in hole_regions(hole, _reach(net)):
            stacked = np.concatenate(
                [
                    base[y0:y1, x0:x1],
                    hole[y0:y1, x0:x1, None].astype(np.float32),
                    unseen[y0:y1, x0:x1, None].astype(np.float32),
                ],
                2,
            )
            res = run_on_image(
                lambda x: self.forward(net, x[:, :3], x[:, 3:4], x[:, 4:5]),
                stacked,
                net,
                spec=spec,
                runtime_pixels=hole.size,
            )
            out[y0:y1, x0:x1][inside] = res[inside]
        return out

    def fill(
        self, net: torch.nn.Module, frames: Sequence[np.ndarray], holes: Sequence[np.ndarray], index: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """(head output, classical base) for frames[index]."""
        base, unseen = classical_base(frames, holes, index)
        return self.refine(net, base, holes[index].astype(bool), unseen), base

    def evaluate(
        self,
        net: torch.nn.Module,
        clips: list[np.ndarray],
        rng: np.random.Generator,
        options: Mapping[str, Any] | None = None,
    ) -> dict[str, float]:
        """Masked PSNR inside the hole; options["masks"]: real mask sequences (T,h,w bool) moved onto the clips."""
        opts = {**self.default_config(), **(options or {})}
        radius = int(opts["radius"])
        mask_seqs: list[np.ndarray] = list(opts.get("masks") or [])
        scores = score_sheet("psnr", "ssim", "psnr_telea", "psnr_base")
        k = 0
        for clip in clips:
            _, height, width = clip.shape[:3]
            for t in eval_indices(len(clip), int(opts["eval_frames"]), margin=radius):
                idx = self._window(len(clip), t, radius)
                frames = [as_float(clip[i]) for i in idx]
                holes = self._eval_holes((height, width), idx, t, rng, mask_seqs, k)
                k += 1
                if not holes[0].any():
                    continue
                truth = frames[0]
                out, base = self.fill(net, frames, holes, 0)
                telea = inpaint_telea(truth, holes[0])
                scores["psnr"].append(masked_psnr(out, truth, holes[0]))
                scores["psnr_base"].append(masked_psnr(base, truth, holes[0]))
                scores["psnr_telea"].append(masked_psnr(telea, truth, holes[0]))
                ys, xs = np.nonzero(holes[0])
                y0, y1 = max(ys.min() - 8, 0), min(ys.max() + 9, height)
                x0, x1 = max(xs.min() - 8, 0), min(xs.max() + 9, width)
                scores["ssim"].append(ssim(out[y0:y1, x0:x1], truth[y0:y1, x0:x1]))
        return summarize(self, scores, "cleanup evaluation needs at least one held-out frame with a mask")

    def demo(
        self,
        net: torch.nn.Module,
        clip: np.ndarray,
        rng: np.random.Generator,
        options: Mapping[str, Any] | None = None,
    ) -> dict[str, np.ndarray]:
        radius = int(self.default_config()["radius"])
        t = min(max(len(clip) // 2, 0), len(clip) - 1)
        idx = self._window(len(clip), t, radius)
        frames = [as_float(clip[i]) for i in idx]
        holes = self._eval_holes(
            frames[0].shape[:2], idx, t, rng, list((options or {}).get("masks") or []), 0
        )
        out, base = self.fill(net, frames, holes, 0)
        shown = frames[0].copy()
        shown[holes[0]] = (1.0, 0.0, 1.0)
        return {
            "input": shown,
            "telea": inpaint_telea(frames[0], holes[0]),
            "base": base,
            "head": out,
            "truth": frames[0],
        }

    def _eval_holes(
        self,
        shape: tuple[int, int],
        idx: list[int],
        t: int,
        rng: np.random.Generator,
        mask_seqs: list[np.ndarray],
        k: int,
    ) -> list[np.ndarray]:
        """Holes for frames `idx` around `t`: a real mask sequence moved onto the clip, or a moving blob."""
        height, width = shape
        radius = int(self.default_config()["radius"])
        if not mask_seqs:
            return _moving_masks(height, width, [i - t for i in idx], rng, 0.04)
        seq = mask_seqs[k % len(mask_seqs)]
        j0 = int(rng.integers(radius, max(radius + 1, len(seq) - radius)))
        return [
            cv2.resize(
                seq[min(max(j0 + i - t, 0), len(seq) - 1)].astype(np.uint8),
                (width, height),
                interpolation=cv2.INTER_NEAREST,
            )
            > 0
            for i in idx
        ]

    def apply(
        self,
        net: torch.nn.Module,
        frames: Iterable[Any],
        params: Mapping[str, Any] | None = None,
    ) -> Iterator[NumberedFrame]:
        """params["masks"]: one H,W mask for every frame, a {frame number: mask} mapping, or a callable
        frame number -> mask (None or an empty mask leaves a frame untouched); params["radius"]: neighbours
        used on each side (default 4)."""
        p = params or {}
        mask_of = _mask_lookup(p.get("masks"))
        radius = int(p.get("radius", 4))
        spec = TileSpec(tile=int(p.get("tile", 256)))
        window: deque[tuple[int, np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]] = deque()
        pending = 0  # index in `window` of the next frame to emit

        def emit(i: int) -> NumberedFrame:
            number, frame, hole, _, cover = window[i]
            if not hole.any():
                return number, frame
            lo, hi = max(0, i - radius), min(len(window), i + radius + 1)
            frs = [window[j][1] for j in range(lo, hi)]
            hls = [window[j][2] for j in range(lo, hi)]
            grays = [window[j][3] for j in range(lo, hi)]
            base, unseen = classical_base(frs, hls, i - lo, grays)
            filled = self.refine(net, base, hole, unseen, spec, in_place=True)
            if cover is not None:  # a soft matte's edge: the fill merged over the plate through it
                soft = hole & (cover < OPAQUE)
                weight = (cover[soft].astype(np.float32) / OPAQUE)[:, None]
                filled[soft] = frame[soft] + (filled[soft] - frame[soft]) * weight
            return number, filled

        for number, frame in map(frame_pair, frames):
            img = as_float(frame)
            hole, cover = mask_of(number, img.shape[:2])
            window.append((number, img, hole, flow_image(img), cover))  # the flow image once per frame
            while pending < len(window) and len(window) - 1 - pending >= radius:
                yield emit(pending)
                pending += 1
            while pending > radius:
                window.popleft()
                pending -= 1
        while pending < len(window):
            yield emit(pending)
            pending += 1


Hole = tuple[
    np.ndarray, np.ndarray | None
]  # where to fill (bool H,W), and a soft matte's coverage (uint8 H,W)


def _mask_lookup(masks: Any) -> Callable[[int, tuple[int, int]], Hole]:
    def fit(mask: np.ndarray | None, shape: tuple[int, int]) -> Hole:
        if mask is None:
            return np.zeros(shape, bool), None
        m = np.asarray(mask)
        if m.ndim == 3:
            m = m[..., 0]
        if m.dtype != bool:  # coverage: uint8 0-255 (engine.heads.params.coverage), or float 0..1
            m = m if m.dtype == np.uint8 else coverage(m)
            if m.shape != shape:
                m = snapped(cv2.resize(m, (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR))
            hole = covered(m)
            return hole, (m if bool((hole & (m < OPAQUE)).any()) else None)
        if m.shape != shape:
            m = cv2.resize(m.astype(np.uint8), (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST) > 0
        return m, None

    if masks is None:
        raise HeadError("cleanup needs params['masks']: a mask image (white = fill) or one per frame number")
    if callable(masks):
        return lambda n, shape: fit(masks(n), shape)
    if isinstance(masks, Mapping):
        return lambda n, shape: fit(masks.get(n), shape)
    fixed = np.asarray(masks)
    return lambda n, shape: fit(fixed, shape)
