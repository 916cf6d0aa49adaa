"""Training windows on a studio's own wall clock: a show's `training.timezone`, and the nights the clocks change
in Vancouver (2026-03-08, 2026-11-01) and London (2026-03-29, 2026-10-25), checked on a fake clock."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from daemon.catalog import Catalog
from daemon.crontab import crontab_trigger
from daemon.scheduling import Scheduler, next_window
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
