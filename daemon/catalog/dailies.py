"""Dailies: every movie or image sequence found under a show's ingest roots, registered once per content.

Guarantees:
- Content is identified by its hash. Per show there is at most one current (not superseded) daily per
  content hash (a partial unique index, so two ingesting processes cannot both create one): a
  byte-identical file under another path is recorded as an alias of that daily (`daily_aliases`) and
  `register_daily` returns the existing daily with created False. Training, evaluation and hold-out see the
  content once.
- Registering is idempotent by (path, size, mtime, content hash): the same tuple again returns the existing
  row (its change stamp refreshed); the same path with new content supersedes the old row (and the path
  stops being an alias, if it was one).
- Changed content is noticed even when size and mtime were kept: each row records a change stamp (inode and
  ctime of its files, which every write and every `touch -d` moves). `same_state` treats a differing stamp
  as a change, so ingest probes and hashes the file again; when the hash is the same only the stamp is
  refreshed, otherwise the old row is superseded. Rows without a stamp (before revision 0002) compare size
  and mtime alone.
- An unreadable file is quarantined with a one-line reason, idempotently by (path, size, mtime). A sequence
  registered under a pattern that differs from a quarantined one only in its frame token (sh010.@.exr read,
  sh010.#.exr quarantined by an older ingest) supersedes that row: they name the same files.
- A shot's dailies are those of its code, or with none, those of its code in another case (a tracker's SH010
  is the files' sh010): `shot_for`.
- `remove_daily` and `requarantine` take a daily out of service by hand (status removed / quarantined,
  with the reason); it stays out while its file is unchanged, and its history is kept.
"""

from __future__ import annotations

import glob
import os
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from fractions import Fraction

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from daemon.catalog.db import utcnow
from daemon.catalog.models import Daily, DailyAlias, FixRequest, Publication, Show
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
    change_stamp: str | None = None  # inode and ctime of the file(s) when hashed (Candidate.stamp)


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


def stored_path(path: str) -> str:
    """`path` as the catalog keeps it: bytes that are not UTF-8 (surrogates from os) written as \\xNN, so a
    hostile name can be quarantined, deterministically, instead of failing the database write."""
    return path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


# A sequence's frame token in a stored pattern (sh010.####.exr, sh010.@.exr, sh010.%04d.exr).
_FRAME_TOKEN = re.compile(r"#+|@+|%0?\d*d")


def _disk_names(stored: str) -> tuple[str, ...]:
    """The names a stored path may have on disk: as stored, and with its \\xNN escapes (stored_path) turned
    back into the bytes they stand for."""
    raw = re.sub(rb"\\x([0-9a-fA-F]{2})", lambda m: bytes([int(m.group(1), 16)]), stored.encode("utf-8"))
    names = (stored, os.fsdecode(raw))
    # an image sequence is stored as its pattern (sh010.####.exr, sh010.%04d.exr): any member counts
    frames = [_FRAME_TOKEN.sub("*", glob.escape(n).replace("[#]", "#")) for n in names]
    return (*names, *(hit for f in frames if f != glob.escape(f) for hit in glob.glob(f)[:1]))


def _supersede_spelled_otherwise(s: Session, show: str, pattern: str) -> None:
    """Quarantined rows of the sequence `pattern` spelled with another frame token: the same files, now read."""
    stored = stored_path(pattern)
    spelled = _FRAME_TOKEN.sub("*", stored)
    for row in quarantined(s, show):
        if row.path != stored and _FRAME_TOKEN.sub("*", row.path) == spelled:
            row.status = "superseded"
            row.error = one_line(f"read as {stored}: {row.error or ''}")


def current_daily(s: Session, show: str, path: str) -> Daily | None:
    """The row for this path that is not superseded (registered or quarantined), if any."""
    path = stored_path(path)
    return s.scalars(
        select(Daily)
        .join(Daily.show)
        .where(Show.code == show, Daily.path == path, Daily.status != "superseded")
    ).one_or_none()


