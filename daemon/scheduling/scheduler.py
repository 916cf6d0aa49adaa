"""The timetable: APScheduler fires the training windows, the quiet-period checks and the nightly reconcile.

APScheduler 3 runs the timetable in a background thread; its jobs live in the catalog's database (table
`apscheduler_jobs`, SQLite or PostgreSQL), so a restart keeps each job's next run time and a window the
daemon was down for still runs once if it is still open. Only the leader daemon runs it (daemon.leader).

Jobs, with stable ids (a restart with the same config replaces them, never duplicates them):
- `train-window:<code>`: at the show's `training.cron` (crontab syntax, weekday 0 = Sunday, on the wall
  clock of the show's `training.timezone`, else of the scheduler's zone; daemon.crontab.WallClockTrigger); queues one durable `train` job if the show's model is stale (decisions.window_fired). A window missed
  while the daemon was down runs once when it comes back before the window closes
  (misfire_grace_time = the window length); a window missed entirely is skipped.
- `train-quiet:<code>` (shows with `training.quiet_minutes` > 0): every minute; queues a `train` job when
  the model is stale and the newest daily landed more than `quiet_minutes` ago.
- `reconcile`: every night at 03:30; calls the daemon's reconcile callback.

The job store pickles jobs, so the functions it calls (`run_window`, `run_quiet`, `run_reconcile`) are
module-level and take only the show code. They reach the running daemon through the module-level
`RUNTIME` registry, which `Scheduler.start()` fills and `Scheduler.shutdown()` clears: one Scheduler per
process. The decisions themselves are plain functions (daemon.scheduling.decisions) taking the catalog.
Jobs stored by earlier versions name these functions as `daemon.scheduling:run_window` (etc.), which the
package still exports.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.job import Job as ScheduledJob
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import Column, Float, MetaData, Table, Unicode, select
from sqlalchemy.exc import DBAPIError

from daemon.catalog import Catalog, CatalogError, utcnow
from daemon.catalog.db import make_engine
from daemon.crontab import crontab_trigger
from daemon.logs import get_logger
from daemon.scheduling.decisions import open_window, quiet_due, show_trigger, window_fired, zone
from daemon.settings import ConfigError, ShowConfig

log = get_logger("rushes.scheduler")

JOBS_TABLE = "apscheduler_jobs"
WINDOW = "train-window:"
QUIET = "train-quiet:"
RETRY = "train-window-retry:"
RECONCILE = "reconcile"
RECONCILE_CRON = "30 3 * * *"
RETRY_AFTER_S = 60.0
WAKE_EVERY_S = 60.0
"""The longest the timetable sleeps before it reads the wall clock again. APScheduler sleeps until its next run
time on the monotonic clock, which a suspended VM's does not count and a step of the wall clock does not move:
from the 03:30 reconcile to a 01:00 window it slept 21.5 hours, so a host resumed after a 6-hour suspend, or a
clock that NTP stepped forward, opened the window hours late or skipped it as missed."""
_OURS = (WINDOW, QUIET, RETRY)

Clock = Callable[[], datetime]
"""The current time, timezone-aware (`daemon.catalog.utcnow` by default; tests inject their own)."""


# ---- the registry the job store's functions reach the daemon through -----------------------------------------


@dataclass
class Runtime:
    """What the scheduled functions need from the running daemon; `Scheduler.start()` installs it."""

    catalog: Catalog
    shows: dict[str, ShowConfig]
    on_reconcile: Callable[[], object]
    clock: Clock
    timezone: tzinfo
    scheduler: BackgroundScheduler


RUNTIME: Runtime | None = None
"""The running Scheduler's Runtime (None when no scheduler runs in this process)."""


def _runtime(what: str) -> Runtime | None:
    if RUNTIME is None:
        log.warning("schedule.no_runtime", job=what)
    return RUNTIME


def run_window(code: str) -> None:
    """Scheduled at the show's training cron: queue the window's train job (see `window_fired`)."""
    rt = _runtime(WINDOW + code)
    show = rt.shows.get(code) if rt else None
    if rt is None or show is None:
        return
    now = rt.clock()
    start = open_window(show_trigger(show, rt.timezone), show.training.hours, now)
    if start is None:
        log.info("schedule.window_closed", show=code)
        return
    try:
        decision = window_fired(rt.catalog, code, start, show.training.hours, now=now)
    except (CatalogError, DBAPIError) as exc:
        log.error("schedule.window_failed", show=code, error=str(exc), retry_in_s=RETRY_AFTER_S)
        _retry_window(rt, code, now)
        return
    log.info(
        "schedule.window",
        show=code,
        window=start.isoformat(),
        queued=decision.queued,
        reason=decision.reason,
        job=decision.job_id,
    )


