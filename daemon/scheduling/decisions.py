"""When a show retrains: its training windows and quiet periods, decided by plain functions on the catalog.

A training window opens at the show's `training.cron` (crontab syntax, weekday 0 = Sunday, on the wall clock of
the show's `training.timezone`, else of the scheduler's zone) and lasts `training.hours` (of elapsed time); `window_fired` queues one TrainJob for it (deadline: the window's end)
when the show's model is stale. `quiet_due` queues one when the show is stale and its newest daily landed more
than `training.quiet_minutes` ago (the run gets the show's budget from when it starts: no deadline, so a job that
waited behind fixes or a restart still trains). Both are idempotent through the
TrainJob's key, and neither queues while another train job of the show waits or runs. The clock is passed in.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from daemon.catalog import Catalog, Daily, Show, utcnow
from daemon.catalog import jobs as job_repo
from daemon.catalog import shows as show_repo
from daemon.crontab import WallClockTrigger, crontab_trigger, local_zone
from daemon.jobs.payloads import TrainJob, queue
from daemon.settings import ShowConfig


class ScheduleError(Exception):
    """A show's schedule cannot be set up (a bad cron expression): one line naming the show and the fix."""


@dataclass(frozen=True)
class Decision:
    """What a schedule check did: `queued` is True when it created a train job (`job_id`), `reason` says why."""

    queued: bool
    reason: str
    job_id: int | None = None


def show_trigger(show: ShowConfig, timezone: tzinfo | str | None = None) -> WallClockTrigger:
    """The show's training-window trigger, on the wall clock of its `training.timezone` (else `timezone`, else
    this machine's zone), or ScheduleError naming the show and its bad cron line."""
    try:
        return crontab_trigger(show.training.cron, show.training.timezone or timezone)
    except ValueError as exc:
        raise ScheduleError(
            f"show {show.code}: training.cron {show.training.cron!r} is not a valid crontab line ({exc}); "
            "fix it in the config"
        ) from exc


def open_window(trigger: WallClockTrigger, hours: float, now: datetime) -> datetime | None:
    """The start of the window open at `now` (the newest fire time t with t <= now < t + hours), or None."""
    length = timedelta(hours=hours)
    fire = trigger.get_next_fire_time(None, now - length)
    latest = None
    while fire is not None and fire <= now:
        latest = fire
        fire = trigger.get_next_fire_time(fire, fire)  # the fire after it, in elapsed time
    return latest if latest is not None and latest + length > now else None


def next_window(
    show: ShowConfig, now: datetime, timezone: tzinfo | str | None = None
) -> tuple[datetime, datetime] | None:
    """(start, end) of the show's training window open at `now`, else of the next one; None when the cron
    never fires. Use it to display the schedule and to cap a training run at the window's end."""
    trigger = show_trigger(show, timezone or local_zone())
    hours = timedelta(hours=show.training.hours)
    start = open_window(trigger, show.training.hours, now) or trigger.get_next_fire_time(None, now)
    return None if start is None else (start, start + hours)


def window_fired(
    catalog: Catalog, code: str, fired_at: datetime, hours: float, *, now: datetime | None = None
) -> Decision:
    """The training window of show `code` opened at `fired_at` and lasts `hours`: queue one `train` job for
    it when the show's model is stale. Idempotent: the job key names the window (its start in UTC), so a
    second call for the same window queues nothing."""
    now = now or utcnow()
    start = fired_at.astimezone(UTC)
    end = start + timedelta(hours=hours)
    if end <= now:
        return Decision(False, f"the window that opened at {start:%Y-%m-%d %H:%M} UTC is already closed")
    with catalog.session() as s:
        return _queue_train(s, TrainJob(code, "window", deadline=end, window=start))


def quiet_due(catalog: Catalog, show: ShowConfig, now: datetime | None = None) -> Decision:
    """Queue a `train` job for a stale show whose newest daily landed more than `training.quiet_minutes` ago.
    Idempotent per newest daily (the job key names it). The run gets the show's training budget when it starts:
    a deadline set here cut a job that waited in the queue (behind fixes, a restart) to nothing, and its key
    then kept the show from training again until another daily landed."""
    quiet = show.training.quiet_minutes
    if quiet <= 0:
        return Decision(False, "quiet-period training is off (training.quiet_minutes is 0)")
    now = now or utcnow()
    with catalog.session() as s:
        newest = _newest_daily(s, show.code)
        if newest is None:
            return Decision(False, "the show has no registered dailies")
        landed = newest.created_at
        if landed > now - timedelta(minutes=quiet):
            return Decision(False, f"dailies still landing (the newest at {landed:%H:%M:%S} UTC)")
        return _queue_train(s, TrainJob(show.code, "quiet", daily=newest.id))


def _queue_train(s: Session, job: TrainJob) -> Decision:
    """Queue `job` when the show is stale and no other train job of it is waiting or running (one run at a
    time retrains on every daily that landed before it)."""
    code, key = job.show, job.key()
    show = show_repo.get_show(s, code)
    if show is None:
        return Decision(False, f"show {code} is not in the catalog")
    if not show.model_stale:
        return Decision(False, "the model is current (no new dailies since it was trained)")
    existing = job_repo.get_job_by_key(s, key)
    if existing is not None:
        return Decision(False, f"already queued as job {existing.id} ({existing.state})", existing.id)
    pending = [
        job
        for state in ("queued", "running")
        for job in job_repo.list_jobs(s, kind="train", state=state, show=code, limit=1)
    ]
    if pending:
        return Decision(False, f"train job {pending[0].id} is already {pending[0].state}", pending[0].id)
    queued, _ = queue(s, job, show=code)
    return Decision(True, "queued", queued.id)


def _newest_daily(s: Session, code: str) -> Daily | None:
    return s.scalars(
        select(Daily)
        .join(Daily.show)
        .where(Show.code == code, Daily.status == "registered")
        .order_by(Daily.id.desc())
        .limit(1)
    ).first()


def zone(timezone: tzinfo | str | None) -> tzinfo:
    """`timezone` as a tzinfo (a name, or None for this machine's zone)."""
    if timezone is None:
        return local_zone()
    if isinstance(timezone, str):
        from zoneinfo import ZoneInfo

        return ZoneInfo(timezone)
    return timezone