def same_state(row: Daily, size_bytes: int, mtime: float, change_stamp: str | None = None) -> bool:
    """Whether a file still looks as it did when `row` was made: size, mtime and (when both sides have one)
    change stamp, so content rewritten under the same size and mtime reads as changed."""
    if (row.size_bytes, row.mtime) != (size_bytes, mtime):
        return False
    return not (change_stamp and row.change_stamp) or row.change_stamp == change_stamp


def register_daily(
    s: Session, show: str, facts: DailyFacts, gone: Callable[[str], bool] | None = None
) -> tuple[Daily, bool]:
    """Record a readable daily -> (daily, created). The same content already current in the show (at this path
    or another) returns that daily with created False: another path is recorded as its alias, unless `gone` says
    the daily's own path is gone from disk, when the daily follows its file to this path (renamed or moved: a
    shot renumbered, its files renamed), its shot and take read from the new name, and the fixes made of it
    name the new path (_fixes_follow); new content at the same path
    supersedes the old row."""
    if facts.kind not in ("movie", "sequence"):
        raise ValueError(f"daily kind must be movie or sequence, not {facts.kind!r}")
    show_row = require_show(s, show)
    for _ in range(3):
        old = current_daily(s, show, facts.path)
        if old is not None and old.content_hash == facts.content_hash:
            _refresh(old, facts)
            return old, False
        try:
            with s.begin_nested():
                twin = _current_with_hash(s, show_row, facts.content_hash)
                over_quarantine = old is not None and old.status == "quarantined"
                if old is not None and old is not twin:
                    old.status = "superseded"
                    s.flush()
                if twin is not None and twin.path != facts.path and gone is not None and gone(twin.path):
                    _drop_alias(s, show_row, facts.path)
                    _fixes_follow(s, twin, facts.path)
                    _follow(twin, facts)
                    s.flush()
                    return twin, False
                if twin is not None:
                    _record_alias(s, show_row, twin, facts)
                    return twin, False
                _drop_alias(s, show_row, facts.path)
                revived = _revived(s, show_row, facts) if over_quarantine else None
                daily = revived or _new_daily(show_row, facts)
                s.add(daily)
                s.flush()
                if facts.kind == "sequence":
                    _supersede_spelled_otherwise(s, show, facts.path)
        except IntegrityError:
            continue  # another process registered this path or content between our read and write: look again
        return daily, True
    raise RuntimeError(f"could not register {facts.path}: it keeps changing under concurrent ingest")


def _refresh(row: Daily, facts: DailyFacts) -> None:
    """Same content at the same path: keep the row, note how the file looks now."""
    row.size_bytes, row.mtime = facts.size_bytes, facts.mtime
    if facts.change_stamp:
        row.change_stamp = facts.change_stamp


def _follow(row: Daily, facts: DailyFacts) -> None:
    """The daily's file was renamed or moved: the row (its id, exclusion and history) goes where it went."""
    row.path, row.root, row.shot, row.take = facts.path, facts.root, facts.shot, facts.take
    row.first_frame, row.last_frame = facts.first_frame, facts.last_frame
    _refresh(row, facts)


def _fixes_follow(s: Session, row: Daily, path: str) -> None:
    """The fixes made of the daily's content at its old path name it at `path`, where it now is: their "before"
    (the training pair's daily) is read there, and they are the daily's (fixes.made_from). A fix that recorded no
    content hash (an older Rushes) keeps the path it was made at: what was there then is not known."""
    made = select(FixRequest.id).where(FixRequest.show_id == row.show_id)
    s.execute(
        update(Publication)
        .where(
            Publication.fix_request_id.in_(made),
            Publication.source_path == row.path,
            Publication.source_hash == row.content_hash,
        )
        .values(source_path=path)
        .execution_options(synchronize_session="fetch")
    )


