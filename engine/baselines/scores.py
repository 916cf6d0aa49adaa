"""Held-out scores of the classical baselines, kept by the inputs they were computed on.

A baseline's score on a held-out frame depends only on that frame's inputs (the degraded frames the evaluation
drew and the true frame) and on the tool and its settings, never on the net being scored. So evaluation computes
it once per input: the parent's net, scored on the same frames (same seed, same noise), and a later run on the
same held-out clips reuse it instead of running the tool again (denoise's NL-means at every strength, single and
over three frames, is most of its evaluation time). The key is a BLAKE2 digest of the inputs' bytes, shapes and
types, the names of the scores and the OpenCV version, so a hit stands for the very same computation and the
comparison against the best baseline is the one the tool would make again.

The training loop hands one `BaselineScores` to every head's `evaluate` in its options (`OPTION`), loaded from a
JSON file beside the frame cache and saved after scoring (at most MAX_ENTRIES inputs, the oldest dropped).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

OPTION = "baseline_scores"  # the key of evaluate()'s options that holds the store
MAX_ENTRIES = 4096


class BaselineScores:
    """Baseline scores by input digest; `path` None keeps them for this run only."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self._known: dict[str, dict[str, float]] = _read(path) if path is not None else {}
        self.hits = 0
        self.misses = 0

    def scores(
        self, inputs: Sequence[np.ndarray], names: Sequence[str], compute: Callable[[], Mapping[str, float]]
    ) -> dict[str, float]:
        """The scores `names` of the baselines on `inputs`: remembered, or `compute()`d and remembered."""
        key = digest(inputs, names)
        known = self._known.get(key)
        if known is not None and set(known) == set(names):
            self.hits += 1
            return dict(known)
        self.misses += 1
        fresh = {name: float(value) for name, value in compute().items()}
        self._known.pop(key, None)
        self._known[key] = fresh
        return dict(fresh)

    def save(self) -> None:
        """Write the newest MAX_ENTRIES inputs' scores (atomically); a failure to write only loses the reuse."""
        if self.path is None:
            return
        kept = dict(list(self._known.items())[-MAX_ENTRIES:])
        tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")  # two runs may share the cache
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps(kept))
            os.replace(tmp, self.path)
        except OSError:
            pass


def store(options: Mapping[str, Any] | None) -> BaselineScores:
    """The store the caller handed in `options`, else one for this call only."""
    given = (options or {}).get(OPTION)
    return given if isinstance(given, BaselineScores) else BaselineScores()


def digest(inputs: Sequence[np.ndarray], names: Sequence[str]) -> str:
    h = hashlib.blake2b(digest_size=20)
    h.update(json.dumps([cv2.__version__, sorted(names)]).encode())
    for array in inputs:
        a = np.ascontiguousarray(array)
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(a.data)
    return h.hexdigest()


def _read(path: Path) -> dict[str, dict[str, float]]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {
        k: {n: float(v) for n, v in scores.items()}
        for k, scores in data.items()
        if isinstance(scores, dict) and all(isinstance(v, int | float) for v in scores.values())
    }
