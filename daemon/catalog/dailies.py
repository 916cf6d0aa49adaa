"""Dailies: every movie or image sequence found under a show's ingest roots, registered once per content.

Registering is idempotent by (path, size, mtime, content hash): the same tuple again returns the existing
row; the same path with new content supersedes the old row. An unreadable file is quarantined with a
one-line reason, idempotently by (path, size, mtime).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from fractions import Fraction

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from daemon.catalog.db import utcnow
from daemon.catalog.models import Daily, Show
from daemon.catalog.shows import require_show

REASON_LIMIT = 500


@dataclass(frozen=True)
class DailyFacts:
    """What ingest learnt about one daily: where it is, its identity on disk, and what the probe found."""

    path: str  # a movie path, or a sequence pattern (/x/A010.####.exr)
    size_bytes: int  # the movie's size, or the sum over a sequence's frames
    mtime: float  # seconds since the epoch (the newest frame's, for a sequence)
    content_hash: str
    root: str = ""
    kind: str = "movie"  # movie | sequence
    shot: str | None = None
    take: str | None = None
    first_frame: int | None = None
    last_frame: int | None = None
    frame_count: int | None = None
    fps: str | Fraction | None = None  # stored exactly as text: "24000/1001", "25"
    width: int | None = None
    height: int | None = None
    codec: str | None = None
    pix_fmt: str | None = None
    timecode: str | None = None
    missing_frames: Sequence[int] = field(default_factory=tuple)


def fps_text(fps: str | Fraction | float | None) -> str | None:
    """24000/1001 -> "24000/1001", Fraction(25) -> "25", "24" -> "24"."""
    if fps is None:
        return None
    if isinstance(fps, str):
        return str(Fraction(fps.strip()))
    return str(Fraction(fps).limit_denominator(1001))


def one_line(reason: str) -> str:
    line = " ".join(reason.strip().split()) or "unreadable"
    return line if len(line) <= REASON_LIMIT else line[: REASON_LIMIT - 1] + "…"


def current_daily(s: Session, show: str, path: str) -> Daily | None:
    """The row for this path that is not superseded (registered or quarantined), if any."""
    return s.scalars(
        select(Daily)
        .join(Daily.show)
        .where(Show.code == show, Daily.path == path, Daily.status != "superseded")
    ).one_or_none()


def register_daily(s: Session, show: str, facts: DailyFacts) -> tuple[Daily, bool]:
    """Record a readable daily -> (daily, created). The same (path, size, mtime, hash) returns the existing
    row with created False; new content at the same path supersedes the old row."""
    if facts.kind not in ("movie", "sequence"):
        raise ValueError(f"daily kind must be movie or sequence, not {facts.kind!r}")
    show_row = require_show(s, show)
    for _ in range(3):
        old = current_daily(s, show, facts.path)
        if old is not None and old.status == "registered" and _same_file(old, facts):
            return old, False
        try:
            with s.begin_nested():
                if old is not None:
                    old.status = "superseded"
                    s.flush()
                daily = _new_daily(show_row, facts)
                s.add(daily)
                s.flush()
        except IntegrityError:
            continue  # another process registered this path between our read and write: look again
        return daily, True
    raise RuntimeError(f"could not register {facts.path}: it keeps changing under concurrent ingest")


def quarantine(
    s: Session, show: str, path: str, size_bytes: int, mtime: float, reason: str, root: str = ""
) -> tuple[Daily, bool]:
    """Record that a file could not be read -> (daily, created). The same (path, size, mtime) again returns the
    existing quarantined row (its reason refreshed); a changed file gets a new row that supersedes the old."""
    show_row = require_show(s, show)
    for _ in range(3):
        old = current_daily(s, show, path)
        if (
            old is not None
            and old.status == "quarantined"
            and (old.size_bytes, old.mtime) == (size_bytes, mtime)
        ):
            old.error = one_line(reason)
            return old, False
        try:
            with s.begin_nested():
                if old is not None:
                    old.status = "superseded"
                    s.flush()
                daily = Daily(
                    show=show_row,
                    path=path,
                    root=root,
                    size_bytes=size_bytes,
                    mtime=mtime,
                    status="quarantined",
                    error=one_line(reason),
                    missing_frames=[],
                )
                s.add(daily)
                s.flush()
        except IntegrityError:
            continue
        return daily, True
    raise RuntimeError(f"could not quarantine {path}: it keeps changing under concurrent ingest")


def _same_file(row: Daily, facts: DailyFacts) -> bool:
    return (row.size_bytes, row.mtime, row.content_hash) == (
        facts.size_bytes,
        facts.mtime,
        facts.content_hash,
    )


def _new_daily(show: Show, facts: DailyFacts) -> Daily:
    return Daily(
        show=show,
        path=facts.path,
        root=facts.root,
        shot=facts.shot,
        take=facts.take,
        kind=facts.kind,
        first_frame=facts.first_frame,
        last_frame=facts.last_frame,
        frame_count=facts.frame_count,
        fps=fps_text(facts.fps),
        width=facts.width,
        height=facts.height,
        codec=facts.codec,
        pix_fmt=facts.pix_fmt,
        timecode=facts.timecode,
        missing_frames=sorted(int(f) for f in facts.missing_frames),
        size_bytes=facts.size_bytes,
        mtime=facts.mtime,
        content_hash=facts.content_hash,
        status="registered",
    )


def get_daily(s: Session, daily_id: int) -> Daily | None:
    return s.get(Daily, daily_id)


def list_dailies(
    s: Session,
    show: str,
    *,
    shot: str | None = None,
    status: str | None = "registered",
    since: datetime | None = None,
    limit: int | None = None,
) -> list[Daily]:
    """A show's dailies, oldest first; `status=None` lists every status, `since` only rows created after it."""
    query = select(Daily).join(Daily.show).where(Show.code == show)
    if shot is not None:
        query = query.where(Daily.shot == shot)
    if status is not None:
        query = query.where(Daily.status == status)
    if since is not None:
        query = query.where(Daily.created_at > since)
    return list(s.scalars(query.order_by(Daily.id).limit(limit)))


