"""A show's wrap, its reopening for pickups and its removal (`rushes show wrap|reopen|remove`).

Wrapping keeps every record of the show (dailies and exclusions, model versions and their folders, fix
requests, Versions and reviews) and stops the work on it: no daemon watches its ingest folders or schedules its
training (a running daemon lets it go within seconds), a fix request on it is answered on its task that the show
is wrapped (daemon.stages.requests), and its queued training is dropped. Fixes already asked for are finished and published. Reopening takes it up again: its folders are
scanned (the pickups that landed meanwhile are ingested), and its next training grows from its promoted version.
Removing a wrapped show (a rights agreement that ended) deletes its catalog rows and, when asked, its folders in
the data directory; what it cannot delete (the dailies, a show's own output root, the tracker's Versions) it names.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from daemon.catalog import Catalog, models_repo, utcnow
from daemon.catalog import dailies as daily_repo
from daemon.catalog import jobs as job_repo
from daemon.catalog import shows as show_repo
from daemon.catalog.models import Show
from daemon.settings import Settings, ShowConfig
from engine.model.base import held_by


@dataclass(frozen=True)
class Wrapped:
    """What `wrap` did, and what it left going."""

    show: str
    since: datetime  # when the show was wrapped (its first wrap, when wrapped again)
    note: str | None
    promoted: int | None  # the model version its fixes used, which a reopening grows from
    dropped_training: list[int]  # the queued train jobs dropped
    finishing: list[int]  # its fix, publish and ingest jobs queued or running: they finish
    running_training: list[int]  # a training running now finishes (its version is kept as any other)
    disk: dict[str, int]  # bytes under each of the show's folders in data_dir: models, renders, cache


@dataclass(frozen=True)
class Reopened:
    """What `reopen` found: the version the show's next training grows from."""

    show: str
    wrapped_since: datetime | None  # None: it was not wrapped
    promoted: int | None


class ShowWrapped(Exception):
    """Work asked of a wrapped show (`rushes train`, `rushes ingest`)."""

    def __init__(self, code: str, since: datetime) -> None:
        super().__init__(
            f"show {code} is wrapped (since {since:%Y-%m-%d %H:%M} UTC): reopen it first with "
            f"`rushes show reopen {code}`"
        )


def wrap(settings: Settings, catalog: Catalog, show_config: ShowConfig, note: str | None = None) -> Wrapped:
    """Wrap the show: see the module's docstring."""
    code = show_config.code
    with catalog.session() as s:
        show = show_repo.wrap_show(s, code, note, utcnow())
        since = show.wrapped_at or utcnow()
        jobs = [
            job
            for state in ("queued", "running")
            for job in job_repo.list_jobs(s, show=code, state=state, limit=None)
        ]
        queued_training = [job.id for job in jobs if job.kind == "train" and job.state == "queued"]
        if queued_training:
            job_repo.drop_queued(s, queued_training, {"dropped": f"show {code} wrapped"})
        promoted = models_repo.latest_promoted(s, code)
    return Wrapped(
        show=code,
        since=since,
        note=show.wrap_note,
        promoted=promoted.version if promoted else None,
        dropped_training=queued_training,
        finishing=sorted(job.id for job in jobs if job.kind != "train"),
        running_training=sorted(job.id for job in jobs if job.kind == "train" and job.state == "running"),
        disk=show_disk(settings, show_config),
    )


def reopen(catalog: Catalog, code: str) -> Reopened:
    """Take the show up again (UnknownShow if the catalog lacks it)."""
    with catalog.session() as s:
        row = show_repo.require_show(s, code)
        since = row.wrapped_at
        show_repo.reopen_show(s, code)
        promoted = models_repo.latest_promoted(s, code)
    return Reopened(show=code, wrapped_since=since, promoted=promoted.version if promoted else None)


def refuse_if_wrapped(catalog: Catalog, code: str) -> None:
    """ShowWrapped when the show is wrapped; a show the catalog lacks is left to the caller."""
    with catalog.session(readonly=True) as s:
        since = show_repo.wrapped_shows(s).get(code)
    if since is not None:
        raise ShowWrapped(code, since)


def show_disk(settings: Settings, show: ShowConfig) -> dict[str, int]:
    """Bytes under the show's folders: its model versions, its renders (its `output_root`, else under the data
    directory) and its training cache (decoded frames, rebuilt when needed)."""
    folders = {
        "models": settings.models_dir / show.code,
        "renders": settings.renders_dir(show),
        "cache": settings.data_dir / "cache" / show.code,
    }
    return {name: _size(path) for name, path in folders.items()}


def _size(folder: Path) -> int:
    if not folder.is_dir():
        return 0
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


