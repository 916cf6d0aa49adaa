"""Classical interpolation baselines a user would pick instead: ffmpeg minterpolate, DIS + backward warp, blend.

Each takes two neighbouring frames (float32 RGB 0..1, H x W x 3) or a whole sequence, and returns the
frames halfway between consecutive frames.
"""

from __future__ import annotations

import shutil
import subprocess

import numpy as np

from engine import flow


class BaselineError(RuntimeError):
    """A classical baseline could not run (a missing tool or a failed subprocess)."""


def linear_blend(f0: np.ndarray, f1: np.ndarray, t: float = 0.5) -> np.ndarray:
    return ((1 - t) * f0 + t * f1).astype(np.float32)


DIS_BASELINE = flow.FlowConfig(
    preset="medium",
    finest_scale=None,
    downscale=1.0,
    max_work_pixels=None,
    method="backward",
    quadratic=False,
)


def dis_backward(f0: np.ndarray, f1: np.ndarray, t: float = 0.5) -> np.ndarray:
    """Plain OpenCV DIS flow (medium preset) both ways, naive backward warp of both frames, blended."""
    return flow.interpolate(f0, f1, t, config=DIS_BASELINE)


def minterpolate_midpoints(frames: np.ndarray, timeout: float = 600.0) -> np.ndarray:
    """ffmpeg minterpolate (mci, aobmc, bidir, vsbmc) doubling the rate: the N-1 frames between N inputs."""
    exe = shutil.which("ffmpeg")
    if exe is None:
        raise BaselineError(
            "ffmpeg is not on PATH; install it (apt-get install ffmpeg) to run this baseline."
        )
    n, h, w, _ = frames.shape
    if n < 2:
        return frames[:0].copy()
    # minterpolate repeats its first frame and drops its last: pad two mirrored frames at each end.
    pad = 2 if n >= 3 else 1
    padded = np.concatenate([frames[pad:0:-1], frames, frames[-2 : -2 - pad : -1]])
    raw = (np.clip(padded, 0, 1) * 255 + 0.5).astype(np.uint8).tobytes()
    cmd = [
        exe, "-v", "error", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-r", "1", "-i", "-",
        "-filter:v", "minterpolate=fps=2:mi_mode=mci:mc_mode=aobmc:me_mode=bidir:vsbmc=1",
        "-f", "rawvideo", "-pix_fmt", "rgb24", "-",
    ]  # fmt: skip
    try:
        proc = subprocess.run(cmd, input=raw, capture_output=True, timeout=timeout, check=True)
    except subprocess.CalledProcessError as exc:
        raise BaselineError(
            f"ffmpeg minterpolate failed: {exc.stderr.decode(errors='replace')[-300:]}"
        ) from exc
    data = np.frombuffer(proc.stdout, np.uint8)
    count = data.size // (h * w * 3)
    out = data[: count * h * w * 3].reshape(count, h, w, 3).astype(np.float32) / 255
    first = 2 * pad + 1  # output 2p is padded input p; 2p + 1 lies halfway to p + 1
    if count < first + 2 * (n - 1) - 1:
        raise BaselineError(f"ffmpeg minterpolate returned {count} frames for {n} inputs; expected more.")
    return out[first : first + 2 * (n - 1) : 2]
