"""Which of a run's clips it trains on, so that decoding a show's dailies cannot eat its budget.

A show's dailies pile up: hundreds of takes of thousands of frames, decoded at 60-70 frames/s from 1080p
on two cores (slower from 4K). Decoding them all before the first step would spend a 10-minute budget, or a
night's, on a first run. So a budgeted run loads:
- every clip already in the frame cache (a memory map, not a decode) or given as frames in memory, and
- the others newest first (callers list clips oldest first, as the catalog does) until `decode_share` of
  the budget is spent (at least LEAST_DECODE_SECONDS: a short run on a few small dailies decodes them all,
  however busy the machine), each clip's time counting its second decoding at the footage's own size when a
  head learns there (engine.train.native); at least one clip is always loaded. The rest wait: a later run
  finds the clips decoded here in the cache and decodes more, so the model reaches every daily over a few
  runs.
- A run resumed from its checkpoint trains on exactly the clips it started with (their ids and content hashes
  are kept in the checkpoint folder, CLIPS_FILE), so a clip it trained on can never land on the held-out side;
  where one of them is gone or holds other content since, its checkpoint learned from footage the run can no
  longer list, so the run starts afresh (a base run is refused instead: engine.train.base).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

from engine.train.checkpoint import read_json
from engine.train.dataset import LoadedClip, TrainClip

CLIPS_FILE = "clips.json"
LEAST_DECODE_SECONDS = 20.0


def decode_seconds(share: float, budget_seconds: float) -> float:
    """How long a run of `budget_seconds` may decode clips not yet cached."""
    return max(share * budget_seconds, LEAST_DECODE_SECONDS)


def choose_clips(
    sources: Sequence[TrainClip],
    cached: Callable[[TrainClip], LoadedClip | None],
    decode: Callable[[TrainClip], LoadedClip],
    until: float,
    clock: Callable[[], float],
) -> list[LoadedClip]:
    """The cached clips, then decoded ones newest first until `clock()` reaches `until`; in the given order."""
    found = [cached(c) for c in sources]
    for i in reversed(range(len(sources))):
        if found[i] is not None:
            continue
        if clock() >= until and any(f is not None for f in found):
            break
        found[i] = decode(sources[i])
    return [f for f in found if f is not None]


def _recorded(checkpoint: Path) -> dict[str, str] | None:
    """The clips an interrupted run started with, id -> content hash ("" where a run recorded ids only)."""
    listed = checkpoint / CLIPS_FILE
    if not listed.is_file():
        return None
    recorded = read_json(listed)
    return recorded if isinstance(recorded, dict) else dict.fromkeys(recorded, "")


def started_with(checkpoint: Path, sources: Sequence[TrainClip]) -> list[TrainClip] | None:
    """The clips an interrupted run started with (those still given), or None when none were recorded."""
    recorded = _recorded(checkpoint)
    if recorded is None:
        return None
    return [c for c in sources if c.id in recorded]


def changed_since_start(checkpoint: Path, sources: Sequence[TrainClip]) -> list[str]:
    """What became of the clips an interrupted run started with that `sources` no longer give as they were,
    one phrase each ("ID is gone", "ID holds other content"): its checkpoint learned from them, so a run
    resumed without them would list clips other than those its weights came from."""
    given = {c.id: c.content_hash for c in sources}
    changed = []
    for clip_id, content_hash in (_recorded(checkpoint) or {}).items():
        if clip_id not in given:
            changed.append(f"{clip_id} is gone")
        elif content_hash and given[clip_id] and given[clip_id] != content_hash:
            changed.append(f"{clip_id} holds other content")
    return changed


def record_start(checkpoint: Path, loaded: Sequence[LoadedClip]) -> None:
    """Keep the ids and content hashes of the clips a run trains on in its checkpoint folder (see started_with
    and changed_since_start)."""
    checkpoint.mkdir(parents=True, exist_ok=True)
    tmp = checkpoint / (CLIPS_FILE + ".tmp")
    tmp.write_text(json.dumps({c.record.id: c.record.content_hash for c in loaded}))
    tmp.replace(checkpoint / CLIPS_FILE)
