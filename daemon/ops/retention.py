"""What `rushes prune` may delete, and deleting it: the files a daemon keeps that nobody needs any more.

A fix's render folder (its review and before/after movies, frames, LUT, OTIO) is spent once a supervisor rejected
its Version, or when its request failed or was taken back without the Version being published (the answer
said the files were kept for `rushes jobs retry`), and that was longer ago than the age asked. A job's log is
spent once the job ended that long ago. Approved renders (the example pairs the show model trains on) and
renders waiting for review are never spent. A wrapped show's training cache (decoded frames) is spent once it was
wrapped that long ago. Only a fix's own folder (`<renders>/<shot>/<version code>`) is ever
deleted: a publication whose files lie elsewhere (moved by hand, another layout) is left alone.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from daemon.catalog import Catalog, fixes, jobs
from daemon.catalog import shows as show_repo
from daemon.settings import Settings, ShowConfig

_JOB_LOG = re.compile(r"job-(\d+)\.log")


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
            if folder in found or folder.parent != root / request.shot or not folder.is_dir():
                continue  # a fix's own folder, <renders>/<shot>/<version code>, and nothing else
            if pub.review_status == "rejected":
                why = f"rejected {pub.reviewed_at:%Y-%m-%d}" if pub.reviewed_at else "rejected"
            else:
                why = f"not published, the request {request.state}"
            found[folder] = Spent("render", folder, _size(folder), f"{pub.fix_kind} of {request.shot}, {why}")
    return list(found.values())


def spent_cache(settings: Settings, catalog: Catalog, show: ShowConfig, before: datetime) -> list[Spent]:
    """The training cache of `show` (its dailies' decoded frames, `<data_dir>/cache/<SHOW>`) once the show was
    wrapped before `before`: nothing trains it any more, and a reopened show decodes its dailies again."""
    folder = settings.data_dir / "cache" / show.code
    with catalog.session(readonly=True) as s:
        wrapped = show_repo.wrapped_shows(s).get(show.code)
    if wrapped is None or wrapped >= before or not folder.is_dir():
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


def _size(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file() and not f.is_symlink())


__all__ = ["Spent", "remove", "spent_cache", "spent_logs", "spent_renders"]
