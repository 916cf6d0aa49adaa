"""Shot boundaries inside a clip: hard cuts found with PySceneDetect's detectors.

Dailies are usually one shot each, but an editorial reference, a trailer or a stringout has cuts in it. The
temporal heads must not learn (or be scored) across a cut: a frame rebuilt from neighbours on both sides of
a cut, a "reference of the same shot" taken from another shot, or a denoiser fed the next shot's frames as
its aligned neighbours is not what a user would ever ask for. Training and evaluation therefore work on
shots: `split_shots` cuts a clip's frames into runs without a cut.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable

import cv2
import numpy as np
from scenedetect.detectors import AdaptiveDetector, ContentDetector, HistogramDetector
from scenedetect.scene_detector import FlashFilter

# A cut is a frame whose content change (PySceneDetect's weighted HSV score, 0..255) stands out 3x from the
# two frames either side (AdaptiveDetector: a fast camera move changes every frame a lot, a cut only one),
# or any change of at least HARD_CUT, which no camera move gave on the benchmark footage (docs/benchmarks.md:
# its camera moves score under 12, a fast synthetic whip pan 34, the cuts in its cg clips 45-70).
HARD_CUT = 45.0
PAIR_CONTENT = 30.0  # is_cut(): both a content change of this much ...
PAIR_CORRELATION = 0.8  # ... and a luma histogram correlation below this
MIN_SHOT = 3  # frames: a cut closer than this to the previous one is taken as a flash, not a cut
WIDTH = 256  # frames are scored at this width (the detector's result hardly depends on size; speed does)


def _as_bgr_u8(frame: np.ndarray) -> np.ndarray:
    u8 = frame if frame.dtype == np.uint8 else (np.clip(frame, 0, 1) * 255 + 0.5).astype(np.uint8)
    if u8.ndim != 3 or u8.shape[2] != 3:
        raise ValueError(f"shot detection needs RGB frames (H, W, 3), got shape {u8.shape}")
    h, w = u8.shape[:2]
    if w > WIDTH:
        u8 = cv2.resize(u8, (WIDTH, max(1, round(h * WIDTH / w))), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(u8[..., ::-1])


def find_cuts(
    frames: Iterable[np.ndarray], hard_cut: float = HARD_CUT, min_shot: int = MIN_SHOT
) -> list[int]:
    """Indices of the frames that start a new shot (never 0), in order."""
    adaptive = AdaptiveDetector(min_scene_len=min_shot)
    hard = ContentDetector(threshold=hard_cut, min_scene_len=min_shot, filter_mode=FlashFilter.Mode.SUPPRESS)
    cuts: list[int] = []
    for i, frame in enumerate(frames):
        bgr = _as_bgr_u8(np.asarray(frame))
        cuts += adaptive.process_frame(i, bgr) + hard.process_frame(i, bgr)
    kept: list[int] = []
    for c in sorted(set(cuts)):  # the two detectors may name neighbouring frames for one cut
        if c > 0 and (not kept or c - kept[-1] >= min_shot):
            kept.append(c)
    return kept


def shot_ranges(length: int, cuts: Iterable[int]) -> list[tuple[int, int]]:
    """[start, end) of every shot of a clip of `length` frames cut at `cuts`."""
    bounds = [0, *sorted(c for c in set(cuts) if 0 < c < length), length]
    return [(a, b) for a, b in itertools.pairwise(bounds) if b > a]


def split_shots(frames: np.ndarray, cuts: Iterable[int] | None = None) -> list[np.ndarray]:
    """The clip's frames (T,H,W,3) as one array (a view) per shot; `cuts` default: find_cuts(frames)."""
    found = find_cuts(frames) if cuts is None else list(cuts)
    return [frames[a:b] for a, b in shot_ranges(len(frames), found)]


def is_cut(
    a: np.ndarray, b: np.ndarray, content: float = PAIR_CONTENT, correlation: float = PAIR_CORRELATION
) -> bool:
    """Whether frame `b` starts another shot than `a`, judged from the two frames alone: their pixels change
    a lot (content score >= `content`) and so does their luma histogram (correlation < `correlation`), which
    a camera move changes less (a whip pan over one photo kept it above 0.81 four frames apart; the cuts of
    the benchmark footage's cg clips fell to 0.73 and below)."""
    bgr_a, bgr_b = _as_bgr_u8(np.asarray(a)), _as_bgr_u8(np.asarray(b))
    detector = ContentDetector(threshold=content, min_scene_len=0)
    detector.process_frame(0, bgr_a)
    if not detector.process_frame(1, bgr_b):
        return False
    hist_a = HistogramDetector.calculate_histogram(bgr_a)
    hist_b = HistogramDetector.calculate_histogram(bgr_b)
    return float(cv2.compareHist(hist_a, hist_b, cv2.HISTCMP_CORREL)) < correlation
