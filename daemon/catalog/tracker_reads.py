"""How each daemon's reads of the tracker go: one row per daemon machine, written by its tracker poller and
read by `rushes status`, so a tracker that refuses Rushes or cannot be reached is seen without reading logs.

Guarantees: `since` moves only when the reads change between going through and failing, so it says how long
that has lasted (a new reason for failing is stored, `since` kept); `read_at` is the last good read and
`checked_at` the last round of any outcome. A row is written when something changes, else at most once a
`REFRESH_S`, so a poller writes little; a row whose `checked_at` grows old is a daemon that stopped polling.
Writers race benignly: two daemons of one machine share its row, and a first insert lost to the other is
taken up by the next round.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from daemon.catalog.models import TrackerRead

REFRESH_S = 60.0  # how stale `checked_at` may get while nothing changes


@dataclass(frozen=True)
class ReadState:
    """One daemon machine's reads of the tracker, as `rushes status` shows them."""

    host: str
    tracker: str
    problem: str | None
    since: datetime
    read_at: datetime | None
    checked_at: datetime


def record_read(s: Session, host: str, tracker: str, problem: str | None, now: datetime) -> bool:
    """Store how a round of reads went (`problem` None: it went through); returns whether the row was written."""
    host = host[:200]
    row = s.get(TrackerRead, host)
    if row is None:
        read_at = None if problem else now
        s.add(
            TrackerRead(
                host=host, tracker=tracker, problem=problem, since=now, read_at=read_at, checked_at=now
            )
        )
        s.flush()
        return True
    flipped = (row.problem is None) != (problem is None) or row.tracker != tracker
    due = now - row.checked_at >= timedelta(seconds=REFRESH_S)
    if not flipped and row.problem == problem and not due:
        return False
    if flipped:
        row.since = now
    row.tracker, row.problem, row.checked_at = tracker, problem, now
    if problem is None:
        row.read_at = now
    s.flush()
    return True


def read_states(s: Session, checked_after: datetime | None = None) -> list[ReadState]:
    """Every daemon machine's reads, by host; `checked_after`: only those that polled since then."""
    query = select(TrackerRead).order_by(TrackerRead.host)
    if checked_after is not None:
        query = query.where(TrackerRead.checked_at > checked_after)
    return [
        ReadState(r.host, r.tracker, r.problem, r.since, r.read_at, r.checked_at) for r in s.scalars(query)
    ]
