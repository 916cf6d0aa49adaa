"""Degradations as real as production footage: what the heads should train and be scored on.

On real footage the easy synthetic changes (a stop of exposure, gentle gains, white gaussian noise, a
reference from the next frame) understate the work: regrade gained +2.3 to +2.8 dB where highlights were
clipped or white balance was far off and only +0.4 where a near reference made histogram matching nearly
exact (issue 10). These functions make the harder cases, in numpy/OpenCV, reproducible from an rng:

- `production_grade` / `apply_grade`: exposure errors up to +-2 stops applied in linear light with the
  highlights clipped (what the sensor or the encode threw away stays lost), white balance far off
  (per-channel gains up to about 0.6 stop apart), and a display-space gamma and contrast change;
- `signal_grain`: grain whose variance follows the signal (shot noise `a*x` plus read noise `b`, in linear
  light), spatially correlated like film or sensor grain after demosaicing, then put through 4:2:0 chroma
  subsampling and DCT compression (`compress_420`, a JPEG at review-codec quality), so the grain a head
  learns is grain that survived a camera codec;
- `reference_index`: the regrade reference a few frames away in the same shot (a moving, handheld shot
  makes it differ from the graded frame by more than the grade);
- `wide_stride`: every 2nd..`max_gap`-th frame of a shot, so that a missing frame between two kept ones
  has large motion and occlusion to rebuild, as in interpolation across a retime or a dropped run.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from engine.degrade import GAMMA


@dataclass(frozen=True)
class Grade:
    exposure_stops: float = 0.0
    white_balance: tuple[float, float, float] = (1.0, 1.0, 1.0)
    gamma: float = 1.0  # display-space power: > 1 darkens the mid-tones
    contrast: float = 1.0  # around mid-grey, display space


def production_grade(rng: np.random.Generator, max_stops: float = 2.0, max_wb_stops: float = 0.6) -> Grade:
    """A random grade error of the size seen on set: exposure within +-`max_stops`, channel gains up to
    `max_wb_stops` apart (green kept at 1), gamma 0.7..1.4, contrast 0.7..1.4."""
    wb = 2.0 ** rng.uniform(-max_wb_stops, max_wb_stops, 3)
    wb = wb / wb[1]
    return Grade(
        exposure_stops=float(rng.uniform(-max_stops, max_stops)),
        white_balance=(float(wb[0]), 1.0, float(wb[2])),
        gamma=float(np.exp(rng.uniform(np.log(0.7), np.log(1.4)))),
        contrast=float(np.exp(rng.uniform(np.log(0.7), np.log(1.4)))),
    )


def apply_grade(frames: np.ndarray, grade: Grade) -> np.ndarray:
    """`frames` (...,H,W,3 float 0..1, display-referred) under `grade`; highlights pushed over 1 clip."""
    lin = np.power(np.clip(frames, 0, 1), GAMMA) * (2.0**grade.exposure_stops)
    lin = lin * np.asarray(grade.white_balance, np.float32)
    disp = np.power(np.clip(lin, 0, 1), 1 / GAMMA)  # the clip: what went over white is gone
    disp = np.power(disp, grade.gamma)
    return np.clip((disp - 0.5) * grade.contrast + 0.5, 0, 1).astype(np.float32)


def compress_420(frame: np.ndarray, quality: int = 88) -> np.ndarray:
    """One frame (H,W,3 float 0..1 RGB) through 4:2:0 chroma subsampling and DCT quantisation (JPEG)."""
    u8 = np.clip(frame * 255 + 0.5, 0, 255).astype(np.uint8)
    params = [
        cv2.IMWRITE_JPEG_QUALITY,
        int(quality),
        cv2.IMWRITE_JPEG_SAMPLING_FACTOR,
        cv2.IMWRITE_JPEG_SAMPLING_FACTOR_420,
    ]
    ok, data = cv2.imencode(".jpg", np.ascontiguousarray(u8[..., ::-1]), params)
    if not ok:
        raise ValueError("OpenCV could not encode the frame as JPEG")
    decoded = cv2.imdecode(data, cv2.IMREAD_COLOR)
    return (np.asarray(decoded)[..., ::-1].astype(np.float32) / 255.0).copy()


def signal_grain(
    frames: np.ndarray,
    rng: np.random.Generator,
    strength: float = 0.05,
    read_noise: float = 0.01,
    grain_size: float = 0.7,
    quality: int | None = 88,
) -> np.ndarray:
    """Signal-dependent, spatially correlated grain (std about `strength` at white, `read_noise` in the
    blacks, in linear light), then each frame compressed 4:2:0 at `quality` (None: not compressed)."""
    src = np.clip(np.asarray(frames, np.float32), 0, 1)
    lin = np.power(src, GAMMA)
    std = np.sqrt(strength**2 * lin + read_noise**2)
    white = rng.normal(0.0, 1.0, src.shape).astype(np.float32)
    if grain_size > 0:
        flat = white.reshape(-1, *src.shape[-3:])
        for i in range(len(flat)):
            flat[i] = cv2.GaussianBlur(flat[i], (0, 0), grain_size)
        # keep unit variance after the blur: a gaussian kernel of sigma s scales it by 1 / (4 pi s^2)
        white = flat.reshape(src.shape) * np.float32(np.sqrt(4 * np.pi) * grain_size)
    noisy = np.power(np.clip(lin + std * white, 0, 1), 1 / GAMMA).astype(np.float32)
    if quality is None:
        return noisy
    flat_out = noisy.reshape(-1, *src.shape[-3:])
    return np.stack([compress_420(f, quality) for f in flat_out]).reshape(src.shape)


def reference_index(t: int, length: int, rng: np.random.Generator, near: int = 3, far: int = 12) -> int:
    """A frame `near`..`far` frames away from `t` inside a shot of `length` frames (t itself only when the
    shot has a single frame)."""
    if length < 2:
        return t
    offsets = [d for d in range(-far, far + 1) if near <= abs(d) and 0 <= t + d < length]
    if not offsets:
        offsets = [d for d in range(-length, length + 1) if d != 0 and 0 <= t + d < length]
    return t + int(offsets[int(rng.integers(0, len(offsets)))])


def wide_stride(length: int, rng: np.random.Generator, max_gap: int = 4) -> tuple[int, int]:
    """(start, stride) for taking every `stride`-th frame of a shot of `length` frames: motion `stride`
    times larger between the frames kept, at least 3 of them, `stride` in 2..max_gap ((0, 1) when the shot
    is too short for any gap)."""
    top = min(max_gap, (length - 1) // 2)
    if top < 2:
        return 0, 1
    stride = int(rng.integers(2, top + 1))
    start = int(rng.integers(0, length - 2 * stride))
    return start, stride
