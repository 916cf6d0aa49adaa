"""Shows: the code each piece of work hangs from, its config when it was added without YAML, its model state."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from daemon.catalog.db import insert_once
from daemon.catalog.models import Daily, FixRequest, Job, ModelVersion, Publication, Show


class UnknownShow(LookupError):
    """A show code the catalog does not hold."""

    def __init__(self, code: str) -> None:
        super().__init__(
            f"show {code!r} is not in the catalog; add it to the config's shows or with `rushes show add`"
        )
        self.code = code


def get_show(s: Session, code: str) -> Show | None:
    return s.scalars(select(Show).where(Show.code == code)).one_or_none()


def require_show(s: Session, code: str) -> Show:
    """The show with this code, or UnknownShow."""
    show = get_show(s, code)
    if show is None:
        raise UnknownShow(code)
    return show


def ensure_show(
    s: Session, code: str, name: str = "", config: dict[str, Any] | None = None
) -> tuple[Show, bool]:
    """The show with this code, created when missing -> (show, created). An existing show keeps its name and
    config unless new ones are given. Safe when several processes create the same show at once (the losers of
    the insert get the winner's row)."""
    show = get_show(s, code)
    if show is not None:
        if name and show.name != name:
            show.name = name
        if config is not None and show.config != config:
            show.config = dict(config)
        return show, False
    show = Show(code=code, name=name or code, config=dict(config or {}))
    # two daemons starting at once on PostgreSQL may both find it missing
    return insert_once(s, show, lambda: get_show(s, code))


def list_shows(s: Session) -> list[Show]:
    return list(s.scalars(select(Show).order_by(Show.code)))


def set_model_stale(s: Session, code: str, stale: bool = True) -> None:
    """Mark (or clear) that new dailies landed since the show's model was last trained."""
    require_show(s, code).model_stale = stale


def stale_shows(s: Session) -> list[Show]:
    return list(s.scalars(select(Show).where(Show.model_stale.is_(True)).order_by(Show.code)))


def wrap_show(s: Session, code: str, note: str | None, now: datetime) -> Show:
    """Mark the show wrapped at `now` with the producer's note (a show wrapped already keeps its first date, and
    its note unless a new one is given). Every row of the show stays; daemons stop watching, training and
    fixing it."""
    show = require_show(s, code)
    if show.wrapped_at is None:
        show.wrapped_at = now
    if note is not None:
        show.wrap_note = note
    return show


def reopen_show(s: Session, code: str) -> Show:
    """Take the show up again (pickups, reshoots): the daemons watch, train and fix it as before."""
    show = require_show(s, code)
    show.wrapped_at = None
    show.wrap_note = None
    return show


def wrapped_shows(s: Session) -> dict[str, datetime]:
    """The codes of the wrapped shows, with when each was wrapped."""
    rows = s.execute(select(Show.code, Show.wrapped_at).where(Show.wrapped_at.is_not(None)))
    return {code: when for code, when in rows if when is not None}


@dataclass(frozen=True)
class DeletedRows:
    """How many rows of each kind went with a show (`delete_show`)."""

    dailies: int
    model_versions: int
    fix_requests: int
    publications: int
    jobs: tuple[int, ...] = ()  # the ids of its jobs, whose logs (`job-N.log`) go with them


def delete_show(s: Session, code: str) -> DeletedRows:
    """Delete the show and every row that hangs from it: dailies and their copies, model versions, fix requests
    and their publications (the database cascades the deletes), and its jobs, which name the show as text: their
    keys would keep a show added again under the code from ingesting its files, and their request ids may be
    handed out again. The caller makes sure no job of the show is queued or running."""
    show = require_show(s, code)
    requests = select(FixRequest.id).where(FixRequest.show_id == show.id)
    job_ids = tuple(s.scalars(select(Job.id).where(Job.show == code).order_by(Job.id)))
    counted = DeletedRows(
        dailies=s.scalar(select(func.count()).where(Daily.show_id == show.id)) or 0,
        model_versions=s.scalar(select(func.count()).where(ModelVersion.show_id == show.id)) or 0,
        fix_requests=s.scalar(select(func.count()).where(FixRequest.show_id == show.id)) or 0,
        publications=s.scalar(select(func.count()).where(Publication.fix_request_id.in_(requests))) or 0,
        jobs=job_ids,
    )
    s.execute(delete(Job).where(Job.show == code))
    s.delete(show)
    s.flush()
    return counted
