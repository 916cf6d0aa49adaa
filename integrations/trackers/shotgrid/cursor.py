"""ShotGrid's reading position in the event log, as one opaque cursor string (compact JSON):

    {"last": 1234, "gaps": [[1230, 1717000000.0]], "waiting": [[1232, 17, 1717000000.0]]}

- `last`: the highest event id handled.
- `gaps`: ids below `last` not seen yet. ShotGrid hands out event ids before their transaction commits,
  so an id can show up after a higher one; missing ids are asked for again on every poll until they
  appear or a timeout passes (`expire`).
- `waiting` (fix requests only): a task was set to the fix status but no fix kinds could be read yet
  (the coordinator fills the fix field or writes the note a moment later); it is read again on every
  poll until kinds appear, the task leaves the fix status, or the timeout passes.

A bare event id ("1234") is read as a cursor with no gaps. JSON and the refusal of foreign text are the
shared `integrations.trackers.cursors`; the gap bookkeeping is ShotGrid's own (its ids are integers
handed out in order, unlike zou's, so a missing id can be named and asked for).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from integrations.trackers import cursors


@dataclass
class Cursor:
    last: int
    gaps: dict[int, float] = field(default_factory=dict)  # event id -> first noticed (unix time)
    waiting: dict[int, tuple[int, float]] = field(default_factory=dict)  # event id -> (task id, first seen)

    def dump(self) -> str:
        return cursors.dump(
            {
                "last": self.last,
                "gaps": [[k, v] for k, v in sorted(self.gaps.items())],
                "waiting": [[k, t, s] for k, (t, s) in sorted(self.waiting.items())],
            }
        )

    @classmethod
    def load(cls, text: str) -> Cursor:
        return cursors.load(text, "ShotGrid event", cls._parse)

    @classmethod
    def _parse(cls, data: Any) -> Cursor:
        if type(data) is int:
            return cls(data)
        return cls(
            int(data["last"]),
            {int(k): float(v) for k, v in data.get("gaps", [])},
            {int(k): (int(t), float(s)) for k, t, s in data.get("waiting", [])},
        )

    def advance(self, event_id: int, now: float, max_gap: int) -> None:
        """`event_id` was read: ids skipped below it become gaps (unless the jump is too big to track)."""
        if event_id - self.last <= max_gap:
            self.gaps.update({i: now for i in range(self.last + 1, event_id)})
        self.last = max(self.last, event_id)

    def expire(self, now: float, timeout: float) -> list[int]:
        """Forget gaps noticed more than `timeout` seconds ago; the ids given up on."""
        stale = [gap for gap, first_seen in self.gaps.items() if now - first_seen > timeout]
        for gap in stale:
            del self.gaps[gap]
        return stale
