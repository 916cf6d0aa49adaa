"""What `rushes status` reports, as plain data (rendered as tables or JSON by the CLI): per show its dailies,
quarantined files, model, and recent fix requests with every Version they made and where its review movie is."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session, object_session

from daemon.catalog import (
    Catalog,
    Daily,
    FixRequest,
    Job,
    ModelVersion,
    Publication,
    fixes,
    models_repo,
    tracker_reads,
    unfollowed,
    utcnow,
)
from daemon.catalog import dailies as daily_repo
from daemon.catalog import jobs as job_repo
from daemon.catalog import shows as show_repo
from daemon.catalog.db import catalog_now
from daemon.jobs.payloads import FixJob
from daemon.scheduling.polling import MAX_FATAL_WAIT_S
from daemon.settings import Settings, ShowConfig
from daemon.shows import read_shows, show_for


def daily_record(d: Daily) -> dict[str, Any]:
    return {
        "id": d.id,
        "path": d.path,
        "kind": d.kind,
        "shot": d.shot,
        "take": d.take,
        "first_frame": d.first_frame,
        "last_frame": d.last_frame,
        "frame_count": d.frame_count,
        "missing_frames": list(d.missing_frames or []),
        "fps": d.fps,
        "width": d.width,
        "height": d.height,
        "codec": d.codec,
        "timecode": d.timecode,
        "size_bytes": d.size_bytes,
        "content_hash": d.content_hash,
        "status": d.status,
        "reason": d.error,
        "excluded": d.excluded_reason,  # why it is kept out of training (None: trained on)
    }


def publication_record(p: Publication) -> dict[str, Any]:
    """One fixed render: its tracker Version's id (None until published) and code, its review movie and
    before/after."""
    return {
        "kind": p.fix_kind,
        "state": p.state,
        "version": p.tracker_version_id,
        "code": (p.extra_files or {}).get("code"),
        "review": p.review_status,
        "movie": p.movie_path,
        "before_after": p.before_after_path,
        "model_version": p.model_version,
    }


def request_record(r: FixRequest, running: dict[str, str] | None = None) -> dict[str, Any]:
    """A fix request; `running`: the progress line of each of its kinds being rendered now."""
    return {
        "id": r.id,
        "shot": r.shot,
        "kinds": list(r.kinds),
        "params": dict(r.params),
        "state": r.state,
        "progress": running or {},
        "error": r.error,
        "rejection_note": r.rejection_note,
        "versions": [p.tracker_version_id for p in r.publications if p.tracker_version_id],
        "publications": [publication_record(p) for p in sorted(r.publications, key=lambda p: p.id)],
    }


def lease_lapsed(j: Job, now: datetime | None = None) -> datetime | None:
    """When a running job's lease ran out, if it has (its daemon was killed or its host died; the job waits for
    another daemon, or this one restarted, to take it over); None for a job whose daemon still renews it."""
    if j.state != "running" or j.lease_expires is None:
        return None
    expires = j.lease_expires if j.lease_expires.tzinfo else j.lease_expires.replace(tzinfo=UTC)
    if now is None:  # by the catalog's clock, as the daemons judge it (this host's may be off)
        s = object_session(j)
        now = catalog_now(s) if s is not None else datetime.now(UTC)
    return expires if expires < now else None


def stalled_line(lapsed: datetime) -> str:
    return (
        f"not renewed since {lapsed:%Y-%m-%d %H:%M:%S} UTC: its daemon is gone; "
        "a running daemon takes it over (start one if none runs)"
    )


def job_record(j: Job) -> dict[str, Any]:
    lapsed = lease_lapsed(j)
    return {
        "id": j.id,
        "kind": j.kind,
        "key": j.key,
        "show": j.show,
        "state": j.state,
        "attempts": j.attempts,
        "error": j.last_error,
        "progress": j.progress if j.state == "running" else None,  # its worker's line (daemon.jobs.progress)
        # a running job whose lease ran out: its last progress line is stale, nobody is working on it
        "stalled": stalled_line(lapsed) if lapsed else None,
        "updated": j.updated_at.isoformat() if j.updated_at else None,
        "max_attempts": j.max_attempts,  # dead once `attempts` reaches it
        "created": _when(j.created_at),
        "run_after": _when(j.run_after) if j.state == "queued" else None,  # its next try, while it waits
        "finished": _when(j.finished_at),  # done or dead
    }


def _when(moment: datetime | None) -> str | None:
    """A timestamp as the JSON of `rushes status` and `rushes jobs list` gives it: ISO 8601, in UTC, with its zone."""
    return moment.astimezone(UTC).isoformat() if moment else None


def job_state(record: dict[str, Any]) -> str:
    """A job's state as the tables show it: a running job's with how far it has got, or that nobody runs it."""
    if record.get("stalled"):
        return f"{record['state']}, {record['stalled']}"
    return f"{record['state']}: {record['progress']}" if record["progress"] else str(record["state"])


def request_state(record: dict[str, Any]) -> str:
    """A fix request's state as the tables show it: while rendering, how far each kind being rendered has got."""
    running = record["progress"]
    if not running:
        return str(record["state"])
    if len(running) == 1 and len(record["kinds"]) == 1:
        return f"{record['state']}: {next(iter(running.values()))}"
    return f"{record['state']}: " + "; ".join(f"{kind} {line}" for kind, line in running.items())


