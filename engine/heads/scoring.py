"""The tail every head's evaluate() shares: per-frame scores averaged into a head's metrics.

A head collects, for each held-out frame, "psnr", "ssim" and "psnr_<baseline>" for each of its
`baselines` (plus scores of its own, e.g. "psnr_base", its classical base alone). `summarize` averages each
list (arithmetic mean of the per-frame values, in the order given), adds "baseline_best" (the best of the
head's baselines: what the promotion rule compares the head against) and "frames" (how many frames were
scored), and refuses an empty sheet with the head's own one-line reason (a HeadError, so a ValueError).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from engine.heads.base import Head, HeadError


def score_sheet(*keys: str) -> dict[str, list[float]]:
    """An empty sheet: one list of per-frame scores per key."""
    return {k: [] for k in keys}


def summarize(head: Head, scores: Mapping[str, Sequence[float]], empty: str) -> dict[str, float]:
    """Mean of each score, then "baseline_best" and "frames"; `empty` is the error when no frame was scored."""
    if not scores.get("psnr"):
        raise HeadError(empty)
    res = {k: float(np.mean(v)) for k, v in scores.items()}
    res["baseline_best"] = max(res[f"psnr_{b}"] for b in head.baselines)
    res["frames"] = float(len(scores["psnr"]))
    return res
