"""Training windows on a studio's own wall clock: a show's `training.timezone`, and the nights the clocks change
in Vancouver (2026-03-08, 2026-11-01) and London (2026-03-29, 2026-10-25), checked on a fake clock."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from apscheduler.schedulers import base as apscheduler_base

from daemon.catalog import Catalog, Job
from daemon.catalog import jobs as job_repo
from daemon.catalog.shows import ensure_show, set_model_stale
from daemon.crontab import crontab_trigger
from daemon.scheduling import Scheduler, next_window
from daemon.scheduling import scheduler as timetable
from daemon.scheduling.decisions import open_window
from daemon.settings import ConfigError, ShowConfig, TrainingWindow, load_settings

VANCOUVER = ZoneInfo("America/Vancouver")
LONDON = ZoneInfo("Europe/London")


def starts(expr: str, zone: ZoneInfo, first: datetime, last: datetime) -> list[str]:
    """The window starts from `first` to `last`, as a Vancouver or London admin reads them (local, with offset),
    asked as APScheduler asks: the fire after the previous one."""
    trigger = crontab_trigger(expr, zone)
    out: list[str] = []
    fire = trigger.get_next_fire_time(None, first)
    while fire is not None and fire <= last and len(out) < 10:
        out.append(fire.astimezone(zone).isoformat(timespec="minutes"))
        fire = trigger.get_next_fire_time(fire, fire.astimezone(UTC) + timedelta(seconds=1))
    return out


def day(zone: ZoneInfo, text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=zone)


def show(cron: str = "0 1 * * *", hours: float = 5.0, timezone: str | None = None) -> ShowConfig:
    return ShowConfig(code="VAN", training=TrainingWindow(cron=cron, hours=hours, timezone=timezone))


def train_jobs(catalog: Catalog) -> list[Job]:
    with catalog.session() as s:
        return job_repo.list_jobs(s, kind="train")


def finishes(call: Callable[[], object], seconds: float = 10.0) -> object:
    """`call()`'s value, or AssertionError when it has not returned in `seconds` (it looped)."""
    box: list[object] = []
    worker = threading.Thread(target=lambda: box.append(call()), daemon=True)
    worker.start()
    worker.join(seconds)
    assert box, f"still running after {seconds} s: it loops"
    return box[0]


# ---- the nights the clocks go back: the repeated hour -----------------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "night", "expected"),
    [
        (
            VANCOUVER,
            "2026-10-31",
            ["2026-10-31T01:00-07:00", "2026-11-01T01:00-07:00", "2026-11-02T01:00-08:00"],
        ),
        (
            LONDON,
            "2026-10-24",
            ["2026-10-24T01:00+01:00", "2026-10-25T01:00+01:00", "2026-10-26T01:00+00:00"],
        ),
    ],
)
def test_the_default_window_opens_once_on_the_night_the_clocks_go_back(
    zone: ZoneInfo, night: str, expected: list[str]
) -> None:
    # "0 1 * * *" (the default) names a time the clocks show twice that night: the window opens at the first
    # 01:00 only (it opened again an hour later, and the fire after that second one was that one again)
    assert (
        starts("0 1 * * *", zone, day(zone, night), day(zone, night) + timedelta(days=2, hours=12))
        == expected
    )


def test_a_window_at_0130_opens_once_and_an_hourly_line_keeps_moving() -> None:
    night = day(VANCOUVER, "2026-11-01")
    assert starts("30 1 * * *", VANCOUVER, night, night + timedelta(days=1, hours=12)) == [
        "2026-11-01T01:30-07:00",
        "2026-11-02T01:30-08:00",
    ]
    assert starts("0 * * * *", VANCOUVER, night, night + timedelta(hours=3, minutes=30)) == [
        "2026-11-01T00:00-07:00",
        "2026-11-01T01:00-07:00",
        "2026-11-01T02:00-08:00",  # 01:00 shown again is not a new hour on the wall clock
        "2026-11-01T03:00-08:00",
    ]