def _retry_window(rt: Runtime, code: str, now: datetime) -> None:
    """The catalog was unreachable when the window opened: look again in a minute (while it is open)."""
    rt.scheduler.add_job(
        run_window,
        DateTrigger(now + timedelta(seconds=RETRY_AFTER_S)),
        args=[code],
        id=RETRY + code,
        replace_existing=True,
        misfire_grace_time=None,
    )


def run_quiet(code: str) -> None:
    """Scheduled every minute for shows with a quiet period (see `quiet_due`)."""
    rt = _runtime(QUIET + code)
    show = rt.shows.get(code) if rt else None
    if rt is None or show is None:
        return
    try:
        decision = quiet_due(rt.catalog, show, rt.clock())
    except (CatalogError, DBAPIError) as exc:
        log.warning("schedule.quiet_failed", show=code, error=str(exc))
        return
    if decision.queued:
        log.info("schedule.quiet", show=code, job=decision.job_id)


def run_reconcile() -> None:
    """Scheduled nightly: the daemon's reconcile (rescan every ingest root)."""
    rt = _runtime(RECONCILE)
    if rt is None:
        return
    try:
        rt.on_reconcile()
    except Exception as exc:
        log.error("schedule.reconcile_failed", error=str(exc), exc_info=True)


# ---- the scheduler -------------------------------------------------------------------------------------------


class _Timetable(BackgroundScheduler):
    """APScheduler's background scheduler, looking at the wall clock at least every WAKE_EVERY_S seconds."""

    def _process_jobs(self) -> float | None:
        wait: float | None = super()._process_jobs()
        return WAKE_EVERY_S if wait is None else min(wait, WAKE_EVERY_S)


