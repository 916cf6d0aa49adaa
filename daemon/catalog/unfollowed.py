"""Fix requests read on a tracker project that no show follows: kept so that `rushes status` (and /readyz) say
so, since such a request is taken by nobody and its task stays in the fix status.

Guarantees: a request is recorded once by its key (the poller and a webhook may both read it); rows older than
`KEPT` are dropped as new ones come, so the table stays small where another Rushes follows such projects;
`unfollowed_projects` groups what is kept by tracker and project, oldest first. Whether a show follows a project
now is the caller's to judge (the shows change without the catalog's rows changing).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from daemon.catalog.db import insert_once, utcnow
from daemon.catalog.models import UnfollowedRequest

KEPT = timedelta(days=30)  # how long a request on an unfollowed project is remembered


@dataclass(frozen=True)
class UnfollowedProject:
    """The requests read on one tracker project that no show followed when they came."""

    tracker: str
    project: str
    names: tuple[str, ...]  # every name the project goes by, its code (where it has one) first
    requests: int
    since: datetime  # the first such request kept
    last: datetime  # the newest
    shots: tuple[str, ...]  # their shots, in the order first asked


def record_unfollowed(
    s: Session,
    tracker: str,
    key: str,
    project: str,
    names: Sequence[str],
    shot: str,
    now: datetime,
) -> bool:
    """Remember a request on a project no show follows (once per key); returns whether it was new."""
    s.execute(delete(UnfollowedRequest).where(UnfollowedRequest.seen_at < now - KEPT))
    if s.get(UnfollowedRequest, key) is not None:
        return False
    row = UnfollowedRequest(
        key=key,
        tracker=tracker[:50],
        project=project[:200],
        names=[n[:200] for n in names],
        shot=shot[:200],
        seen_at=now,
    )
    _, created = insert_once(s, row, lambda: s.get(UnfollowedRequest, key))
    return created


def unfollowed_projects(s: Session, now: datetime | None = None) -> list[UnfollowedProject]:
    """What was read in the last `KEPT` (before `now`), a line per tracker and project, the one with the oldest
    request first: an old line goes by itself, whether or not new requests come to prune it."""
    since = (now or utcnow()) - KEPT
    groups: dict[tuple[str, str], list[UnfollowedRequest]] = {}
    for row in s.scalars(
        select(UnfollowedRequest)
        .where(UnfollowedRequest.seen_at >= since)
        .order_by(UnfollowedRequest.seen_at, UnfollowedRequest.key)
    ):
        groups.setdefault((row.tracker, row.project), []).append(row)
    return [
        UnfollowedProject(
            tracker,
            project,
            tuple(rows[-1].names) or (project,),
            len(rows),
            rows[0].seen_at,
            rows[-1].seen_at,
            tuple(dict.fromkeys(r.shot for r in rows)),
        )
        for (tracker, project), rows in groups.items()
    ]