def test_the_open_window_is_found_during_the_repeated_hour() -> None:
    # 01:30 PST on 2026-11-01, the second time the clocks show it: the window that opened at 01:00 PDT is open
    # (`open_window` is what the scheduled run and the window's deadline use; it looped here)
    now = datetime(2026, 11, 1, 9, 30, tzinfo=UTC)
    trigger = crontab_trigger("0 1 * * *", VANCOUVER)
    assert finishes(lambda: open_window(trigger, 5.0, now)) == datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
    assert finishes(lambda: next_window(show(timezone="America/Vancouver"), now)) == (
        datetime(2026, 11, 1, 8, 0, tzinfo=UTC),
        datetime(
            2026, 11, 1, 13, 0, tzinfo=UTC
        ),  # 5 hours later: 05:00 PST by the clocks, after the hour back
    )


# ---- the nights the clocks go forward: the skipped hour ---------------------------------------------------------


def test_a_window_at_a_time_the_clocks_skip_opens_once_when_they_jump() -> None:
    night = day(VANCOUVER, "2026-03-07")
    assert starts("30 2 * * *", VANCOUVER, night, night + timedelta(days=2, hours=12)) == [
        "2026-03-07T02:30-08:00",
        "2026-03-08T03:00-07:00",  # 02:00 PST became 03:00 PDT: 02:30 is never shown, it opens at the jump
        "2026-03-09T02:30-07:00",
    ]
    london = day(LONDON, "2026-03-28")
    assert starts("30 1 * * *", LONDON, london, london + timedelta(days=1, hours=12)) == [
        "2026-03-28T01:30+00:00",
        "2026-03-29T02:00+01:00",
    ]


# ---- the zone a show's cron is read in ------------------------------------------------------------------------


def test_a_shows_zone_holds_whichever_daemon_leads(catalog: Catalog) -> None:
    # Vancouver's show, its window at 01:00 in Vancouver, scheduled by the London daemon (the leader that night)
    vancouver = show(timezone="America/Vancouver")
    london_daemon = Scheduler(catalog, [vancouver], on_reconcile=lambda: None, timezone=LONDON)
    london_daemon.start()
    try:
        window = dict(london_daemon.jobs())["train-window:VAN"]
    finally:
        london_daemon.shutdown(wait=False)
    assert window is not None
    assert (window.astimezone(VANCOUVER).hour, window.astimezone(VANCOUVER).minute) == (1, 0)
    vancouver_daemon = Scheduler(catalog, [vancouver], on_reconcile=lambda: None, timezone=VANCOUVER)
    vancouver_daemon.start()  # leads the next night: reads the stored window back, the same
    try:
        assert dict(vancouver_daemon.jobs())["train-window:VAN"] == window
    finally:
        vancouver_daemon.shutdown(wait=False)
    winter = datetime(2026, 12, 6, 15, tzinfo=UTC)  # 07:00 PST: the night's window has closed
    start, end = next_window(vancouver, winter, LONDON) or (None, None)
    assert start == datetime(2026, 12, 7, 9, tzinfo=UTC)  # 01:00 PST, 09:00 in London
    assert end == datetime(2026, 12, 7, 14, tzinfo=UTC)


def test_a_zone_that_is_not_one_is_one_line_naming_it(tmp_path: Path) -> None:
    config = tmp_path / "rushes.yaml"
    config.write_text("shows:\n  - code: VAN\n    training: {cron: '0 1 * * *', timezone: Vancouver}\n")
    with pytest.raises(ConfigError) as info:
        load_settings(config)
    assert any(
        line.startswith("shows[0].training.timezone: ")
        and "'Vancouver' is not a time zone name: give an IANA name such as America/Vancouver" in line
        for line in info.value.problems
    ), info.value.problems
    config.write_text(
        "shows:\n  - code: VAN\n    training: {cron: '0 1 * * *', timezone: America/Vancouver}\n"
    )
    assert load_settings(config).shows[0].training.timezone == "America/Vancouver"


# ---- what `rushes status` and `rushes show list` say of the next window ----------------------------------------


