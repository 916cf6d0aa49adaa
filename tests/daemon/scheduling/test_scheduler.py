"""The training schedule: window and quiet-period decisions, crontab weekdays, and the APScheduler timetable
kept in the catalog (restarts without duplicates, a missed window run once, removed shows dropped)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger

from daemon import scheduling
from daemon.catalog import Catalog, CatalogError, Job, utcnow
from daemon.catalog import jobs as job_repo
from daemon.catalog.dailies import DailyFacts, exclude_daily, include_daily, register_daily
from daemon.catalog.shows import ensure_show, get_show, set_model_stale
from daemon.jobs.payloads import TrainJob
from daemon.scheduling import (
    JOBS_TABLE,
    ScheduleError,
    Scheduler,
    crontab_trigger,
    next_window,
    quiet_due,
    scheduled_jobs,
    window_fired,
)
from daemon.scheduling import scheduler as timetable
from daemon.settings import ShowConfig, TrainingWindow

CODE = "MYSHOW"


def show_config(
    code: str = CODE, cron: str = "0 1 * * *", hours: float = 5.0, quiet: float = 0.0, budget: float = 600.0
) -> ShowConfig:
    return ShowConfig(
        code=code,
        training=TrainingWindow(cron=cron, hours=hours, quiet_minutes=quiet),
        train={"budget_seconds": budget},  # type: ignore[arg-type]
    )


def add_show(catalog: Catalog, code: str = CODE, stale: bool = True) -> None:
    with catalog.session() as s:
        ensure_show(s, code)
        set_model_stale(s, code, stale)


def add_daily(catalog: Catalog, name: str, code: str = CODE) -> tuple[int, datetime]:
    with catalog.session() as s:
        daily, _ = register_daily(
            s,
            code,
            DailyFacts(path=f"/ingest/{name}.mov", size_bytes=10, mtime=1.0, content_hash=name, shot="A010"),
        )
        return daily.id, daily.created_at


def train_jobs(catalog: Catalog, code: str = CODE) -> list[Job]:
    with catalog.session() as s:
        return job_repo.list_jobs(s, kind="train", show=code)


def wait_for(check: Callable[[], Any], timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {check}")


@pytest.fixture
def scheduler_factory(catalog: Catalog) -> Iterator[Callable[..., Scheduler]]:
    made: list[Scheduler] = []

    def make(shows: list[ShowConfig], on_reconcile: Callable[[], object] = lambda: None) -> Scheduler:
        sched = Scheduler(catalog, shows, on_reconcile=on_reconcile, timezone=UTC)
        made.append(sched)
        return sched

    yield make
    for sched in made:
        sched.shutdown(wait=False)


def set_stored_next_run(catalog: Catalog, job_id: str, when: datetime, trigger: Any = None) -> None:
    """Play the daemon being down at `when`: rewrite the stored job so it still waits for that run time (and,
    given, on `trigger`), through APScheduler's own job store, which owns the row's format."""
    store = SQLAlchemyJobStore(engine=catalog.engine, tablename=JOBS_TABLE)
    store.start(BackgroundScheduler(timezone=UTC), "default")  # a scheduler only lends its timezone here
    job = store.lookup_job(job_id)
    assert job is not None, f"no stored job {job_id}"
    job._modify(next_run_time=when, **({"trigger": trigger} if trigger is not None else {}))
    store.update_job(job)


def stored_next_run(catalog: Catalog, job_id: str) -> datetime | None:
    return dict(scheduled_jobs(catalog)).get(job_id)


# ---- crontab and windows ---------------------------------------------------------------------------------------


def fires(expr: str, after: datetime, count: int) -> list[datetime]:
    trigger = crontab_trigger(expr, UTC)
    out: list[datetime] = []
    fire = trigger.get_next_fire_time(None, after)
    while fire is not None and len(out) < count:
        out.append(fire)
        fire = trigger.get_next_fire_time(fire, fire + timedelta(seconds=1))
    return out


def test_crontab_weekdays_mean_what_they_mean_in_crontab() -> None:
    sunday = datetime(2025, 6, 1, tzinfo=UTC)  # a Sunday
    assert [d.strftime("%a") for d in fires("0 1 * * 1-5", sunday, 5)] == ["Mon", "Tue", "Wed", "Thu", "Fri"]
    assert [d.strftime("%a") for d in fires("0 1 * * 0", sunday, 2)] == ["Sun", "Sun"]
    assert [d.strftime("%a") for d in fires("0 1 * * 7", sunday, 1)] == ["Sun"]
    assert [d.strftime("%a") for d in fires("0 1 * * sat,sun", sunday, 3)] == ["Sun", "Sat", "Sun"]
    assert [d.strftime("%a") for d in fires("0 1 * * */2", sunday, 4)] == ["Sun", "Tue", "Thu", "Sat"]
    assert [d.strftime("%a") for d in fires("0 1 * * 1/2", sunday, 4)] == [
        "Mon",
        "Wed",
        "Fri",
        "Mon",
    ]  # 1-6/2


def test_a_bad_cron_line_names_the_show(catalog: Catalog) -> None:
    with pytest.raises(ScheduleError, match=r"show MYSHOW: training\.cron '99 1 \* \* \*'.*fix it"):
        Scheduler(catalog, [show_config(cron="99 1 * * *")], on_reconcile=lambda: None, timezone=UTC)
    with pytest.raises(ScheduleError, match="not a weekday"):
        Scheduler(catalog, [show_config(cron="0 1 * * 9")], on_reconcile=lambda: None, timezone=UTC)
    with pytest.raises(ScheduleError, match="'8' is not a weekday"):  # not Monday again: 7 is the last
        Scheduler(catalog, [show_config(cron="0 1 * * 8")], on_reconcile=lambda: None, timezone=UTC)
    with pytest.raises(ScheduleError, match="range '5-1' runs backwards"):
        Scheduler(catalog, [show_config(cron="0 1 * * 5-1")], on_reconcile=lambda: None, timezone=UTC)


def test_next_window_is_the_open_one_or_the_next() -> None:
    show = show_config(cron="0 1 * * *", hours=5)
    day = datetime(2025, 6, 2, tzinfo=UTC)
    inside = next_window(show, day + timedelta(hours=2), UTC)
    assert inside == (day + timedelta(hours=1), day + timedelta(hours=6))
    after = next_window(show, day + timedelta(hours=6), UTC)
    assert after == (day + timedelta(days=1, hours=1), day + timedelta(days=1, hours=6))
    before = next_window(show, day, UTC)
    assert before == (day + timedelta(hours=1), day + timedelta(hours=6))


# ---- decisions -----------------------------------------------------------------------------------------------


def test_window_queues_one_train_job_only_when_stale(catalog: Catalog) -> None:
    add_show(catalog, stale=False)
    fired = datetime(2025, 6, 2, 1, 0, tzinfo=UTC)
    during = fired + timedelta(minutes=3)
    assert not window_fired(catalog, CODE, fired, 5, now=during).queued
    assert train_jobs(catalog) == []

    add_show(catalog, stale=True)
    first = window_fired(catalog, CODE, fired, 5, now=during)
    again = window_fired(catalog, CODE, fired, 5, now=during + timedelta(minutes=1))
    assert first.queued and not again.queued
    assert again.job_id == first.job_id
    [job] = train_jobs(catalog)
    assert job.key == f"train:{CODE}:20250602T0100"
    assert TrainJob.from_json(job.payload) == TrainJob(
        CODE, "window", deadline=fired + timedelta(hours=5), window=fired
    )
    assert job.state == "queued" and job.show == CODE


def test_a_daily_excluded_or_included_again_makes_the_next_window_train(catalog: Catalog) -> None:
    """An actor's contract withdrawn, no new daily since the last training: the nightly window said the model
    was current and never trained again, so fixes kept using the version that learned from the daily."""
    add_show(catalog, stale=False)
    daily, _ = add_daily(catalog, "withdrawn")
    add_show(catalog, stale=False)  # trained since it landed
    night = datetime(2025, 6, 2, 1, 0, tzinfo=UTC)
    with catalog.session() as s:
        exclude_daily(s, daily, "contract withdrawn")
    assert window_fired(catalog, CODE, night, 5, now=night + timedelta(minutes=1)).queued

    add_show(catalog, stale=False)  # that job trained without it
    with catalog.session() as s:
        include_daily(s, daily)
        show = get_show(s, CODE)
        assert show is not None and show.model_stale


def test_window_that_has_closed_queues_nothing(catalog: Catalog) -> None:
    add_show(catalog)
    fired = datetime(2025, 6, 2, 1, 0, tzinfo=UTC)
    decision = window_fired(catalog, CODE, fired, 5, now=fired + timedelta(hours=5))
    assert not decision.queued and "closed" in decision.reason
    assert train_jobs(catalog) == []


def test_window_waits_for_a_train_job_already_pending(catalog: Catalog) -> None:
    add_show(catalog)
    with catalog.session() as s:
        job_repo.enqueue(s, "train", "train:MYSHOW:manual", {}, show=CODE)
    fired = datetime(2025, 6, 2, 1, 0, tzinfo=UTC)
    decision = window_fired(catalog, CODE, fired, 5, now=fired)
    assert not decision.queued and "already queued" in decision.reason
    assert len(train_jobs(catalog)) == 1


def test_quiet_period_trains_once_dailies_stop_landing(catalog: Catalog) -> None:
    show = show_config(quiet=10, budget=600)
    add_show(catalog)
    first_id, landed = add_daily(catalog, "A010_T01")
    assert not quiet_due(catalog, show, landed + timedelta(minutes=5)).queued
    newest_id, landed = add_daily(catalog, "A010_T02")
    assert not quiet_due(catalog, show, landed + timedelta(minutes=9)).queued
    assert train_jobs(catalog) == []

    now = landed + timedelta(minutes=11)
    decision = quiet_due(catalog, show, now)
    assert decision.queued
    assert not quiet_due(catalog, show, now + timedelta(minutes=1)).queued
    [job] = train_jobs(catalog)
    assert job.key == f"train:{CODE}:quiet:{newest_id}" and newest_id != first_id
    assert job.payload["reason"] == "quiet"
    assert (
        "deadline" not in job.payload
    )  # the show's budget from whenever it starts (behind fixes, a restart)


def test_quiet_period_does_nothing_for_a_current_model_or_when_off(catalog: Catalog) -> None:
    add_show(catalog, stale=False)
    _, landed = add_daily(catalog, "A010_T01")
    later = landed + timedelta(hours=1)
    assert "current" in quiet_due(catalog, show_config(quiet=10), later).reason
    add_show(catalog, stale=True)
    assert "off" in quiet_due(catalog, show_config(quiet=0), later).reason
    assert train_jobs(catalog) == []


# ---- the scheduler on the catalog's job store ---------------------------------------------------------------


def test_restart_keeps_the_same_jobs_and_drops_removed_shows(
    catalog: Catalog, scheduler_factory: Callable[..., Scheduler]
) -> None:
    shows = [show_config("AAA", quiet=10), show_config("BBB", cron="15 2 * * 1-5")]
    assert scheduled_jobs(catalog) == []  # never scheduled: no table yet
    first = scheduler_factory(shows)
    first.start()
    ids = [job_id for job_id, _ in first.jobs()]
    assert ids == ["reconcile", "train-quiet:AAA", "train-window:AAA", "train-window:BBB"]
    window_next = dict(first.jobs())["train-window:BBB"]
    assert window_next is not None and (window_next.hour, window_next.minute) == (2, 15)
    assert window_next.strftime("%a") not in ("Sat", "Sun")
    first.shutdown()
    assert [job_id for job_id, _ in scheduled_jobs(catalog)] == ids  # stored, read while stopped

    second = scheduler_factory(shows)
    second.start()
    assert [job_id for job_id, _ in second.jobs()] == ids
    assert dict(second.jobs())["train-window:BBB"] == window_next
    second.shutdown()
    assert len(scheduled_jobs(catalog)) == len(ids)  # one row per id: nothing duplicated

    third = scheduler_factory([show_config("AAA")])  # BBB left the config, AAA dropped its quiet period
    third.start()
    assert [job_id for job_id, _ in third.jobs()] == ["reconcile", "train-window:AAA"]
    third.shutdown()
    assert [job_id for job_id, _ in scheduled_jobs(catalog)] == ["reconcile", "train-window:AAA"]


def test_a_show_added_or_changed_while_running_gets_its_timetable_and_a_bad_cron_changes_nothing(
    catalog: Catalog, scheduler_factory: Callable[..., Scheduler]
) -> None:
    running = scheduler_factory([show_config("AAA")])
    running.start()
    running.update(show_config("NEW", cron="30 3 * * *", quiet=10))  # `rushes show add` while it runs
    assert [job_id for job_id, _ in running.jobs()] == [
        "reconcile",
        "train-quiet:NEW",
        "train-window:AAA",
        "train-window:NEW",
    ]
    window = dict(running.jobs())["train-window:NEW"]
    assert window is not None and (window.hour, window.minute) == (3, 30)
    assert timetable.RUNTIME is not None and timetable.RUNTIME.shows["NEW"].training.quiet_minutes == 10
    running.update(show_config("NEW", cron="30 4 * * *"))  # its quiet period dropped, its window moved
    assert [job_id for job_id, _ in running.jobs()] == ["reconcile", "train-window:AAA", "train-window:NEW"]
    assert dict(running.jobs())["train-window:NEW"].hour == 4  # type: ignore[union-attr]
    with pytest.raises(ScheduleError, match="show NEW"):
        running.update(show_config("NEW", cron="99 * * * *"))
    assert dict(running.jobs())["train-window:NEW"].hour == 4  # type: ignore[union-attr]
    running.shutdown()
    again = scheduler_factory(running.shows)  # what a leader elected later schedules
    again.start()
    assert [job_id for job_id, _ in again.jobs()] == ["reconcile", "train-window:AAA", "train-window:NEW"]


def test_a_window_missed_while_down_runs_once_on_start(
    catalog: Catalog, scheduler_factory: Callable[..., Scheduler]
) -> None:
    add_show(catalog)
    fire = utcnow().replace(second=0, microsecond=0) - timedelta(minutes=1)
    shows = [show_config(cron=f"{fire.minute} {fire.hour} * * *", hours=1)]
    first = scheduler_factory(shows)
    first.start()
    assert dict(first.jobs())[f"train-window:{CODE}"] == fire + timedelta(days=1)
    first.shutdown()
    assert train_jobs(catalog) == []

    set_stored_next_run(catalog, f"train-window:{CODE}", fire)  # down when the window opened
    second = scheduler_factory(shows)
    second.start()
    [job] = wait_for(lambda: train_jobs(catalog))
    assert job.key == f"train:{CODE}:{fire:%Y%m%dT%H%M}"
    assert job.payload["deadline"] == (fire + timedelta(hours=1)).isoformat()
    wait_for(lambda: (stored_next_run(catalog, f"train-window:{CODE}") or fire) > utcnow())
    second.shutdown(wait=True)  # every run it submitted before moving on to tomorrow has finished
    assert len(train_jobs(catalog)) == 1  # run once, not once per restart or per missed day


def test_a_window_stored_by_the_release_before_wall_clock_triggers_still_runs_once_after_the_upgrade(
    catalog: Catalog, scheduler_factory: Callable[..., Scheduler]
) -> None:
    add_show(catalog)
    fire = utcnow().replace(second=0, microsecond=0) - timedelta(minutes=1)
    shows = [show_config(cron=f"{fire.minute} {fire.hour} * * *", hours=1)]
    first = scheduler_factory(shows)
    first.start()
    first.shutdown()
    # what that release stored: an APScheduler CronTrigger of the same line and zone, due while it was down
    old = CronTrigger(minute=str(fire.minute), hour=str(fire.hour), timezone=UTC)
    set_stored_next_run(catalog, f"train-window:{CODE}", fire, old)

    upgraded = scheduler_factory(shows)
    upgraded.start()
    [train] = wait_for(lambda: train_jobs(catalog))  # the window that opened during the upgrade is not lost
    assert train.key == f"train:{CODE}:{fire:%Y%m%dT%H%M}"


def test_a_window_missed_entirely_is_skipped(
    catalog: Catalog, scheduler_factory: Callable[..., Scheduler]
) -> None:
    add_show(catalog)
    fire = utcnow().replace(second=0, microsecond=0) - timedelta(hours=2)
    shows = [show_config(cron=f"{fire.minute} {fire.hour} * * *", hours=1)]
    first = scheduler_factory(shows)
    first.start()
    first.shutdown()

    set_stored_next_run(catalog, f"train-window:{CODE}", fire)  # down for the whole one-hour window
    second = scheduler_factory(shows)
    second.start()
    wait_for(lambda: (stored_next_run(catalog, f"train-window:{CODE}") or fire) > utcnow())
    second.shutdown(wait=True)  # a run submitted before moving on to tomorrow would have finished now
    assert train_jobs(catalog) == []
    assert stored_next_run(catalog, f"train-window:{CODE}") == fire + timedelta(days=1)


def test_the_nightly_reconcile_reaches_the_daemon(
    catalog: Catalog, scheduler_factory: Callable[..., Scheduler]
) -> None:
    called = threading.Event()
    sched = scheduler_factory([show_config()], on_reconcile=called.set)
    sched.start()
    next_run = dict(sched.jobs())["reconcile"]
    assert next_run is not None and (next_run.hour, next_run.minute) == (3, 30)
    assert sched._scheduler is not None
    sched._scheduler.modify_job("reconcile", next_run_time=utcnow())  # bring 03:30 forward
    assert called.wait(10), "the stored reconcile job did not call the daemon's callback"
    sched.shutdown()
    assert timetable.RUNTIME is None


def test_the_stored_functions_reach_the_daemon_with_its_clock(catalog: Catalog) -> None:
    add_show(catalog)
    daily_id, landed = add_daily(catalog, "A010_T01")
    clock = [landed + timedelta(minutes=2)]
    sched = Scheduler(
        catalog,
        [show_config(hours=5, quiet=10)],
        on_reconcile=lambda: None,
        clock=lambda: clock[0],
        timezone=UTC,
    )
    sched.start()
    try:
        scheduling.run_quiet(CODE)  # what the every-minute job calls: too soon after the daily
        assert train_jobs(catalog) == []
        clock[0] = landed + timedelta(minutes=11)
        scheduling.run_quiet(CODE)
        [job] = train_jobs(catalog)
        assert job.key == f"train:{CODE}:quiet:{daily_id}"

        with catalog.session() as s:  # the quiet run finished: the window then queues its own
            job_repo.claim(s, "worker-1", ["train"])
            job_repo.complete(s, job.id, "worker-1")
        day = landed.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
        clock[0] = day + timedelta(hours=7)  # after 01:00-06:00: no window is open
        scheduling.run_window(CODE)
        assert len(train_jobs(catalog)) == 1
        clock[0] = day + timedelta(hours=1, minutes=30)
        scheduling.run_window(CODE)
        window_job = train_jobs(catalog)[0]
        assert window_job.key == f"train:{CODE}:{day:%Y%m%d}T0100"
        assert window_job.payload["deadline"] == (day + timedelta(hours=6)).isoformat()
    finally:
        sched.shutdown()


def test_an_unreachable_catalog_is_one_clear_error_at_start() -> None:
    catalog = Catalog("postgresql+psycopg://rushes@127.0.0.1:1/nowhere")
    sched = Scheduler(catalog, [show_config()], on_reconcile=lambda: None, timezone=UTC)
    with pytest.raises(CatalogError, match=r"cannot open the catalog at .*cannot store the schedule"):
        sched.start()
    assert not sched.running and timetable.RUNTIME is None
    assert sched.jobs() == []
