"""Kitsu's reading position in zou's event log, as one opaque cursor string (compact JSON):

    {"after": "2026-01-05T13:23:10", "seen": [["<event id>", "2026-01-05T13:23:09"], ...]}

zou stamps events to the second and an event may commit a moment after a later one, so each poll asks
again for the last OVERLAP seconds and skips the ids already in `seen` (pruned to that window). JSON and
the refusal of foreign text are the shared `integrations.trackers.cursors`; the overlap window is Kitsu's
own (zou's ids are uuids, so a missing one cannot be named the way ShotGrid's integer gaps are).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from integrations.trackers import cursors

OVERLAP = timedelta(seconds=30)
TIME_FORMAT = "%Y-%m-%dT%H:%M:%S"


def parse_time(value: Any) -> datetime:
    """zou's naive UTC timestamps ("2026-01-05T13:23:10", maybe with fractions) as naive datetimes."""
    return datetime.fromisoformat(str(value)).replace(tzinfo=None, microsecond=0)


def format_time(value: datetime) -> str:
    return value.strftime(TIME_FORMAT)


@dataclass
class Cursor:
    after: datetime | None = None  # the newest event time handled
    seen: dict[str, datetime] = field(default_factory=dict)  # ids handled within OVERLAP of `after`

    def dump(self) -> str:
        seen = [[key, format_time(at)] for key, at in sorted(self.seen.items(), key=lambda i: i[1])]
        return cursors.dump({"after": format_time(self.after) if self.after else None, "seen": seen})

    @classmethod
    def load(cls, text: str) -> Cursor:
        return cursors.load(text, "Kitsu", cls._parse)

    @classmethod
    def _parse(cls, data: Any) -> Cursor:
        after = parse_time(data["after"]) if data.get("after") else None
        return cls(after, {str(key): parse_time(at) for key, at in data.get("seen", [])})

    def query_after(self) -> datetime | None:
        return self.after - OVERLAP if self.after else None

    def mark(self, key: str, at: datetime) -> None:
        self.seen[key] = at
        if self.after is None or at > self.after:
            self.after = at

    def prune(self) -> None:
        if self.after is not None:
            floor = self.after - OVERLAP
            self.seen = {key: at for key, at in self.seen.items() if at >= floor}