@pytest.mark.parametrize(
    ("tz", "said"),
    [
        ("JST-9", "2026-12-08T09:00:00+09:00"),  # POSIX counts west of Greenwich positive
        ("<+0530>-5:30", "2026-12-08T05:30:00+05:30"),
        ("UTC0", "2026-12-08T00:00:00+00:00"),
        (
            "ABC25",  # past a day: refused as the rest, not by Python's own words
            "TZ='ABC25' is not a time zone Rushes can read: set TZ to an IANA name such as Europe/Berlin, or unset "
            "it for the machine's /etc/localtime",
        ),
        (
            "CET-1CEST,M3.5.0,M10.5.0/3",
            "TZ='CET-1CEST,M3.5.0,M10.5.0/3' is not a time zone Rushes can read: set TZ to an IANA name such as "
            "Europe/Berlin, or unset it for the machine's /etc/localtime",
        ),
    ],
)
def test_a_machine_zone_given_as_a_posix_tz_is_read_or_refused_in_one_line(
    catalog: Catalog, monkeypatch: pytest.MonkeyPatch, tz: str, said: str
) -> None:
    """`TZ=JST-9` (a Japanese box's habit; the C library and `date` read it) stopped the daemon at start on
    tzlocal's traceback, whatever zone each show named."""
    monkeypatch.setenv("TZ", tz)
    monkeypatch.setattr("tzlocal.unix._cache_tz", None)  # read again, as a daemon starting under it does
    try:
        scheduler = Scheduler(catalog, [], on_reconcile=lambda: None)
    except ConfigError as exc:
        assert str(exc) == said
    else:
        assert datetime(2026, 12, 8, tzinfo=UTC).astimezone(scheduler.timezone).isoformat() == said


def test_status_and_show_list_say_when_the_next_window_opens_and_on_which_clock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from daemon.cli.main import _register, app
    from daemon.context import open_context
    from tests.homes import own_home

    _register()
    own_home(monkeypatch, tmp_path)
    config = tmp_path / "rushes.yaml"
    config.write_text(
        "shows:\n"
        "  - code: VAN\n    training: {cron: '0 1 * * *', timezone: America/Vancouver}\n"
        "  - code: LON\n    training: {cron: '30 2 * * *'}\n"
    )
    monkeypatch.setenv("RUSHES_CONFIG", str(config))
    settings = load_settings(config)

    def rushes(*args: str) -> str:
        result = CliRunner().invoke(app, list(args))
        assert result.exit_code == 0, result.output
        return result.stdout

    before = {s["code"]: s["training"] for s in json.loads(rushes("show", "list", "--json"))}
    assert before["VAN"] == {
        "cron": "0 1 * * *",
        "hours": 5.0,
        "timezone": "America/Vancouver",
        "next_window": None,  # no daemon has scheduled it yet
        "next_window_local": None,
    }
    ctx = open_context(settings)
    london_daemon = Scheduler(ctx.catalog, settings.shows, on_reconcile=lambda: None, timezone=LONDON)
    london_daemon.start()
    london_daemon.shutdown()
    ctx.close()

    listed = {s["code"]: s["training"] for s in json.loads(rushes("show", "list", "--json"))}
    status = {s["code"]: s["training"] for s in json.loads(rushes("status", "--json"))["shows"]}
    assert listed == status
    van = datetime.fromisoformat(listed["VAN"]["next_window"])
    assert van.utcoffset() == timedelta(0)  # UTC, saying so
    local = datetime.fromisoformat(listed["VAN"]["next_window_local"])
    assert local == van and (local.hour, local.minute) == (1, 0)
    assert local.utcoffset() == van.astimezone(VANCOUVER).utcoffset()
    lon = datetime.fromisoformat(listed["LON"]["next_window"])
    assert (lon.astimezone(LONDON).hour, lon.astimezone(LONDON).minute) == (
        2,
        30,
    )  # the scheduling daemon's zone
    assert listed["LON"]["timezone"] is None and listed["LON"]["next_window_local"] is None

    table = rushes("status")
    assert "training window: '0 1 * * *' for 5 h in America/Vancouver; next opens " in table
    assert f"{local:%Y-%m-%d} 01:00 ({local:%z}), {van:%Y-%m-%d %H:%M} UTC" in table
    assert (
        "training window: '30 2 * * *' for 5 h in the scheduling daemon's zone (no training.timezone)"
        in table
    )


