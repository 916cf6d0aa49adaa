"""What `rushes prune` may delete, and deleting it: the files a daemon keeps that nobody needs any more.

A fix's render folder (its review and before/after movies, frames, LUT, OTIO) is spent once a supervisor rejected
its Version, or when its request failed or was taken back without the Version being published (the answer
said the files were kept for `rushes jobs retry`), and that was longer ago than the age asked. A job's log is
spent once the job ended that long ago. Approved renders (the example pairs the show model trains on) and
renders waiting for review are never spent. A wrapped show's training cache (decoded frames) is spent once it was
wrapped that long ago. Only a fix's own folder (`<renders>/<shot>/<version code>`) is ever
deleted: a publication whose files lie elsewhere (moved by hand, another layout) is left alone.

A done job's row is spent the same way once it ended that long ago: its payload and result (an ingest job's
payload named every frame of its sequence) are emptied, in batches of a short transaction each, and the row stays
as the tombstone of its key (daemon.catalog.jobs.prune_ended), so nothing it did is ever done again. A SQLite
catalog then gives the freed pages back to the file system (`reclaim`) when it was made with incremental
auto-vacuum (every catalog made by this Rushes); an older one keeps its size, reusing the pages for new rows,
until `vacuum` rewrites it once with the daemons stopped.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from daemon.catalog import Catalog, fixes, jobs
from daemon.catalog import shows as show_repo
from daemon.file_names import path_part
from daemon.jobs.payloads import FixJob
from daemon.settings import Settings, ShowConfig

_JOB_LOG = re.compile(r"job-(\d+)\.log")
# a render's temporary folder (`<version code>.tmp-<pid>`) or the older render it replaced (`.old-<pid>`)
_LEFTOVER = re.compile(r"(?P<code>.+_r(?P<request>\d+))\.(?:tmp|old)-\d+")
RENDERING = ("open", "rendering")  # a request whose fixes may still be rendered


@dataclass(frozen=True)
class Spent:
    kind: str  # "render" (a fix's folder), "cache" (a wrapped show's training cache) or "log" (a job's log file)
    path: Path
    size: int  # bytes
    why: str  # one line: "denoise of sh010, rejected 2026-11-02"


def spent_renders(settings: Settings, catalog: Catalog, show: ShowConfig, before: datetime) -> list[Spent]:
    """The render folders of `show` spent before `before`, each once, that still exist."""
    root = settings.renders_dir(show).resolve()
    found: dict[Path, Spent] = {}
    with catalog.session(readonly=True) as s:
        for pub in fixes.spent_publications(s, show.code, before):
            request = pub.fix_request
            folder = Path(pub.movie_path).parent.resolve()
            if (
                folder in found
                or folder.parent not in _shot_folders(root, request.shot)
                or not folder.is_dir()
            ):
                continue  # a fix's own folder, <renders>/<shot>/<its render's name>, and nothing else
            if pub.review_status == "rejected":
                why = f"rejected {pub.reviewed_at:%Y-%m-%d}" if pub.reviewed_at else "rejected"
            else:
                why = f"not published, the request {request.state}"
            found[folder] = Spent("render", folder, _size(folder), f"{pub.fix_kind} of {request.shot}, {why}")
    return list(found.values())


def _shot_folders(root: Path, shot: str) -> set[Path]:
    """Where a shot's renders are (`root` resolved): under its name as a path part (daemon.file_names), and
    under the name itself where renders made before that still are, if that is a folder inside `root`."""
    named = (root / shot).resolve()
    return {root / path_part(shot)} | ({named} if named.is_relative_to(root) and named != root else set())


def spent_leftovers(settings: Settings, catalog: Catalog, show: ShowConfig, before: datetime) -> list[Spent]:
    """The temporary folders of renders a killed process left (`<renders>/<shot>/<code>.tmp-<pid>`, `.old-<pid>`),
    last written before `before`, whose request nothing renders any more. A later render of the same fix sweeps
    its own; a fix whose last attempt was killed, its request failed, has none, so they stayed."""
    root = settings.renders_dir(show)
    found = []
    with catalog.session(readonly=True) as s:
        for folder in sorted(root.glob("*/*")):
            match = _LEFTOVER.fullmatch(folder.name)
            if match is None or not folder.is_dir() or folder.is_symlink():
                continue
            request = fixes.get_fix_request(s, int(match["request"]))
            if request is None or request.show.code != show.code or request.state in RENDERING:
                continue  # not this show's, or its render may be under way
            fix_keys = [FixJob(request.id, kind, request.request_key).key() for kind in request.kinds]
            if any(job.state in ("queued", "running") for job in jobs.jobs_by_key(s, fix_keys).values()):
                continue  # another kind of the request still renders (one failing does not stop the others)
            # a movie grows in place, its folder's time staying: the newest time of anything in it counts
            if _newest_change(folder) >= before.timestamp():
                continue
            why = (
                f"unfinished render of {match['code']} left by a stopped process, the request {request.state}"
            )
            found.append(Spent("render", folder, _size(folder), why))
    return found


def _newest_change(folder: Path) -> float:
    """The latest modification time of `folder` and everything in it."""
    newest = folder.stat().st_mtime
    for path in folder.rglob("*"):
        try:
            newest = max(newest, path.lstat().st_mtime)
        except OSError:  # removed meanwhile
            continue
    return newest


def spent_cache(settings: Settings, catalog: Catalog, show: ShowConfig, before: datetime) -> list[Spent]:
    """The training cache of `show` (its dailies' decoded frames, `<data_dir>/cache/<SHOW>`) once the show was
    wrapped before `before` and no training of it runs: nothing trains it any more, and a reopened show decodes
    its dailies again."""
    folder = settings.data_dir / "cache" / show.code
    with catalog.session(readonly=True) as s:
        wrapped = show_repo.wrapped_shows(s).get(show.code)
        # a training the wrap let finish reads the cache still (and one queued before a reopening will)
        training = jobs.list_jobs(s, kind="train", show=show.code, state="running", limit=1)
    if wrapped is None or wrapped >= before or training or not folder.is_dir():
        return []
    return [
        Spent("cache", folder, _size(folder), f"training cache of {show.code}, wrapped {wrapped:%Y-%m-%d}")
    ]


def spent_logs(settings: Settings, catalog: Catalog, before: datetime) -> list[Spent]:
    """The logs of the jobs that ended before `before`, that still exist. The logs folder is listed first and only
    the jobs whose logs are there are looked up, so the jobs whose logs went long ago cost nothing."""
    present = job_logs(settings.logs_dir)
    with catalog.session(readonly=True) as s:
        ended = jobs.finished_before(s, before, list(present))
    spent = []
    for job_id in ended:
        try:
            size = present[job_id].stat().st_size
        except FileNotFoundError:  # deleted meanwhile
            continue
        spent.append(Spent("log", present[job_id], size, f"log of job {job_id}"))
    return spent


def job_logs(folder: Path) -> dict[int, Path]:
    """The job logs (`job-N.log`) in `folder`, by job id; none when it is missing."""
    try:
        with os.scandir(folder) as listing:
            names = [entry.name for entry in listing if entry.is_file(follow_symlinks=False)]
    except FileNotFoundError:
        return {}
    logs: dict[int, Path] = {}
    for name in names:
        match = _JOB_LOG.fullmatch(name)
        if match:
            logs[int(match.group(1))] = folder / name
    return logs


def remove(spent: Sequence[Spent]) -> int:
    """Delete each spent folder or file; the bytes freed. One gone meanwhile is skipped."""
    freed = 0
    for item in spent:
        try:
            if item.path.is_dir():
                shutil.rmtree(item.path)
            else:
                item.path.unlink()
        except FileNotFoundError:
            continue
        freed += item.size
    return freed


def prunable_jobs(catalog: Catalog, before: datetime) -> int:
    """How many done jobs ended before `before` still hold their payload and result."""
    with catalog.session(readonly=True) as s:
        return jobs.prunable(s, before)


def prune_jobs(catalog: Catalog, before: datetime, batch: int = jobs.PRUNE_BATCH) -> int:
    """Empty the payload and result of every done job ended before `before`, `batch` jobs a transaction (a daemon
    claims and finishes jobs between two); how many."""
    pruned = 0
    while True:
        with catalog.session() as s:
            done = jobs.prune_ended(s, before, batch)
        pruned += done
        if done < batch:
            return pruned


RECLAIM_PAGES = 2048  # pages given back to the file system in one transaction (8 MB of 4 kB pages)


@dataclass(frozen=True)
class CatalogSize:
    """A SQLite catalog's file: its bytes, the bytes of free pages in it, and whether it gives them back by itself
    (incremental auto-vacuum) or only when vacuumed."""

    bytes: int
    free_bytes: int
    incremental: bool


def catalog_size(catalog: Catalog) -> CatalogSize | None:
    """The SQLite catalog's size (None on PostgreSQL, whose autovacuum reuses the space of emptied rows)."""
    if catalog.dialect != "sqlite":
        return None
    page, pages, free, mode = (
        int(_pragma(catalog, name)[0][0])
        for name in ("page_size", "page_count", "freelist_count", "auto_vacuum")
    )
    return CatalogSize(page * pages, page * free, mode == 2)


def _pragma(catalog: Catalog, statement: str) -> list[Any]:
    """Run `PRAGMA statement` outside any transaction (the catalog's SQLite connections are in autocommit until
    a session begins one): a checkpoint cannot run inside one, and an incremental vacuum is its own."""
    raw = catalog.engine.raw_connection()
    try:
        if statement.startswith("incremental_vacuum"):
            # run to its end, as a transaction of its own: a cursor's first step frees one page only
            sqlite: Any = raw.driver_connection
            sqlite.executescript(f"PRAGMA {statement};")
            return []
        cursor = raw.cursor()
        try:
            cursor.execute(f"PRAGMA {statement}")
            return list(cursor.fetchall())
        finally:
            cursor.close()
    finally:
        raw.close()


def reclaim(catalog: Catalog, step: int = RECLAIM_PAGES) -> CatalogSize | None:
    """Give a SQLite catalog's free pages back to the file system, `step` pages a transaction, when it was made with
    incremental auto-vacuum; its size after (None on PostgreSQL)."""
    size = catalog_size(catalog)
    if size is None or not size.incremental:
        return size
    while size.free_bytes > 0:
        _pragma(catalog, f"incremental_vacuum({int(step)})")
        after = catalog_size(catalog)
        assert after is not None
        if after.free_bytes >= size.free_bytes:  # nothing more could go (a reader holds them)
            break
        size = after
    # the WAL's pages into the file, and the file cut to its size (left for a later checkpoint while read)
    _pragma(catalog, "wal_checkpoint(TRUNCATE)")
    return catalog_size(catalog)


def vacuum(catalog: Catalog) -> CatalogSize | None:
    """Rewrite a SQLite catalog without its free pages, with incremental auto-vacuum from then on (the whole file is
    locked while it runs: only with the daemons stopped); its size after (None on PostgreSQL)."""
    if catalog.dialect != "sqlite":
        return None
    raw = catalog.engine.raw_connection()  # one connection: the mode set is the one VACUUM applies
    try:
        cursor = raw.cursor()
        cursor.execute("PRAGMA auto_vacuum = INCREMENTAL")
        cursor.execute("VACUUM")
        cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        cursor.close()
    finally:
        raw.close()
    return catalog_size(catalog)


def _size(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file() and not f.is_symlink())


__all__ = [
    "CatalogSize",
    "Spent",
    "catalog_size",
    "prunable_jobs",
    "prune_jobs",
    "reclaim",
    "remove",
    "spent_cache",
    "spent_leftovers",
    "spent_logs",
    "spent_renders",
    "vacuum",
]
