"""When things run: the training windows and quiet periods (decisions), the APScheduler timetable that fires
them on the leader daemon (scheduler), and the tracker poller with its backoff (polling)."""

from daemon.crontab import crontab_trigger
from daemon.scheduling.decisions import (
    Decision,
    ScheduleError,
    next_window,
    open_window,
    quiet_due,
    show_trigger,
    window_fired,
)
from daemon.scheduling.scheduler import (
    JOBS_TABLE,
    RECONCILE,
    Runtime,
    Scheduler,
    run_quiet,
    run_reconcile,
    run_window,
    scheduled_jobs,
)

__all__ = [
    "JOBS_TABLE",
    "RECONCILE",
    "Decision",
    "Runtime",
    "ScheduleError",
    "Scheduler",
    "crontab_trigger",
    "next_window",
    "open_window",
    "quiet_due",
    "run_quiet",
    "run_reconcile",
    "run_window",
    "scheduled_jobs",
    "show_trigger",
    "window_fired",
]