# ---- the wall clock stepping under a sleeping scheduler -------------------------------------------------------


class SteppedClock(datetime):
    """The host's wall clock as APScheduler reads it (`datetime.now`), set by the test."""

    at = datetime(2026, 12, 6, 23, 59, 50, tzinfo=UTC)

    @classmethod
    def now(cls, tz: tzinfo | None = None) -> datetime:  # type: ignore[override]
        return cls.at.astimezone(tz)


def test_a_window_opens_when_the_host_wakes_past_it_not_a_sleep_later(
    catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A London VM suspended at 23:59:50 and resumed at 01:00:30 (or a slow clock that NTP steps forward): the
    # scheduler had gone to sleep for the 70 minutes to the 01:00 window, counted on the monotonic clock, which
    # the suspend stopped; it now looks at the wall clock again every WAKE_EVERY_S (a minute; here 0.2 s)
    # a December night (London on GMT) after today: with the fixed night of 2026-12-06 the test failed from the
    # morning of 2026-12-07 on (something on the way to the train job reads the real clock)
    year = datetime.now(UTC).year + 1
    monkeypatch.setattr(SteppedClock, "at", datetime(year, 12, 6, 23, 59, 50, tzinfo=UTC))
    monkeypatch.setattr(apscheduler_base, "datetime", SteppedClock)
    asleep = threading.Event()  # set once APScheduler has worked out the long sleep to the window
    work_out = apscheduler_base.BaseScheduler._process_jobs

    def working_out(self: apscheduler_base.BaseScheduler) -> float | None:
        wait: float | None = work_out(self)
        if wait is not None and wait > 3600:
            asleep.set()
        return wait

    monkeypatch.setattr(apscheduler_base.BaseScheduler, "_process_jobs", working_out)
    monkeypatch.setattr(timetable, "WAKE_EVERY_S", 0.2, raising=False)
    with catalog.session() as s:
        ensure_show(s, "LON")
        set_model_stale(s, "LON", True)
    london = ShowConfig(code="LON", training=TrainingWindow(cron="0 1 * * *"))  # the London daemon's zone
    sched = Scheduler(
        catalog, [london], on_reconcile=lambda: None, clock=lambda: SteppedClock.at, timezone=LONDON
    )
    sched.start()
    try:
        assert asleep.wait(10)  # it goes to sleep until 01:00, 70 minutes away
        SteppedClock.at = datetime(year, 12, 7, 1, 0, 30, tzinfo=UTC)
        deadline = time.monotonic() + 10
        while not train_jobs(catalog) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        sched.shutdown(wait=False)
    [job] = train_jobs(catalog)
    assert job.payload["window"] == f"{year}-12-07T01:00:00+00:00"


def test_the_other_sites_daemon_schedules_a_show_of_this_sites_file_as_that_file_says(tmp_path: Path) -> None:
    # Vancouver's daemon has VAN in its file; London's file has no shows. When London's daemon leads, it
    # scheduled VAN from the catalog's row, which held nothing: at the default 01:00, in London
    from daemon.context import open_context
    from daemon.shows import read_shows

    catalog_url = f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    vancouver = tmp_path / "vancouver.yaml"
    vancouver.write_text(
        f"catalog_url: {catalog_url}\ndata_dir: {tmp_path / 'van'}\nshows:\n  - code: VAN\n"
        "    training: {cron: '30 23 * * 0-4', hours: 6, timezone: America/Vancouver}\n"
    )
    london = tmp_path / "london.yaml"
    london.write_text(f"catalog_url: {catalog_url}\ndata_dir: {tmp_path / 'lon'}\n")
    open_context(load_settings(vancouver)).close()  # the Vancouver daemon (or any rushes command there)
    ctx = open_context(load_settings(london))
    try:
        [van], _ = read_shows(ctx.settings, ctx.catalog)
    finally:
        ctx.close()
    assert (van.code, van.training.cron, van.training.hours) == ("VAN", "30 23 * * 0-4", 6.0)
    assert van.training.timezone == "America/Vancouver"
