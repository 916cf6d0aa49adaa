"""Tracker cursors: where each event stream was read up to, saved in the same transaction as the work
the events caused, so a crash neither loses nor repeats an event."""

from __future__ import annotations

from sqlalchemy.orm import Session

from daemon.catalog.db import utcnow
from daemon.catalog.models import TrackerCursor


def get_cursor(s: Session, name: str) -> str | None:
    row = s.get(TrackerCursor, name)
    return row.value if row is not None else None


def set_cursor(s: Session, name: str, value: str) -> None:
    """Store the cursor inside the caller's transaction: it commits or rolls back with the caller's work."""
    row = s.get(TrackerCursor, name)
    if row is None:
        s.add(TrackerCursor(name=name, value=value, updated_at=utcnow()))
    else:
        row.value = value
        row.updated_at = utcnow()
    s.flush()