def _revived(s: Session, show: Show, facts: DailyFacts) -> Daily | None:
    """The daily this path last held, when it held this content before the file was quarantined (its name read
    by no template, until the show's templates read it again): made current again with its id, exclusion and
    history; None otherwise (other content there since is new content, as is going back to the first)."""
    earlier = s.scalars(
        select(Daily)
        .where(
            Daily.show_id == show.id,
            Daily.path == facts.path,
            Daily.status == "superseded",
            Daily.content_hash.is_not(None),  # it was registered (a quarantined row has no content hash)
        )
        .order_by(Daily.id.desc())
        .limit(1)
    ).one_or_none()
    if earlier is None or earlier.content_hash != facts.content_hash:
        return None
    earlier.status, earlier.error = "registered", None
    _follow(earlier, facts)
    return earlier


def _current_with_hash(s: Session, show: Show, content_hash: str) -> Daily | None:
    return s.scalars(
        select(Daily).where(
            Daily.show_id == show.id, Daily.content_hash == content_hash, Daily.status != "superseded"
        )
    ).one_or_none()


def _record_alias(s: Session, show: Show, daily: Daily, facts: DailyFacts) -> None:
    if facts.path == daily.path:
        return
    alias = s.scalars(
        select(DailyAlias).where(DailyAlias.show_id == show.id, DailyAlias.path == facts.path)
    ).one_or_none()
    if alias is None:
        alias = DailyAlias(show_id=show.id, daily_id=daily.id, path=facts.path, size_bytes=0, mtime=0.0)
        s.add(alias)
    alias.daily_id, alias.size_bytes, alias.mtime = daily.id, facts.size_bytes, facts.mtime
    s.flush()


def _drop_alias(s: Session, show: Show, path: str) -> None:
    for alias in s.scalars(select(DailyAlias).where(DailyAlias.show_id == show.id, DailyAlias.path == path)):
        s.delete(alias)
    s.flush()


def aliases(s: Session, daily_id: int) -> list[DailyAlias]:
    """Other paths holding this daily's exact content, oldest first."""
    return list(s.scalars(select(DailyAlias).where(DailyAlias.daily_id == daily_id).order_by(DailyAlias.id)))


def aliases_by_daily(s: Session, show: str) -> dict[int, list[str]]:
    """Every alias path of the show's dailies, by daily id, oldest first (one query for a whole listing)."""
    query = (
        select(DailyAlias.daily_id, DailyAlias.path)
        .join(Show, Show.id == DailyAlias.show_id)
        .where(Show.code == show)
        .order_by(DailyAlias.id)
    )
    out: dict[int, list[str]] = {}
    for daily_id, path in s.execute(query):
        out.setdefault(int(daily_id), []).append(str(path))
    return out


def alias_of(s: Session, show: str, path: str) -> Daily | None:
    """The daily whose content the file at `path` duplicates, if `path` is an alias."""
    alias = s.scalars(
        select(DailyAlias)
        .join(Show, Show.id == DailyAlias.show_id)
        .where(Show.code == show, DailyAlias.path == path)
    ).one_or_none()
    return alias.daily if alias is not None else None


class NoSuchDaily(LookupError):
    """A daily id that is not in the catalog (or no longer current)."""


def _require_current(s: Session, daily_id: int) -> Daily:
    row = s.get(Daily, daily_id)
    if row is None:
        raise NoSuchDaily(f"there is no daily {daily_id} (see `rushes dailies list --show SHOW`)")
    if row.status == "superseded":
        raise NoSuchDaily(
            f"daily {daily_id} was superseded by newer content at {row.path}; act on the current daily instead"
        )
    return row


def remove_daily(s: Session, daily_id: int, reason: str = "removed by hand") -> Daily:
    """Take a daily out of service for good (status removed, `reason` kept): training, hold-out and fixes skip
    it while its file is unchanged; its row and aliases stay for the record. Idempotent."""
    row = _require_current(s, daily_id)
    row.status, row.error = "removed", one_line(reason)
    return row


