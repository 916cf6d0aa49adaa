"""The promotion rule: a head of a new model replaces the promoted one only when it is not worse."""

from __future__ import annotations

from collections.abc import Mapping

TOLERANCE_DB = 0.05  # evaluation noise allowed when comparing with the parent on the same clips


def promotable(
    metrics: Mapping[str, Mapping[str, float]],
    parent_metrics: Mapping[str, Mapping[str, float]] | None = None,
    tolerance_db: float = TOLERANCE_DB,
) -> dict[str, bool]:
    """Per head: True when its PSNR on the held-out clips beats its best classical baseline and is not
    worse (within `tolerance_db`) than the parent's on the same clips. A head without a parent only needs
    to beat the baseline."""
    out: dict[str, bool] = {}
    for head, m in metrics.items():
        ours = m.get("psnr")
        if ours is None:
            out[head] = False
            continue
        beats_baseline = ours > m.get("baseline_best", float("-inf"))
        parent = (parent_metrics or {}).get(head, {}).get("psnr")
        not_worse = parent is None or ours >= parent - tolerance_db
        out[head] = bool(beats_baseline and not_worse)
    return out