def rendering_progress(s: Session, requests: list[FixRequest]) -> dict[int, dict[str, str]]:
    """The progress line of each fix job running now, by request id and kind (daemon.jobs.progress)."""
    keys = {
        FixJob(r.id, kind, r.request_key).key(): (r.id, kind)
        for r in requests
        if r.state == "rendering"
        for kind in r.kinds
    }
    out: dict[int, dict[str, str]] = {}
    found = job_repo.jobs_by_key(s, list(keys))
    for key, (request_id, kind) in keys.items():  # the request's kinds in its own order
        job = found.get(key)
        if job is not None and job.state == "running":
            lapsed = lease_lapsed(job)
            line = stalled_line(lapsed) if lapsed else job.progress
            if line:
                out.setdefault(request_id, {})[kind] = line
    return out


DAILIES_SHOWN = 20  # newest registered and quarantined dailies listed per show (`rushes status --dailies`)


def scheduled_windows(catalog: Catalog) -> dict[str, datetime | None]:
    """When each show's next training window opens, as the scheduling daemon stored it, by show code."""
    from daemon.scheduling.scheduler import WINDOW, scheduled_jobs  # APScheduler's table: read, not loaded

    return {job_id[len(WINDOW) :]: at for job_id, at in scheduled_jobs(catalog) if job_id.startswith(WINDOW)}


def training_record(cfg: ShowConfig, opens: datetime | None) -> dict[str, Any]:
    """A show's training window as `rushes status --json` and `show list --json` give it: its cron, hours and
    zone (None: the zone of the daemon that schedules), and when the next window opens as that daemon stored it
    (None before a daemon scheduled it, or once the show is wrapped): in UTC, and on the show's wall clock."""
    zone = cfg.training.timezone
    local = opens.astimezone(ZoneInfo(zone)).isoformat() if opens is not None and zone else None
    return {
        "cron": cfg.training.cron,
        "hours": cfg.training.hours,
        "timezone": zone,
        "next_window": _when(opens),
        "next_window_local": local,
    }


def show_record(
    catalog: Catalog,
    cfg: ShowConfig,
    dailies: int | None = DAILIES_SHOWN,
    windows: dict[str, datetime | None] | None = None,
) -> dict[str, Any]:
    """A show's state; of its dailies the `dailies` newest registered and quarantined ones (None: all) and the
    counts of each (a show of 20,000 dailies took 14 s and printed 20,000 rows when all were listed)."""
    with catalog.session(readonly=True) as s:
        counts = daily_repo.count_by_status(s, cfg.code)
        promoted = models_repo.latest_promoted(s, cfg.code)
        row = show_repo.get_show(s, cfg.code)
        requests = fixes.list_fix_requests(s, cfg.code, limit=50)
        running = rendering_progress(s, requests)
        return {
            "code": cfg.code,
            "name": cfg.name or cfg.code,
            "ingest_roots": [str(r.path) for r in cfg.ingest.roots],
            "missing_roots": [str(r.path) for r in cfg.ingest.roots if not r.path.is_dir()],
            "model_stale": bool(row.model_stale) if row else False,
            "wrapped_at": row.wrapped_at.isoformat(timespec="seconds") if row and row.wrapped_at else None,
            "wrap_note": row.wrap_note if row else None,
            "promoted_model": promoted.version if promoted else None,
            "promoted_model_outdated": promoted is not None and made_by_older_rushes(promoted),
            "model_versions": len(models_repo.list_versions(s, cfg.code)),
            "dailies_total": counts.get("registered", 0),
            "quarantined_total": counts.get("quarantined", 0),
            "dailies": [
                daily_record(d) for d in daily_repo.newest_dailies(s, cfg.code, "registered", dailies)
            ],
            "quarantined": [
                daily_record(d) for d in daily_repo.newest_dailies(s, cfg.code, "quarantined", dailies)
            ],
            "fix_requests": [request_record(r, running.get(r.id)) for r in requests],
            "training": training_record(cfg, (windows or {}).get(cfg.code)),
        }