def requarantine(s: Session, daily_id: int, reason: str) -> Daily:
    """Quarantine a catalogued daily with a one-line reason (e.g. it failed in training); it is skipped
    like any unreadable file until its content changes. Idempotent (the reason is replaced)."""
    row = _require_current(s, daily_id)
    row.status, row.error = "quarantined", one_line(reason)
    return row


def quarantine(
    s: Session,
    show: str,
    path: str,
    size_bytes: int,
    mtime: float,
    reason: str,
    root: str = "",
    change_stamp: str | None = None,
) -> tuple[Daily, bool]:
    """Record that a file could not be read -> (daily, created). The same (path, size, mtime) again returns the
    existing quarantined row (its reason and change stamp refreshed); a changed file gets a new row that
    supersedes the old. The change stamp moves with a chmod or chown too, so a file quarantined because it
    could not be read is probed again once its permissions are mended (same_state)."""
    show_row = require_show(s, show)
    path = stored_path(path)
    for _ in range(3):
        old = current_daily(s, show, path)
        if (
            old is not None
            and old.status == "quarantined"
            and (old.size_bytes, old.mtime) == (size_bytes, mtime)
        ):
            old.error = one_line(reason)
            old.change_stamp = change_stamp or old.change_stamp
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
                    change_stamp=change_stamp or None,
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
        change_stamp=facts.change_stamp,
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


def roots(s: Session, show: str) -> set[str]:
    """The ingest roots the show's dailies were found under (its folders as they were, whatever its config says
    now)."""
    rows = s.scalars(select(Daily.root).join(Daily.show).where(Show.code == show).distinct())
    return {root for root in rows if root}


def newest_dailies(s: Session, show: str, status: str, limit: int | None) -> list[Daily]:
    """The show's `limit` newest dailies in `status` (all with None), oldest first (as list_dailies)."""
    query = select(Daily).join(Daily.show).where(Show.code == show, Daily.status == status)
    return list(reversed(s.scalars(query.order_by(Daily.id.desc()).limit(limit)).all()))


def count_by_status(s: Session, show: str) -> dict[str, int]:
    """How many of the show's dailies are in each status (one query, however many there are)."""
    query = (
        select(Daily.status, func.count()).join(Daily.show).where(Show.code == show).group_by(Daily.status)
    )
    return {str(status): int(n) for status, n in s.execute(query)}


def dailies_for_shot(s: Session, show: str, shot: str) -> list[Daily]:
    """The registered dailies of one shot, oldest first (the newest take last); the shot's code as shot_for
    finds it, else the dailies its files were folded into as copies (folded_into)."""
    code = shot_for(s, show, [shot])
    return folded_into(s, show, shot) if code is None else list_dailies(s, show, shot=code)


def folded_into(s: Session, show: str, shot: str) -> list[Daily]:
    """The registered dailies that a shot's own files became copies of when revision 0002 folded a catalog's
    byte-identical dailies (a shot delivered as a copy of another shot's file, by an older Rushes): the copy's
    row stays, superseded, with its shot, beside its alias. Oldest first; the shot's code in any case."""
    copies = (
        select(DailyAlias.daily_id)
        .join(Daily, (Daily.show_id == DailyAlias.show_id) & (Daily.path == DailyAlias.path))
        .join(Daily.show)
        .where(Show.code == show, Daily.status == "superseded", func.lower(Daily.shot) == shot.lower())
    )
    return list(
        s.scalars(select(Daily).where(Daily.id.in_(copies), Daily.status == "registered").order_by(Daily.id))
    )


def shot_for(s: Session, show: str, codes: Sequence[str]) -> str | None:
    """The shot code of the show's dailies that a tracker's shot is known by, given its codes (most specific
    first: daemon.stages.requests): the first that is a daily's shot exactly, else the first that is one in
    another case or another Unicode form (the tracker's SH010 is the files' sh010; its composed é is the é a Mac
    wrote decomposed); None when there is none."""
    known = shots(s, show)
    exact = next((code for code in codes if code in known), None)
    if exact is not None:
        return exact
    by_case: dict[str, str] = {}
    for code in known:
        by_case.setdefault(_folded(code), code)
    return next((by_case[_folded(code)] for code in codes if _folded(code) in by_case), None)


