"""Classical optical-flow frame interpolation: OpenCV DIS flow, occlusion masks, splatting, quadratic motion.

Frames are float32 RGB arrays (H, W, 3) in 0..1; flows are float32 (H, W, 2) in pixels, (dx, dy), and
`flow_ab[y, x]` says where the pixel (x, y) of frame a lands in frame b.

The interpolation of a frame at time t between frames 0 and 1 (0 < t < 1) runs:
1. DIS flow both ways (0->1, 1->0), and, when the outer neighbours are given, 0->-1 and 1->2 for a
   quadratic (constant acceleration) motion model.
2. Flow reversal: each frame's motion to time t is forward-splatted to time t, which gives flows from
   time t back into each frame, with a per-pixel visibility (how much of frame 0 or 1 lands there).
3. Holes in the reversed flows are filled from the other direction; where the two frames agree better
   without motion than with the reversed flows (near-static content, where DIS returns sub-pixel noise),
   those flows fade to zero (`static_share`); both frames are backward-warped (bicubic: bilinear blurs at
   sub-pixel shifts) and blended weighted by visibility and temporal distance.
Steps 1-2 run at a working size (`FlowConfig.downscale`, 3/4 size by default: about half the pixels to
splat; at most `FlowConfig.max_work_pixels`, so 1080p and larger work at 720x405); only step 3 runs at
the frames' size. A sequence (engine.flow_sequence) makes each frame's flow image once and each flow once.
`BEST_QUALITY` averages two such settings (an ensemble): the default and the same at full size.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from typing import Any

import cv2
import numpy as np

PRESETS = {"ultrafast": 0, "fast": 1, "medium": 2}


class FlowError(ValueError):
    """A frame handed to the flow code has the wrong shape or type."""


@dataclass(frozen=True)
class FlowConfig:
    """How the flow path runs. Defaults are the variant that won bench/interpolate_study.py; the warp kernel
    and the static check the one that won bench/interpolate_holdout_study.py (held-out shots)."""

    preset: str = "medium"  # DIS preset, see PRESETS
    finest_scale: int | None = 0  # override of the preset's finest pyramid level (0 = full resolution)
    patch_size: int | None = None
    patch_stride: int | None = None
    refine_iterations: int | None = None  # variational refinement iterations
    downscale: float = 0.75  # compute and reverse the flows at this fraction of the size (1.0 = full size)
    # ... and at most this many pixels (None: no cap). Large frames' flows are smooth at this size: 1080p
    # works at 720x405 (0.375), within 0.1 dB of 3/4 size on real footage, a quarter of the pixels to
    # splat (docs/benchmarks.md, "Interpolate and denoise at 1080p"); training crops never reach it.
    max_work_pixels: int | None = 720 * 405
    method: str = "reverse"  # "backward" (naive), "splat" (softmax-splat images), "reverse" (flow reversal)
    quadratic: bool = True  # use the outer neighbours (t-1, t+2) for curved motion when given
    gate: bool = False  # damp the acceleration where the outer flows are not forward-backward consistent
    softmax_alpha: float = 5.0  # importance of brightness-constancy error in softmax splatting
    consistency_scale: float = 5.0  # tolerance of the forward-backward check (larger: fewer occlusions)
    blend_power: float = 0.3  # sharpness of the visibility-weighted blend of the two warped frames
    # Resampling of the frames' final warps: "cubic" (default), "lanczos" or "linear" (bilinear, which
    # blurs at sub-pixel shifts: -0.9 / -0.6 dB on held-out footage, docs/benchmarks.md).
    warp_kernel: str = "cubic"
    # Near-static content: where the frames agree better without motion than with the reversed flows (local
    # mean colour difference lower by this much or more), those flows fade to zero (0: off; see static_share).
    static_tolerance: float = 0.003
    # The side check (0: off; see side_weights): each warped frame's blend weight times exp(-d / side_sigma),
    # d its mean colour difference from the outer frame on its side carried along the same path (at the
    # working size).
    side_sigma: float = 0.0
    ensemble: tuple[
        FlowConfig, ...
    ] = ()  # when given: the mean of these settings' results (fields above unused)


def members(config: FlowConfig) -> tuple[FlowConfig, ...]:
    """The single settings a config runs: its ensemble members, or itself."""
    return config.ensemble or (config,)


def _check(frame: np.ndarray, name: str) -> None:
    if frame.ndim != 3 or frame.shape[2] != 3:
        raise FlowError(f"{name} must be an RGB frame (H, W, 3), got shape {frame.shape}; convert it first.")


def _single(config: FlowConfig) -> None:
    if config.ensemble:
        raise FlowError("an ensemble flow config runs per member; pass each of flow.members(config) in turn.")


def colour_of(frame: np.ndarray) -> np.ndarray:
    """The RGB of a frame that may carry a fourth channel, its alpha (a CG element's coverage): what flows,
    cuts and the blend's checks look at. The alpha only travels: it is warped and blended as the colour is."""
    return frame if frame.ndim != 3 or frame.shape[2] != 4 else np.ascontiguousarray(frame[..., :3])


def to_gray_u8(frame: np.ndarray) -> np.ndarray:
    """Luma as uint8, the input DIS wants (of the colour alone when the frame carries an alpha)."""
    frame = colour_of(frame)
    u8 = frame if frame.dtype == np.uint8 else (np.clip(frame, 0, 1) * 255 + 0.5).astype(np.uint8)
    return cv2.cvtColor(u8, cv2.COLOR_RGB2GRAY)


def dis_solver(config: FlowConfig) -> Any:
    cv: Any = cv2  # the stubs lack DISOpticalFlow_create
    dis = cv.DISOpticalFlow_create(PRESETS[config.preset])
    if config.finest_scale is not None:
        dis.setFinestScale(config.finest_scale)
    if config.patch_size is not None:
        dis.setPatchSize(config.patch_size)
    if config.patch_stride is not None:
        dis.setPatchStride(config.patch_stride)
    if config.refine_iterations is not None:
        dis.setVariationalRefinementIterations(config.refine_iterations)
    return dis


def work_size(h: int, w: int, config: FlowConfig) -> tuple[int, int]:
    """(height, width) the flows are computed and reversed at: the frame size times `config.downscale`,
    smaller still when that would exceed `config.max_work_pixels`."""
    scale = config.downscale
    if config.max_work_pixels is not None and h * w * scale * scale > config.max_work_pixels:
        scale = math.sqrt(config.max_work_pixels / (h * w))
    if scale == 1.0:
        return h, w
    return max(8, round(h * scale)), max(8, round(w * scale))


def resize_flow(flow: np.ndarray, h: int, w: int) -> np.ndarray:
    """A flow field resampled to (h, w), its vectors rescaled to the new pixel size."""
    fh, fw = flow.shape[:2]
    if (fh, fw) == (h, w):
        return flow
    out = cv2.resize(flow, (w, h), interpolation=cv2.INTER_LINEAR)
    out[..., 0] *= w / fw
    out[..., 1] *= h / fh
    return out.astype(np.float32)


def resize_frame(frame: np.ndarray, h: int, w: int) -> np.ndarray:
    """A frame (or mask) at (h, w): area-averaged down, bilinear up."""
    if frame.shape[:2] == (h, w):
        return frame
    shrink = h < frame.shape[0]
    out: np.ndarray = cv2.resize(frame, (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    return out


def flow_image(frame: np.ndarray, config: FlowConfig) -> np.ndarray:
    """What DIS sees of a frame: 8-bit luma at the working size (`work_size`). A sequence makes it once
    per frame and config (engine.flow_sequence) and hands it to `flow_between`."""
    frame = colour_of(frame)
    _check(frame, "frame")
    gray = to_gray_u8(frame)
    h, w = work_size(gray.shape[0], gray.shape[1], config)
    return resize_frame(gray, h, w)


def flow_between(ga: np.ndarray, gb: np.ndarray, config: FlowConfig) -> np.ndarray:
    """DIS flow between two `flow_image`s, in working-size pixels."""
    _single(config)
    if ga.shape != gb.shape:
        raise FlowError(f"frames differ in size ({ga.shape} vs {gb.shape}); resize them to one size first.")
    flow: np.ndarray = dis_solver(config).calc(ga, gb, None)
    return flow.astype(np.float32)


def flow_field(a: np.ndarray, b: np.ndarray, config: FlowConfig | None = None) -> np.ndarray:
    """DIS flow from a to b at the working size (`work_size`), in working-size pixels."""
    config = config or FlowConfig()
    _single(config)
    a, b = colour_of(a), colour_of(b)
    _check(a, "frame a")
    _check(b, "frame b")
    if a.shape != b.shape:
        raise FlowError(f"frames differ in size ({a.shape} vs {b.shape}); resize them to one size first.")
    return flow_between(flow_image(a, config), flow_image(b, config), config)


def dis_flow(a: np.ndarray, b: np.ndarray, config: FlowConfig | None = None) -> np.ndarray:
    """DIS optical flow from frame a to frame b (H, W, 2): pixel (x, y) of a is at (x, y) + flow in b."""
    return resize_flow(flow_field(a, b, config), a.shape[0], a.shape[1])


@functools.lru_cache(maxsize=4)
def _grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel coordinates (read-only, shared: made once per size, not once per warp)."""
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    gx.setflags(write=False)
    gy.setflags(write=False)
    return gx, gy


KERNELS = {"linear": cv2.INTER_LINEAR, "cubic": cv2.INTER_CUBIC, "lanczos": cv2.INTER_LANCZOS4}


def backward_warp(image: np.ndarray, flow: np.ndarray, kernel: str = "linear") -> np.ndarray:
    """Sample `image` at (x, y) + flow(x, y), bilinear (or `kernel` "cubic" / "lanczos"), borders replicated."""
    h, w = flow.shape[:2]
    gx, gy = _grid(h, w)
    if kernel not in KERNELS:
        raise FlowError(f"unknown warp kernel {kernel!r}; use linear, cubic or lanczos.")
    return cv2.remap(
        image, gx + flow[..., 0], gy + flow[..., 1], KERNELS[kernel], borderMode=cv2.BORDER_REPLICATE
    )


def fb_error(flow_ab: np.ndarray, flow_ba: np.ndarray) -> np.ndarray:
    """Forward-backward error of flow a->b at each pixel of a, in pixels: |F_ab(x) + F_ba(x + F_ab(x))|.
    Near 0 where the pixel is seen in both frames and tracked; large where it is hidden in b (or mistracked)."""
    back = backward_warp(flow_ba, flow_ab)
    return np.sqrt(np.sum((flow_ab + back) ** 2, axis=-1)).astype(np.float32)


def photometric_error(a: np.ndarray, b: np.ndarray, flow_ab: np.ndarray) -> np.ndarray:
    """Mean absolute colour difference between each pixel of a and where flow a->b lands it in b (H, W)."""
    return np.mean(np.abs(a - backward_warp(b, flow_ab)), axis=-1).astype(np.float32)


def consistency(flow_ab: np.ndarray, flow_ba: np.ndarray, scale: float = 0.5) -> np.ndarray:
    """Forward-backward consistency of flow a->b in 0..1 (1 = consistent, likely visible in both frames)."""
    back = backward_warp(flow_ba, flow_ab)
    err = np.sum((flow_ab + back) ** 2, axis=-1)
    mag = np.sum(flow_ab**2, axis=-1) + np.sum(back**2, axis=-1)
    return np.exp(-err / (scale * (0.01 * mag + 0.5))).astype(np.float32)


def forward_splat(values: np.ndarray, flow: np.ndarray, weight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bilinear forward splatting of `values` (H, W, C) moved by `flow`, each pixel weighted by `weight`.

    Returns the weighted sums (H, W, C) and the weight sums (H, W); divide for the average (softmax) splat.
    """
    h, w = flow.shape[:2]
    channels = values.shape[2]
    gx, gy = _grid(h, w)
    x = (gx + flow[..., 0]).ravel()
    y = (gy + flow[..., 1]).ravel()
    x0 = np.floor(x)
    y0 = np.floor(y)
    fx = x - x0
    fy = y - y0
    x0i = x0.astype(np.int64)
    y0i = y0.astype(np.int64)
    vals = values.reshape(-1, channels)
    wgt = weight.ravel()
    acc = np.zeros((h * w, channels), np.float64)
    wsum = np.zeros(h * w, np.float64)
    for dx, dy, bw in (
        (0, 0, (1 - fx) * (1 - fy)),
        (1, 0, fx * (1 - fy)),
        (0, 1, (1 - fx) * fy),
        (1, 1, fx * fy),
    ):
        xi = x0i + dx
        yi = y0i + dy
        ok = (xi >= 0) & (xi < w) & (yi >= 0) & (yi < h)
        idx = (yi * w + xi)[ok]
        ww = (bw * wgt)[ok]
        wsum += np.bincount(idx, weights=ww, minlength=h * w)
        for c in range(channels):
            acc[:, c] += np.bincount(idx, weights=ww * vals[ok, c], minlength=h * w)
    return acc.reshape(h, w, channels).astype(np.float32), wsum.reshape(h, w).astype(np.float32)


def _softmax_weight(a: np.ndarray, b: np.ndarray, flow_ab: np.ndarray, alpha: float) -> np.ndarray:
    """Softmax-splatting importance: pixels whose colour matches where they land dominate collisions."""
    return np.exp(-alpha * photometric_error(a, b, flow_ab)).astype(np.float32)


@dataclass
class PairFlows:
    """Flows around one gap: between frames 0 and 1, and optionally to the outer neighbours -1 and 2."""

    f01: np.ndarray
    f10: np.ndarray
    f0m: np.ndarray | None = None  # 0 -> -1
    f12: np.ndarray | None = None  # 1 -> 2
    fm0: np.ndarray | None = None  # -1 -> 0, gates the acceleration where the outer flow is unreliable
    f21: np.ndarray | None = None  # 2 -> 1
    span_prev: float = 1.0  # time from frame -1 to frame 0, in units of the 0 -> 1 gap
    span_next: float = 1.0  # time from frame 1 to frame 2, in the same units
    # The outer frames themselves (frame -1 and frame 2), for the side check (FlowConfig.side_sigma)
    prev: np.ndarray | None = field(default=None, repr=False)
    nxt: np.ndarray | None = field(default=None, repr=False)


def _quadratic(near: np.ndarray, far: np.ndarray, span: float, s: float) -> np.ndarray:
    """Displacement at time s of a pixel that moves by `near` at time 1 and by `far` at time -span."""
    a = 2 * (far + span * near) / (span * (1 + span))
    v = near - a / 2
    return v * s + a * (s * s / 2)


def motion_to(pf: PairFlows, t: float, quadratic: bool) -> tuple[np.ndarray, np.ndarray]:
    """Displacement of each pixel of frame 0 to time t, and of frame 1 to time t."""
    if quadratic and pf.f0m is not None:
        # x(s) = v s + a s^2 / 2 with x(1) = f01, x(-span) = f0m.
        far = pf.f0m
        if pf.fm0 is not None:  # gate: fall back towards linear motion where the outer flow is inconsistent
            g = consistency(pf.f0m, pf.fm0)[..., None]
            far = g * far - (1 - g) * pf.f01 * pf.span_prev
        m0 = _quadratic(pf.f01, far, pf.span_prev, t)
    else:
        m0 = pf.f01 * t
    s = 1 - t  # time from frame 1 back to t
    if quadratic and pf.f12 is not None:
        far = pf.f12
        if pf.f21 is not None:
            g = consistency(pf.f12, pf.f21)[..., None]
            far = g * far - (1 - g) * pf.f10 * pf.span_next
        m1 = _quadratic(pf.f10, far, pf.span_next, s)
    else:
        m1 = pf.f10 * s
    return m0.astype(np.float32), m1.astype(np.float32)


def interpolate_backward(f0: np.ndarray, f1: np.ndarray, pf: PairFlows, t: float) -> np.ndarray:
    """Naive backward warping (the classical baseline): the flow at x in frame t is taken from x in 0 and 1."""
    w0 = backward_warp(f0, -t * pf.f01)  # approx flow t->0 by the flow of frame 0 at x
    w1 = backward_warp(f1, -(1 - t) * pf.f10)
    return (1 - t) * w0 + t * w1


def _fill(values: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Fill invalid pixels of a smooth field by normalized convolution at growing scales."""
    out = values.copy()
    missing = ~valid
    if not missing.any():
        return out
    w = valid.astype(np.float32)
    for k in (5, 15, 45, 135):
        num = cv2.blur(values * w[..., None], (k, k))
        den = cv2.blur(w, (k, k))
        ok = missing & (den > 1e-3)
        out[ok] = num[ok] / den[ok, None]
        missing &= ~ok
        if not missing.any():
            break
    out[missing] = 0
    return out


def interpolate_splat(
    f0: np.ndarray, f1: np.ndarray, pf: PairFlows, t: float, config: FlowConfig
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Softmax-splat both frames to time t; returns the frame, and visibility of frame 0 and 1 at t."""
    m0, m1 = motion_to(pf, t, config.quadratic)
    z0 = _softmax_weight(f0, f1, pf.f01, config.softmax_alpha) * consistency(pf.f01, pf.f10)
    z1 = _softmax_weight(f1, f0, pf.f10, config.softmax_alpha) * consistency(pf.f10, pf.f01)
    a0, s0 = forward_splat(f0, m0, z0 + 1e-4)
    a1, s1 = forward_splat(f1, m1, z1 + 1e-4)
    num = (1 - t) * a0 + t * a1
    den = (1 - t) * s0 + t * s1
    out = num / np.maximum(den, 1e-6)[..., None]
    hole = den < 1e-3
    if hole.any():
        out[hole] = interpolate_backward(f0, f1, pf, t)[hole]
    return out, s0, s1


@dataclass(frozen=True)
class Cues:
    """Occlusion cues at time t (H, W each) of the source pixel each warped frame samples: `fb0` the
    forward-backward error of flow 0->1 there (pixels of the frame; large: that pixel is hidden in frame 1,
    or mistracked), `photo0` its colour error against frame 1 where flow 0->1 lands it (0..1), `motion0`
    the length of the reversed flow from t into frame 0 (pixels). Likewise for frame 1 against frame 0."""

    fb0: np.ndarray
    fb1: np.ndarray
    photo0: np.ndarray
    photo1: np.ndarray
    motion0: np.ndarray
    motion1: np.ndarray


@dataclass
class Parts:
    """The pieces of a flow-based interpolation, the input of a learned refiner.

    `cues()` computes the occlusion cues on first use only (about a third of the reversal's CPU time at
    1080p; a fix whose refiner is off never needs them)."""

    frame: np.ndarray  # the blended result (H, W, 3)
    warped0: np.ndarray  # frame 0 warped to time t
    warped1: np.ndarray
    vis0: np.ndarray  # visibility of frame 0 at time t (H, W), 0..1
    vis1: np.ndarray
    cue_source: Callable[[], Cues] | None = field(default=None, repr=False)
    _cues: Cues | None = field(default=None, repr=False)

    def colour(self) -> Parts:
        """These parts with the colour alone, a refiner's input: when the frames carry an alpha, it stays the
        flow path's (`frame[..., 3]`), and no refiner changes it."""
        if self.frame.shape[2] != 4:
            return self
        return replace(
            self, frame=self.frame[..., :3], warped0=self.warped0[..., :3], warped1=self.warped1[..., :3]
        )

    def cues(self) -> Cues:
        if self._cues is None:
            if self.cue_source is None:
                raise FlowError("these interpolation parts were made without occlusion cues")
            self._cues = self.cue_source()
        return self._cues


def _cues_at_t(
    pf: PairFlows, s0: np.ndarray, s1: np.ndarray, ft0: np.ndarray, ft1: np.ndarray, h: int, w: int
) -> Cues:
    """The occlusion cues at working size (frames s0, s1 and reversed flows ft0, ft1 at that size),
    carried to time t along the reversed flows, then resized to (h, w); errors in pixels of the frame."""
    gain = w / pf.f01.shape[1]
    src0 = np.stack([fb_error(pf.f01, pf.f10) * gain, photometric_error(s0, s1, pf.f01)], -1)
    src1 = np.stack([fb_error(pf.f10, pf.f01) * gain, photometric_error(s1, s0, pf.f10)], -1)
    at0 = resize_frame(backward_warp(src0, ft0), h, w)
    at1 = resize_frame(backward_warp(src1, ft1), h, w)
    return Cues(
        fb0=at0[..., 0], fb1=at1[..., 0], photo0=at0[..., 1], photo1=at1[..., 1],
        motion0=resize_frame(np.sqrt(np.sum(ft0**2, -1)) * gain, h, w),
        motion1=resize_frame(np.sqrt(np.sum(ft1**2, -1)) * gain, h, w),
    )  # fmt: skip


STATIC_WINDOW = 7  # pixels (working size) over which the static check averages the colour differences
STATIC_MOTION = 1.0  # pixels (working size): flows up to this long may be faded, none from twice that on


def static_share(
    s0: np.ndarray, s1: np.ndarray, ft0: np.ndarray, ft1: np.ndarray, tolerance: float
) -> np.ndarray:
    """Per pixel at time t, 0..1: how much better zero motion explains the two frames than the reversed
    flows do. Compares the local mean colour difference of the frames as they are with that of the frames
    warped to t (by ft0, ft1): 0 where the flows do at least as well, 1 where no motion does better by
    `tolerance` or more; only where the flows are short (sub-pixel to STATIC_MOTION, fading out by twice
    that), so a moving object's flow is never dropped, even in its occlusions where both errors are large.
    A near-static region then keeps its pixels unresampled (DIS's sub-pixel noise there, and motion smeared
    into it from a moving neighbour, cost sharpness), while anything that moves keeps its flow."""
    k = (STATIC_WINDOW, STATIC_WINDOW)
    moved = cv2.blur(np.mean(np.abs(backward_warp(s0, ft0) - backward_warp(s1, ft1)), -1), k)
    still = cv2.blur(np.mean(np.abs(s0 - s1), -1), k)
    motion = np.sqrt(np.maximum(np.sum(ft0**2, -1), np.sum(ft1**2, -1)))
    small = np.clip(2 - motion / STATIC_MOTION, 0, 1)  # 1 up to STATIC_MOTION, 0 from twice that on
    share: np.ndarray = (np.clip((moved - still) / tolerance, 0, 1) * small).astype(np.float32)
    return share


def interpolate_reverse(f0: np.ndarray, f1: np.ndarray, pf: PairFlows, t: float, config: FlowConfig) -> Parts:
    """Flow reversal: splat each frame's motion to time t, backward-warp with it, blend by visibility.

    The reversal runs at the flows' size (smaller than the frames when `config.downscale` < 1); the reversed
    flows and visibilities are then upsampled and the full-size frames warped. Frames that carry an alpha
    (H, W, 4) have it warped and blended as their colour is, so a CG element's coverage moves with it; every
    check of the blend looks at the colour alone.
    """
    h, w = f0.shape[:2]
    fh, fw = pf.f01.shape[:2]
    s0, s1 = resize_frame(colour_of(f0), fh, fw), resize_frame(colour_of(f1), fh, fw)
    m0, m1 = motion_to(pf, t, config.quadratic)
    cs = config.consistency_scale
    z0 = _softmax_weight(s0, s1, pf.f01, config.softmax_alpha) * consistency(pf.f01, pf.f10, cs) + 1e-4
    z1 = _softmax_weight(s1, s0, pf.f10, config.softmax_alpha) * consistency(pf.f10, pf.f01, cs) + 1e-4
    a0, n0 = forward_splat(-m0, m0, z0)  # flow from t back to frame 0, splatted at t
    a1, n1 = forward_splat(-m1, m1, z1)
    ft0 = a0 / np.maximum(n0, 1e-6)[..., None]
    ft1 = a1 / np.maximum(n1, 1e-6)[..., None]
    v0 = np.clip(n0, 0, 1)
    v1 = np.clip(n1, 0, 1)
    h0 = n0 < 1e-2
    h1 = n1 < 1e-2
    # Fill holes of one direction from the other (same motion, scaled to that direction), then smoothly.
    both = (~h0) & (~h1)
    if (h0 & ~h1).any():
        ft0[h0 & ~h1] = -ft1[h0 & ~h1] * (t / max(1 - t, 1e-6))
    if (h1 & ~h0).any():
        ft1[h1 & ~h0] = -ft0[h1 & ~h0] * ((1 - t) / max(t, 1e-6))
    if not both.all():
        ft0 = _fill(ft0, ~(h0 & h1))
        ft1 = _fill(ft1, ~(h0 & h1))
    if config.static_tolerance > 0:
        keep = 1 - static_share(s0, s1, ft0, ft1, config.static_tolerance)
        ft0, ft1 = ft0 * keep[..., None], ft1 * keep[..., None]
    cues = functools.partial(_cues_at_t, pf, s0, s1, ft0, ft1, h, w)
    sides = side_weights(pf, s0, s1, ft0, ft1, config) if config.side_sigma > 0 else None
    ft0, ft1 = resize_flow(ft0, h, w), resize_flow(ft1, h, w)
    v0, v1 = resize_frame(v0, h, w), resize_frame(v1, h, w)
    w0 = backward_warp(f0, ft0, config.warp_kernel)
    w1 = backward_warp(f1, ft1, config.warp_kernel)
    np.clip(w0, 0, 1, out=w0)  # a cubic kernel overshoots at edges
    np.clip(w1, 0, 1, out=w1)
    b0 = (1 - t) * (v0 + 1e-3) ** config.blend_power
    b1 = t * (v1 + 1e-3) ** config.blend_power
    if sides is not None:
        b0 = b0 * resize_frame(sides[0], h, w) + 1e-12
        b1 = b1 * resize_frame(sides[1], h, w) + 1e-12
    out = (b0[..., None] * w0 + b1[..., None] * w1) / (b0 + b1)[..., None]
    return Parts(np.clip(out, 0, 1).astype(np.float32), w0, w1, v0, v1, cues)


SIDE_WINDOW = 5  # pixels (working size: about 13 at 1080p, 7 at 256p) over which the side check averages


def side_weights(
    pf: PairFlows, s0: np.ndarray, s1: np.ndarray, ft0: np.ndarray, ft1: np.ndarray, config: FlowConfig
) -> tuple[np.ndarray, np.ndarray] | None:
    """Per pixel at time t, at the working size (frames s0, s1 and the reversed flows ft0, ft1 at that size),
    how far to trust each warped frame: exp(-d_i / side_sigma), d_i the local mean colour difference between
    frame i warped to t and the outer frame on its side (-1, or 2) carried to t along the same path (the
    reversed flow, then flow 0 -> -1). Where t sees a pixel that frame 1 no longer shows, frames 0 and -1 agree
    on it and frame 2 does not: warp 1 is trusted less there. It runs at the working size, as the reversal
    does (at 1080p a seventh of the pixels; the weights are smooth, so upsampling them loses nothing). None
    when either outer frame or its flow is missing (the blend is left as it is)."""
    if pf.prev is None or pf.nxt is None or pf.f0m is None or pf.f12 is None:
        return None
    h, w = s0.shape[:2]
    k = (SIDE_WINDOW, SIDE_WINDOW)
    out = []
    for frame, near, ft, far in ((pf.prev, s0, ft0, pf.f0m), (pf.nxt, s1, ft1, pf.f12)):
        far = resize_flow(far, h, w)
        outer = resize_frame(colour_of(frame), h, w)
        outer = backward_warp(outer, ft + backward_warp(far, ft), config.warp_kernel)
        warped = backward_warp(near, ft, config.warp_kernel)
        d = cv2.blur(np.mean(np.abs(np.clip(outer, 0, 1) - np.clip(warped, 0, 1)), -1), k)
        out.append(np.exp(-d / config.side_sigma).astype(np.float32))
    return out[0], out[1]


def mean_parts(parts: list[Parts]) -> Parts:
    """The mean of several interpolations of one frame (an ensemble of flow settings)."""
    if len(parts) == 1:
        return parts[0]

    def mean(arrays: list[np.ndarray]) -> np.ndarray:
        return np.mean(arrays, axis=0).astype(np.float32)

    def cues() -> Cues:
        each = [p.cues() for p in parts]
        return Cues(*(mean([getattr(c, f.name) for c in each]) for f in fields(Cues)))

    def of(name: str) -> np.ndarray:
        return mean([getattr(p, name) for p in parts])

    return Parts(of("frame"), of("warped0"), of("warped1"), of("vis0"), of("vis1"), cues)


def pair_flows(
    f0: np.ndarray,
    f1: np.ndarray,
    prev: np.ndarray | None = None,
    nxt: np.ndarray | None = None,
    config: FlowConfig | None = None,
) -> PairFlows:
    """The flows around the gap between f0 and f1, at the working size of `config`."""
    config = config or FlowConfig()
    f01 = flow_field(f0, f1, config)
    f10 = flow_field(f1, f0, config)
    f0m = flow_field(f0, prev, config) if (config.quadratic and prev is not None) else None
    f12 = flow_field(f1, nxt, config) if (config.quadratic and nxt is not None) else None
    return PairFlows(f01, f10, f0m, f12, prev=prev, nxt=nxt)


def full_size(pf: PairFlows, h: int, w: int) -> PairFlows:
    """The same flows resampled to the frame size (h, w)."""

    def up(f: np.ndarray | None) -> np.ndarray | None:
        return None if f is None else resize_flow(f, h, w)

    return replace(
        pf, f01=resize_flow(pf.f01, h, w), f10=resize_flow(pf.f10, h, w), f0m=up(pf.f0m), f12=up(pf.f12),
        fm0=up(pf.fm0), f21=up(pf.f21),
    )  # fmt: skip


def interpolate_with_flows(
    f0: np.ndarray, f1: np.ndarray, pf: PairFlows, t: float, config: FlowConfig | None = None
) -> np.ndarray:
    """The frame at time t (0 < t < 1) between f0 and f1 given their flows."""
    config = config or FlowConfig()
    _single(config)
    if config.method != "reverse":
        pf = full_size(pf, f0.shape[0], f0.shape[1])
    if config.method == "backward":
        out = interpolate_backward(f0, f1, pf, t)
    elif config.method == "splat":
        out = interpolate_splat(f0, f1, pf, t, config)[0]
    elif config.method == "reverse":
        out = interpolate_reverse(f0, f1, pf, t, config).frame
    else:
        raise FlowError(f"unknown interpolation method {config.method!r}; use backward, splat or reverse.")
    return np.clip(out, 0, 1).astype(np.float32)


def interpolate(
    f0: np.ndarray,
    f1: np.ndarray,
    t: float = 0.5,
    prev: np.ndarray | None = None,
    nxt: np.ndarray | None = None,
    config: FlowConfig | None = None,
) -> np.ndarray:
    """The frame at time t between f0 and f1; `prev`/`nxt` (the frames before f0 and after f1) bend the path."""
    if not 0 < t < 1:
        raise FlowError(f"interpolation time t={t} must lie strictly between 0 and 1.")
    config = config or RECOMMENDED
    outs = [interpolate_with_flows(f0, f1, pair_flows(f0, f1, prev, nxt, c), t, c) for c in members(config)]
    return outs[0] if len(outs) == 1 else np.mean(outs, axis=0).astype(np.float32)


# The default of the interpolate head and the sequence tools (see bench/interpolate_study.py): flows and their
# reversal at 3/4 size, at most 720x405, with the side check (side_weights, sigma 0.1: +0.07 dB on held-out
# clips at 256p and at their own 720p/360p, +0.08 to +0.11 on the clips' later frames, no shot below -0.02, for
# about a fifth more CPU in the reversal, warps and blend, run at the working size: at 1080p, 0.08 s a frame;
# bench/interpolate_holdout_study.py, docs/benchmarks.md). BEST_QUALITY (interpolate's
# `quality=best`) averages that with the path at the frames' full size, at most 1280x720's pixels, without the
# check: +0.14 to +0.18 dB more, for about 4x a fix's CPU at 720p and 1080p (uncapped, 1080p cost 7x). It
# replaced the mean at half and 3/4 size (about +0.06 dB).
RECOMMENDED = FlowConfig(side_sigma=0.1)
BEST_QUALITY = FlowConfig(ensemble=(RECOMMENDED, FlowConfig(downscale=1.0, max_work_pixels=1280 * 720)))