def made_by_older_rushes(row: ModelVersion) -> bool:
    """Whether a version is one an older Rushes made, which this one does not use (engine.model.ModelOutdated):
    read from its manifest alone (a weights file of other heads is found when a fix loads it)."""
    from engine.model import ModelError, ModelOutdated, load_manifest

    if models_repo.recorded_seal(row):
        return False
    try:
        load_manifest(row.path)
    except ModelOutdated:
        return True
    except ModelError:
        return False
    return False


QUIET_AFTER_S = 300.0  # a daemon whose reads went through but that has not polled for this long may be down
FORGOTTEN_AFTER = timedelta(days=1)  # a machine that has not polled for a day is no longer listed


def read_record(r: tracker_reads.ReadState, now: datetime, interval: float) -> dict[str, Any]:
    """How a daemon machine's reads of the tracker go: `problem` None while they go through; `quiet` when it has
    not polled for longer than its rounds take (an ok poller's interval, a failing one's longest backoff)."""
    quiet_after = max(QUIET_AFTER_S, 3 * interval)
    if r.problem is not None:
        quiet_after = max(quiet_after, 2 * MAX_FATAL_WAIT_S)
    return {
        "host": r.host,
        "tracker": r.tracker,
        "problem": r.problem,
        "since": r.since.isoformat(timespec="seconds"),
        "read_at": r.read_at.isoformat(timespec="seconds") if r.read_at else None,
        "checked_at": r.checked_at.isoformat(timespec="seconds"),
        "quiet": (now - r.checked_at).total_seconds() > quiet_after,
    }


def unfollowed_records(s: Session, shows: list[ShowConfig]) -> list[dict[str, Any]]:
    """The tracker projects whose fix requests were read while no show followed them, and that no show follows
    now either (one whose show was since set to follow it is left out): per project, how many and since when."""
    return [
        {
            "tracker": p.tracker,
            "project": p.project,
            "names": list(p.names),
            "requests": p.requests,
            "since": p.since.isoformat(timespec="seconds"),
            "last": p.last.isoformat(timespec="seconds"),
            "shots": list(p.shots),
        }
        for p in unfollowed.unfollowed_projects(s)
        if show_for(p.project, shows, p.names) is None
    ]


def unfollowed_note(records: list[dict[str, Any]]) -> str | None:
    """/readyz's one line on them (readiness is not failed for it: nothing in this daemon is down), or None."""
    if not records:
        return None
    projects = ", ".join(f"{r['project']} ({r['requests']} since {r['since']})" for r in records)
    return (
        f"fix requests on tracker project(s) no show follows were not taken: {projects}; "
        "`rushes status` says what to do"
    )


def collect(
    settings: Settings,
    catalog: Catalog,
    show: str | None = None,
    jobs_limit: int = 50,
    dailies: int | None = DAILIES_SHOWN,
) -> dict[str, Any]:
    shows, invalid = read_shows(settings, catalog)
    windows = scheduled_windows(catalog)
    shows_out = [show_record(catalog, cfg, dailies, windows) for cfg in shows if show in (None, cfg.code)]
    with catalog.session(readonly=True) as s:
        counts = job_repo.counts(s)
        jobs = [job_record(j) for j in job_repo.list_jobs(s, show=show, limit=jobs_limit)]
        now = utcnow()
        interval = settings.tracker.poll_interval
        reads = [read_record(r, now, interval) for r in tracker_reads.read_states(s, now - FORGOTTEN_AFTER)]
        unfollowed_projects = unfollowed_records(s, shows)
    return {
        "data_dir": str(settings.data_dir),
        "catalog": catalog.url,
        "tracker_reads": reads,
        "unfollowed_projects": unfollowed_projects,
        "shows": shows_out,
        "invalid_shows": [
            {"code": code, "problems": error.problems}
            for code, error in sorted(invalid.items())
            if show in (None, code)
        ],
        "jobs": {
            "counts": [{"kind": k, "state": st, "count": n} for (k, st), n in sorted(counts.items())],
            "recent": jobs,
        },
    }