def dailies_for_shot(s: Session, show: str, shot: str) -> list[Daily]:
    """The registered dailies of one shot, oldest first (the newest take last)."""
    return list_dailies(s, show, shot=shot)


def quarantined(s: Session, show: str | None = None) -> list[Daily]:
    """Files that could not be read, with their reasons (every show when `show` is None)."""
    query = select(Daily).join(Daily.show).where(Daily.status == "quarantined")
    if show is not None:
        query = query.where(Show.code == show)
    return list(s.scalars(query.order_by(Daily.id)))


def shots(s: Session, show: str) -> list[str]:
    """The shot codes a show's registered dailies were matched to."""
    query = (
        select(Daily.shot)
        .join(Daily.show)
        .where(Show.code == show, Daily.status == "registered", Daily.shot.is_not(None))
        .distinct()
        .order_by(Daily.shot)
    )
    return [shot for shot in s.scalars(query) if shot is not None]


def status_counts(s: Session, show: str | None = None) -> dict[tuple[str, str], int]:
    """{(show code, status): number of dailies}."""
    query = select(Show.code, Daily.status, func.count()).join(Daily.show).group_by(Show.code, Daily.status)
    if show is not None:
        query = query.where(Show.code == show)
    return {(code, status): n for code, status, n in s.execute(query)}


def exclude_daily(s: Session, daily_id: int, reason: str) -> Daily:
    """Keep a daily out of every later training run, with the filmmaker's reason (LookupError if unknown)."""
    daily = s.get(Daily, daily_id)
    if daily is None:
        raise LookupError(f"there is no daily {daily_id}; see `rushes status` for the catalogued dailies")
    daily.excluded_reason = one_line(reason)
    daily.excluded_at = utcnow()
    return daily


def include_daily(s: Session, daily_id: int) -> Daily:
    """Undo exclude_daily: the daily is trained on again from the next run."""
    daily = s.get(Daily, daily_id)
    if daily is None:
        raise LookupError(f"there is no daily {daily_id}; see `rushes status` for the catalogued dailies")
    daily.excluded_reason = None
    daily.excluded_at = None
    return daily


def excluded(s: Session, show: str) -> list[Daily]:
    """A show's dailies excluded from training, oldest first."""
    query = select(Daily).join(Daily.show).where(Show.code == show, Daily.excluded_reason.is_not(None))
    return list(s.scalars(query.order_by(Daily.id)))