def _folded(code: str) -> str:
    return unicodedata.normalize("NFC", code).lower()


def quarantined(s: Session, show: str | None = None) -> list[Daily]:
    """Files that could not be read, with their reasons (every show when `show` is None)."""
    query = select(Daily).join(Daily.show).where(Daily.status == "quarantined")
    if show is not None:
        query = query.where(Show.code == show)
    return list(s.scalars(query.order_by(Daily.id)))


FILE_GONE = "file gone"
FOLDER_READABLE = "folder readable again"
FOLDER_UNREADABLE = (
    "folder cannot be read"  # the reason integrations.ingest.scan gives (kept free of it here)
)


def forget_gone_quarantined(
    s: Session, show: str | None = None, exists: Callable[[str], bool] = os.path.lexists
) -> list[tuple[str, str]]:
    """Quarantined files that are no longer on disk (renamed, moved or deleted) stop being listed: their rows
    are marked superseded; so do folders that could not be read and can be now (their files are ingested on
    their own). The paths forgotten, each with why (FILE_GONE, FOLDER_READABLE)."""
    rows = quarantined(s, show)
    gone = [row for row in rows if not any(exists(p) for p in _disk_names(row.path))]
    readable = [row for row in rows if row not in gone and _folder_readable_again(row)]
    cleared = [(row, FILE_GONE) for row in gone] + [(row, FOLDER_READABLE) for row in readable]
    for row, why in cleared:
        row.status = "superseded"
        row.error = one_line(f"{why}: {row.error or ''}")
    return [(row.path, why) for row, why in cleared]


def _folder_readable_again(row: Daily) -> bool:
    """Whether `row` quarantined a folder that could not be listed (FOLDER_UNREADABLE, ingest's scan) and the
    daemon can list it now."""
    if not (row.error or "").startswith(FOLDER_UNREADABLE):
        return False
    try:
        with os.scandir(row.path):
            return True
    except OSError:
        return False


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


def _require_known(s: Session, daily_id: int) -> Daily:
    row = s.get(Daily, daily_id)
    if row is None:
        raise NoSuchDaily(f"there is no daily {daily_id} (see `rushes dailies list --show SHOW`)")
    return row


def exclude_daily(s: Session, daily_id: int, reason: str) -> Daily:
    """Keep a daily out of every later training run, with the filmmaker's reason (NoSuchDaily if unknown). The
    show's model is marked stale, so its next training window trains a version without it. A daily superseded
    by newer content at its path (a plate delivered again) may be excluded too: versions trained on its pictures
    before then are the ones to leave."""
    daily = _require_known(s, daily_id)
    daily.excluded_reason = one_line(reason)
    daily.excluded_at = utcnow()
    _show_of(s, daily).model_stale = True
    return daily


def include_daily(s: Session, daily_id: int) -> Daily:
    """Undo exclude_daily: the daily is trained on again from the next run (its show's model marked stale)."""
    daily = _require_known(s, daily_id)
    daily.excluded_reason = None
    daily.excluded_at = None
    _show_of(s, daily).model_stale = True
    return daily


def _show_of(s: Session, daily: Daily) -> Show:
    show = s.get(Show, daily.show_id)
    assert show is not None  # the foreign key holds it
    return show


def excluded(s: Session, show: str | None) -> list[Daily]:
    """A show's dailies excluded from training (every show's with None), oldest first."""
    query = select(Daily).join(Daily.show).where(Daily.excluded_reason.is_not(None))
    if show is not None:
        query = query.where(Show.code == show)
    return list(s.scalars(query.order_by(Daily.id)))