class Scheduler:
    """The timetable of one daemon (the leader). `start()` syncs the stored jobs with `shows` and runs them
    in a background thread; `shutdown()` stops it; `jobs()` lists (id, next run time) for status output."""

    def __init__(
        self,
        catalog: Catalog,
        shows: list[ShowConfig],
        on_reconcile: Callable[[], object],
        clock: Clock = utcnow,
        timezone: tzinfo | str | None = None,
    ) -> None:
        self.catalog = catalog
        self.shows = list(shows)
        self.on_reconcile = on_reconcile
        self.clock = clock
        try:
            self.timezone = zone(timezone)
        except ValueError as exc:  # a TZ the machine's zone cannot be read from: one line, not a traceback
            raise ConfigError([str(exc)]) from None
        self._scheduler: BackgroundScheduler | None = None
        for show in self.shows:
            show_trigger(show, self.timezone)  # a bad cron line fails here, before anything runs

    @property
    def running(self) -> bool:
        return self._scheduler is not None

    def start(self) -> None:
        """Start (a no-op when already running): install the runtime, sync the jobs, begin firing them."""
        global RUNTIME
        if self._scheduler is not None:
            return
        scheduler = _Timetable(
            jobstores={"default": self._job_store()},
            executors={"default": ThreadPoolExecutor(max_workers=2)},
            job_defaults={"coalesce": True, "max_instances": 1},
            timezone=self.timezone,
        )
        RUNTIME = Runtime(
            catalog=self.catalog,
            shows={show.code: show for show in self.shows},
            on_reconcile=self.on_reconcile,
            clock=self.clock,
            timezone=self.timezone,
            scheduler=scheduler,
        )
        try:
            scheduler.start(paused=True)
            self._sync(scheduler)
            scheduler.resume()
        except BaseException as exc:
            if scheduler.running:
                scheduler.shutdown(wait=False)
            RUNTIME = None
            if isinstance(exc, DBAPIError):
                reason = f"cannot store the schedule ({exc.orig or exc})"
                raise CatalogError(self.catalog.url, reason) from exc
            raise
        self._scheduler = scheduler
        log.info("schedule.started", jobs=[job_id for job_id, _ in self.jobs()])

    def shutdown(self, wait: bool = True) -> None:
        """Stop firing jobs (waiting for running ones when `wait`); the stored jobs stay for the next start."""
        global RUNTIME
        if self._scheduler is None:
            return
        self._scheduler.shutdown(wait=wait)
        if RUNTIME is not None and RUNTIME.scheduler is self._scheduler:
            RUNTIME = None
        self._scheduler = None

    def jobs(self) -> list[tuple[str, datetime | None]]:
        """(job id, next run time) sorted by id: live when running, else as stored in the catalog."""
        if self._scheduler is None:
            return scheduled_jobs(self.catalog)
        return sorted(
            ((job.id, job.next_run_time) for job in self._scheduler.get_jobs()), key=lambda item: item[0]
        )

    def _job_store(self) -> SQLAlchemyJobStore:
        # Its own engine on the catalog's URL: the store disposes its engine at shutdown.
        return SQLAlchemyJobStore(engine=make_engine(self.catalog.engine.url), tablename=JOBS_TABLE)

    def update(self, show: ShowConfig) -> None:
        """A show added, or its training options changed, while the daemon runs: its timetable from now on
        (a bad cron line raises ScheduleError here, and nothing changes)."""
        show_trigger(show, self.timezone)
        self.shows = [s for s in self.shows if s.code != show.code] + [show]
        scheduler = self._scheduler
        if scheduler is None:
            return  # start() syncs the new list
        if RUNTIME is not None and RUNTIME.scheduler is scheduler:
            RUNTIME.shows[show.code] = show
        kept = self._add_show(scheduler, show)
        if QUIET + show.code not in kept and scheduler.get_job(QUIET + show.code) is not None:
            scheduler.remove_job(QUIET + show.code)
        log.info("schedule.show", show=show.code, jobs=sorted(kept))

    def remove(self, code: str) -> None:
        """A show wrapped while the daemon runs: its training window and quiet-period check no longer fire."""
        self.shows = [s for s in self.shows if s.code != code]
        scheduler = self._scheduler
        if scheduler is None:
            return  # start() syncs the new list, and removes the show's stored jobs
        if RUNTIME is not None and RUNTIME.scheduler is scheduler:
            RUNTIME.shows.pop(code, None)
        for job_id in (WINDOW + code, QUIET + code, RETRY + code):
            if scheduler.get_job(job_id) is not None:
                scheduler.remove_job(job_id)
        log.info("schedule.show_removed", show=code)

    def _sync(self, scheduler: BackgroundScheduler) -> None:
        wanted = {RECONCILE}
        for show in self.shows:
            wanted |= self._add_show(scheduler, show)
        scheduler.add_job(
            run_reconcile,
            crontab_trigger(RECONCILE_CRON, self.timezone),
            id=RECONCILE,
            name="nightly reconcile",
            replace_existing=True,
            misfire_grace_time=3600,
        )
        for job in scheduler.get_jobs():
            if job.id.startswith(_OURS) and job.id not in wanted and not job.id.startswith(RETRY):
                scheduler.remove_job(job.id)
                log.info("schedule.removed", job=job.id)

    def _add_show(self, scheduler: BackgroundScheduler, show: ShowConfig) -> set[str]:
        """The show's jobs on `scheduler`: its training window and, with a quiet period, its check; their ids."""
        self._add_window(scheduler, show)
        if show.training.quiet_minutes <= 0:
            return {WINDOW + show.code}
        scheduler.add_job(
            run_quiet,
            IntervalTrigger(minutes=1, timezone=self.timezone),
            args=[show.code],
            id=QUIET + show.code,
            name=f"{show.code} quiet-period check",
            replace_existing=True,
            misfire_grace_time=60,
        )
        return {WINDOW + show.code, QUIET + show.code}

    def _add_window(self, scheduler: BackgroundScheduler, show: ShowConfig) -> None:
        job_id = WINDOW + show.code
        trigger = show_trigger(show, self.timezone)
        stored: ScheduledJob | None = scheduler.get_job(job_id)
        keep: dict[str, Any] = {}
        if stored is not None and stored.next_run_time is not None and trigger.same_timetable(stored.trigger):
            # Same timetable: keep the stored next run time, so a window that opened while the daemon
            # was down still fires now (within misfire_grace_time) instead of waiting for the next one.
            keep["next_run_time"] = stored.next_run_time
        scheduler.add_job(
            run_window,
            trigger,
            args=[show.code],
            id=job_id,
            name=f"{show.code} training window",
            replace_existing=True,
            coalesce=True,
            max_instances=1,
            misfire_grace_time=max(60, int(show.training.hours * 3600)),
            **keep,
        )


def scheduled_jobs(catalog: Catalog) -> list[tuple[str, datetime | None]]:
    """(job id, next run time) as stored in the catalog, read without unpickling (for `rushes status` in a
    process that does not lead); [] when the scheduler never ran on this catalog."""
    table = Table(JOBS_TABLE, MetaData(), Column("id", Unicode(191)), Column("next_run_time", Float(25)))
    try:
        with catalog.session(readonly=True) as s:
            rows = s.execute(select(table.c.id, table.c.next_run_time).order_by(table.c.id)).all()
    except (CatalogError, DBAPIError):
        return []
    return [(job_id, None if ts is None else datetime.fromtimestamp(ts, UTC)) for job_id, ts in rows]
