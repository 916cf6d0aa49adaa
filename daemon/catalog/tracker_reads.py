"""How each daemon's reads of the tracker go: one row per daemon machine, written by its tracker poller and
read by `rushes status`, so a tracker that refuses Rushes or cannot be reached is seen without reading logs.

Guarantees: `since` moves only when the reads change between going through and failing, so it says how long
that has lasted (a new reason for failing is stored, `since` kept); `read_at` is the last good read. A row is written at most
once a `REFRESH_S` while nothing changes, so a healthy poller writes little.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from daemon.catalog.models import TrackerRead

REFRESH_S = 60.0  # how stale `read_at` may get while reads go through and nothing else changes


@dataclass(frozen=True)
class ReadState:
    """One daemon's reads of the tracker, as `rushes status` shows them."""

    host: str
    tracker: str
    problem: str | None
    since: datetime
    read_at: datetime | None


def record_read(s: Session, host: str, tracker: str, problem: str | None, now: datetime) -> bool:
    """Store how a round of reads went (`problem` None: it went through); returns whether a row changed."""
    row = s.get(TrackerRead, host)
    if row is None:
        s.add(
            TrackerRead(
                host=host, tracker=tracker, problem=problem, since=now, read_at=None if problem else now
            )
        )
        s.flush()
        return True
    flipped = (row.problem is None) != (problem is None) or row.tracker != tracker
    stale = problem is None and (row.read_at is None or now - row.read_at >= timedelta(seconds=REFRESH_S))
    if not flipped and row.problem == problem and not stale:
        return False
    if flipped:
        row.since = now
    row.tracker, row.problem = tracker, problem
    if problem is None:
        row.read_at = now
    s.flush()
    return True


def read_states(s: Session) -> list[ReadState]:
    """Every daemon's reads, by host."""
    rows = s.scalars(select(TrackerRead).order_by(TrackerRead.host))
    return [ReadState(r.host, r.tracker, r.problem, r.since, r.read_at) for r in rows]
