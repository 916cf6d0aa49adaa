"""The classical tool a fix falls back to when its head does not beat it on the show's held-out clips.

denoise and upscale stream their best baseline by held-out PSNR: OpenCV non-local means on each frame
("nlmeans", at the strength that scored best) or over the frame and its two neighbours ("nlmeans_multi"),
and Lanczos or bicubic resizing ("lanczos", "bicubic"). interpolate, cleanup and regrade fall back to the
head's own classical base, which a fresh (untrained) net is exactly, so that frame selection, masks and the
LUT keep working: DIS optical-flow interpolation, temporal fill plus Telea inpainting, and the matched grade
(engine.baselines.color: the reference's exposure, white balance, gamma and contrast fitted on the pixels the two
frames share; `FRESH_NET`). Frames are `(number, H,W,3 float32)` pairs, numbers preserved.

OpenCV's NL-means works on 8-bit pictures only: a frame deeper than that (10-bit video, a 16-bit PNG, a DPX, an
EXR's working encoding) gets the filter's 8-bit result plus its own detail finer than an 8-bit step
(`_with_fine_detail`), so its gradients keep their steps instead of being banded into 256.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator, Mapping

import numpy as np

from engine.baselines.restore import denoise_nlmeans, denoise_nlmeans_multi, upscale_bicubic, upscale_lanczos

FRESH_NET = {"interpolate": "dis", "cleanup": "telea", "regrade": "matched_grade"}
STREAMED = {"denoise": ("nlmeans", "nlmeans_multi"), "upscale": ("lanczos", "bicubic")}
LABELS = {
    "nlmeans": "NL-means",
    "nlmeans_multi": "NL-means over 3 frames",
    "lanczos": "Lanczos",
    "bicubic": "bicubic",
    "dis": "DIS optical flow",
    "telea": "temporal fill + Telea",
    "matched_grade": "matched grade",
    "reinhard": "Reinhard colour transfer",
    "histogram": "histogram matching",
}
# A fallback tool as versions made before 2026-12-07 recorded it: regrade's said Reinhard, the matched grade ran.
RECORDED_AS = {"reinhard": "matched_grade"}

Numbered = tuple[int, np.ndarray]


def fallback_tool(head: str, scores: Mapping[str, float]) -> str:
    """The tool a fix of `head` falls back to: the best streamed baseline by held-out PSNR, or the head's
    classical base."""
    if head in FRESH_NET:
        return FRESH_NET[head]
    names = STREAMED.get(head, ())
    scored = [n for n in names if f"psnr_{n}" in scores]
    return max(scored, key=lambda n: scores[f"psnr_{n}"]) if scored else (names[0] if names else "")


def label(tool: str) -> str:
    return LABELS.get(tool, tool)


def recorded_tool(source: str) -> str:
    """The tool a manifest's "baseline:<tool>" source names, by its current name."""
    tool = source.split(":", 1)[1]
    return RECORDED_AS.get(tool, tool)


def baseline_frames(
    head: str, tool: str, frames: Iterable[Numbered], scores: Mapping[str, float]
) -> Iterator[Numbered] | None:
    """The fallback's frames, streaming; None when the head falls back to a fresh net (its classical base)."""
    if head in FRESH_NET:
        return None
    if tool == "nlmeans":
        strength = float(scores.get("nlmeans_strength", 10.0))
        return ((n, _with_fine_detail(f, denoise_nlmeans(f, strength))) for n, f in frames)
    if tool == "nlmeans_multi":
        return _nlmeans_multi(frames, float(scores.get("nlmeans_multi_strength", 10.0)))
    if tool == "lanczos":
        return ((n, upscale_lanczos(f)) for n, f in frames)
    if tool == "bicubic":
        return ((n, upscale_bicubic(f)) for n, f in frames)
    raise ValueError(f"no classical fallback {tool!r} for {head}")


def _nlmeans_multi(frames: Iterable[Numbered], strength: float) -> Iterator[Numbered]:
    """Each frame denoised with its neighbours (a clip's first and last frame, or a lone one: alone)."""
    window: deque[Numbered] = deque(maxlen=3)
    first = True
    for item in frames:
        window.append(item)
        if len(window) == 2 and first:
            yield window[0][0], _with_fine_detail(window[0][1], denoise_nlmeans(window[0][1], strength))
            first = False
        elif len(window) == 3:
            multi = denoise_nlmeans_multi([f for _, f in window], strength)
            yield window[1][0], _with_fine_detail(window[1][1], multi)
    if window:
        yield window[-1][0], _with_fine_detail(window[-1][1], denoise_nlmeans(window[-1][1], strength))


_STEP = np.float32(1 / 255)


def _with_fine_detail(frame: np.ndarray, denoised: np.ndarray) -> np.ndarray:
    """`denoised` (NL-means' result, in 8-bit steps) plus what `frame` holds finer than the 8-bit step it was
    rounded to for the filter (at most half a step; nothing for an 8-bit frame)."""
    steps = np.floor(np.clip(frame, 0, 1) * 255 + 0.5) * _STEP
    fine = np.clip(frame - steps, -_STEP / 2, _STEP / 2)
    return np.clip(denoised + fine, 0, 1).astype(np.float32)