@dataclass(frozen=True)
class Removal:
    """What removing a show deletes (or, not yet confirmed, would delete), and what it leaves behind."""

    show: str
    rows: show_repo.DeletedRows | None  # None until done
    folders: dict[str, int]  # the show's folders in the data directory, with their bytes: deleted when asked
    left: list[str]  # what stays and is not Rushes' to delete: ingest folders, its own output root
    not_deleted: dict[str, str] = field(
        default_factory=dict
    )  # a folder (or file in it) that could not go: why


class CannotRemove(Exception):
    """A show that may not be removed now: not wrapped, in the config file, or with jobs still going (`later`:
    the same removal can pass once they have finished)."""

    def __init__(self, message: str, *, later: bool = False) -> None:
        super().__init__(message)
        self.later = later


def removal(settings: Settings, catalog: Catalog, show: ShowConfig) -> Removal:
    """What `remove` would do, or CannotRemove (one line) when it may not now."""
    code = show.code
    if any(s.code == code for s in settings.shows):
        raise CannotRemove(
            f"show {code} is in the config file, which would add it again: remove it there first"
        )
    with catalog.session(readonly=True) as s:
        _refuse_at_work(s, code)
        roots = {str(root.path) for root in show.ingest.roots} | daily_repo.roots(s, code)
        withdrawn = len(daily_repo.excluded(s, code))
    folders = _data_folders(settings, show)
    left = [f"ingest folder {root} (its dailies)" for root in sorted(roots)]
    if show.output_root is not None:
        left.append(f"output root {show.output_root} (its renders)")
    if (
        withdrawn
    ):  # they went with its rows, silently: a base's corpus holding the take could be trained on again
        left.append(
            f"nothing of its {withdrawn} exclusion(s): a studio base corpus or another show holding the same takes "
            "no longer knows them withdrawn, so exclude them there first (or keep the show wrapped)"
        )
    return Removal(show=code, rows=None, folders={str(p): _size(p) for p in folders if p.exists()}, left=left)


def remove(settings: Settings, catalog: Catalog, show: ShowConfig, *, delete_folders: bool) -> Removal:
    """Delete the show's catalog rows with its jobs and their logs and, with `delete_folders`, its folders in the
    data directory (its model versions, training cache, references and default renders). CannotRemove as
    `removal` says; checked again in the deleting transaction (a show reopened, or given work, meanwhile)."""
    planned = removal(settings, catalog, show)
    with catalog.session() as s:
        _refuse_at_work(s, show.code, lock=True)
        rows = show_repo.delete_show(s, show.code)
    for job_id in rows.jobs:
        (settings.logs_dir / f"job-{job_id}.log").unlink(missing_ok=True)
    failed: dict[str, str] = {}
    if delete_folders:
        for folder in planned.folders:
            shutil.rmtree(folder, onerror=lambda _f, path, exc: failed.setdefault(path, str(exc[1])))
    return Removal(show=show.code, rows=rows, folders=planned.folders, left=planned.left, not_deleted=failed)


def _refuse_at_work(s: Session, code: str, *, lock: bool = False) -> None:
    """CannotRemove when the show is not wrapped or has jobs queued or running (`lock`: its row held until the
    transaction ends, so a reopening waits for the removal or the removal sees it)."""
    query = select(Show.wrapped_at).where(Show.code == code)
    if lock:
        query = query.with_for_update()
    if s.scalar(query) is None:
        raise CannotRemove(f"show {code} is not wrapped: wrap it first (`rushes show wrap {code}`)")
    going = [
        job.id
        for state in ("queued", "running")
        for job in job_repo.list_jobs(s, show=code, state=state, limit=None)
    ]
    if going:
        raise CannotRemove(
            f"show {code} still has job(s) {', '.join(map(str, sorted(going)))} queued or running: "
            "let them finish (`rushes jobs list`), then remove it",
            later=True,
        )
    # a `rushes train` is no job: its version folder's lock says whether one runs
    training = [
        row for row in models_repo.list_versions(s, code) if (row.metrics or {}).get("state") == "training"
    ]
    for row in training:
        holder = held_by(Path(row.path)) if row.path else None
        if holder is not None:
            raise CannotRemove(
                f"show {code} v{row.version} is being trained ({holder}): let it finish or stop it (Ctrl-C), "
                "then remove the show",
                later=True,
            )


def _data_folders(settings: Settings, show: ShowConfig) -> list[Path]:
    """The show's own folders in the data directory (a show's own `output_root` is not one of them)."""
    folders = [settings.models_dir / show.code, settings.data_dir / "cache" / show.code]
    folders.append(settings.data_dir / "references" / show.code)
    if show.output_root is None:
        folders.append(settings.renders_dir(show))
    return folders
