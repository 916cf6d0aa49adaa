"""What evaluation costs, remembered from a show's last run so that a budgeted run keeps enough for it.

Two small JSON files in the frame cache, keyed by the heads trained, whether a parent is scored too and the
resolution (`memo_key`):
- `EvalMemo` (evaluation-seconds.json): how long the whole evaluation took; training stops early enough to
  leave that much (`eval_reserve`).
- `HeadCosts` (evaluation-head-seconds.json): per head, the longest held-out clip it took and the longest time
  per scored frame. Evaluation plans with them: a head is scored on one frame per clip when a whole clip would
  not end within its slice, and each head's slice leaves the later heads at least one frame each, so that the
  smallest fair score of every head (one frame) fits before the deadline instead of running past it.

A number kept shrinks by at most DECAY a run (an evaluation cut short by a spent budget takes less than a whole
one, and must not make the next run keep too little and overrun). With a parent never scored before, the times
without a parent count twice (the parent is scored on the same clips; the baselines' scores are shared, so
that is an upper bound). A damaged or missing file is no memory, never an error.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)
DECAY = 0.8  # what a memo keeps of a longer time each run
MAX_SHARE = 0.6  # evaluation never takes more than this share of what is left, but for its smallest score


def eval_reserve(left: float, share: float, last: float | None, least: float = 0.0) -> float:
    """Seconds kept for evaluation out of `left`: its share, or what the same evaluation took last time
    when that was more (evaluation has fixed costs a short budget's share may not cover), at most 60%; but
    never less than `least` (one frame of every head), the smallest evaluation a version is written with."""
    wanted = max(left * share, last or 0.0, least)
    return min(wanted, max(left * MAX_SHARE, min(least, left)))


def _load(path: Path) -> dict[str, Any]:
    try:
        known = json.loads(path.read_text()) if path.is_file() else {}
    except (OSError, ValueError):
        return {}
    return known if isinstance(known, dict) else {}


def _store(path: Path, known: dict[str, Any]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(known))
    except OSError:
        log.warning("cannot remember the evaluation time in %s", path)


def _alone(key: str) -> str | None:
    return key.replace("+parent@", "@") if "+parent@" in key else None


@dataclass(frozen=True)
class EvalMemo:
    """How long evaluating these heads took in the show's last run, so that the next run reserves that much."""

    path: Path
    key: str

    def last(self) -> float | None:
        """The seconds it took last time; with a parent never scored before, twice the time without one."""
        known = _load(self.path)
        value = known.get(self.key)
        alone = _alone(self.key)
        if value is None and alone is not None:
            single = known.get(alone)
            value = 2 * single if isinstance(single, int | float) else None
        return float(value) if isinstance(value, int | float) else None

    def remember(self, seconds: float) -> None:
        """Keep `seconds`, or DECAY of what was kept when that is more."""
        known = _load(self.path)
        kept = known.get(self.key)
        if isinstance(kept, int | float):
            seconds = max(seconds, DECAY * kept)
        known[self.key] = round(seconds, 2)
        _store(self.path, known)


@dataclass(frozen=True)
class HeadCost:
    clip: float = 0.0  # seconds of the longest held-out clip scored whole (with the parent's net when any)
    frame: float = 0.0  # seconds per scored frame, the most any clip took


@dataclass(frozen=True)
class HeadCosts:
    """Per head, what scoring took in the show's last run (see the module docstring)."""

    path: Path
    key: str

    def known(self) -> dict[str, HeadCost]:
        every = _load(self.path)
        entry, factor = every.get(self.key), 1.0
        alone = _alone(self.key)
        if not isinstance(entry, dict) and alone is not None:
            entry, factor = every.get(alone), 2.0
        if not isinstance(entry, dict):
            return {}
        out = {}
        for head, cost in entry.items():
            if isinstance(cost, dict):
                clip, frame = cost.get("clip", 0.0), cost.get("frame", 0.0)
                if isinstance(clip, int | float) and isinstance(frame, int | float):
                    out[head] = HeadCost(factor * float(clip), factor * float(frame))
        return out

    def remember(self, costs: dict[str, HeadCost]) -> None:
        """Keep each head's new costs, or DECAY of what was kept when that is more (a head scored on one frame
        this time keeps its whole-clip time)."""
        every = _load(self.path)
        entry = every.get(self.key)
        entry = entry if isinstance(entry, dict) else {}
        for head, cost in costs.items():
            found = entry.get(head)
            old: dict[str, Any] = found if isinstance(found, dict) else {}
            kept = {}
            for name, value in (("clip", cost.clip), ("frame", cost.frame)):
                before = old.get(name, 0.0)
                before = float(before) if isinstance(before, int | float) else 0.0
                kept[name] = round(max(value, DECAY * before) if value > 0 else before, 3)  # 0: not seen
            entry[head] = kept
        every[self.key] = entry
        _store(self.path, every)
