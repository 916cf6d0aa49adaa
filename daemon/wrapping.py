"""A show's wrap and its reopening for pickups (`rushes show wrap|reopen`).

Wrapping keeps every record of the show (dailies and exclusions, model versions and their folders, fix
requests, Versions and reviews) and stops the work on it: no daemon watches its ingest folders, takes its fix
requests or schedules its training (a running daemon lets it go within seconds), and its queued training is
dropped. Fixes already asked for are finished and published. Reopening takes it up again: its folders are
scanned (the pickups that landed meanwhile are ingested), and its next training grows from its promoted version.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from daemon.catalog import Catalog, models_repo, utcnow
from daemon.catalog import jobs as job_repo
from daemon.catalog import shows as show_repo
from daemon.settings import Settings, ShowConfig


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
