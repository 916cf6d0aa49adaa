"""Crontab lines as APScheduler triggers, with crontab's own weekday numbering (0 and 7 = Sunday), read on the
wall clock of a time zone as cron reads them across daylight-saving changes.

A pure parser with no daemon imports, so that `daemon.settings` (which validates `training.cron`) and
`daemon.scheduling` (which fires the windows) both use it without importing each other.

APScheduler's own CronTrigger fires a time in the hour repeated when the clocks go back twice (01:00 daylight,
then 01:00 standard: two training windows that night), and, asked for the fire after that second one from a
moment written in the zone (whose arithmetic forgets which of the two 01:00s it was), answers that same instant
again, so a loop walking the fires never ended. `WallClockTrigger` matches the line against wall times instead: each matching wall time fires once, at its first occurrence; a wall time the clocks skip when
they go forward fires once, at the instant they jump (02:30 on that night fires at 03:00, as cron runs it).
"""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime, timedelta, tzinfo
from datetime import timezone as fixed_offset
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger

_DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


def _crontab_days(field: str) -> set[int]:
    """The crontab weekday field ("1-5", "0,6", "*/2", "mon-fri", 7 = Sunday too) -> day numbers, 0 = Sunday."""
    days: set[int] = set()
    for term in field.lower().split(","):
        span, _, step_text = term.partition("/")
        step = int(step_text) if step_text else 1
        if step < 1:
            raise ValueError(f"step must be at least 1 in {term!r}")
        if span == "*":
            low, high = 0, 6
        else:
            first, _, last = span.partition("-")
            low = _day_number(first)
            high = _day_number(last) if last else (6 if step_text else low)
        if low > high:
            raise ValueError(f"range {span!r} runs backwards")
        days.update(d % 7 for d in range(low, high + 1, step))
    return days


def _day_number(text: str) -> int:
    if text in _DAY_NAMES:
        return _DAY_NAMES.index(text)
    if not text.isdigit() or int(text) > 7:
        raise ValueError(f"{text!r} is not a weekday (0-7 or sun-sat)")
    return int(text)


# A POSIX TZ of a fixed offset, with no summer-time rule: "JST-9", "UTC0", "<+0530>-5:30" (west of Greenwich
# positive, as POSIX counts): a zone name, its sign, hours and minutes
_POSIX_FIXED = re.compile(r"^(?:[A-Za-z]{3,}|<[A-Za-z0-9+-]+>)([+-]?)(\d{1,2})(?::(\d{2}))?$")


def local_zone() -> tzinfo:
    """This machine's time zone: tzlocal's (TZ naming an IANA zone or a zone file, else /etc/localtime), or a POSIX
    TZ of a fixed offset ("JST-9") as that offset; ValueError saying what to set for a POSIX TZ with summer-time
    rules ("CET-1CEST,M3.5.0,M10.5.0/3"), which tzlocal cannot read (the daemon used to stop on its traceback)."""
    from tzlocal import get_localzone

    try:
        return get_localzone()
    except (KeyError, ValueError) as exc:  # tzlocal's ZoneInfoNotFoundError is a KeyError
        tz = os.environ.get("TZ", "")
        fixed = _POSIX_FIXED.match(tz.strip())
        if fixed is None or int(fixed[2]) > 24 or int(fixed[3] or 0) > 59:
            raise ValueError(
                f"TZ={tz!r} is not a time zone Rushes can read: set TZ to an IANA name such as Europe/Berlin, or "
                "unset it for the machine's /etc/localtime"
            ) from exc
        sign, hours, minutes = fixed.groups()
        west = timedelta(hours=int(hours), minutes=int(minutes or 0))
        return fixed_offset(west if sign == "-" else -west, tz.strip())


def zone_named(name: str) -> ZoneInfo:
    """The IANA time zone `name` ("America/Vancouver"); ValueError saying what to give otherwise."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(
            f"{name!r} is not a time zone name: give an IANA name such as America/Vancouver, Europe/London or UTC"
        ) from exc


def _wall_fields(expr: str) -> dict[str, str]:
    fields = expr.split()
    if len(fields) != 5:
        raise ValueError(f"a crontab line has five fields (minute hour day month weekday), not {len(fields)}")
    minute, hour, day, month, weekday = fields
    if weekday != "*":
        weekday = ",".join(_DAY_NAMES[d] for d in sorted(_crontab_days(weekday)))
    return {"minute": minute, "hour": hour, "day": day, "month": month, "day_of_week": weekday}


class WallClockTrigger(BaseTrigger):
    """A crontab line fired on the wall clock of `timezone` (see the module's docstring); pickled by its line and
    zone name, so the scheduler's job store keeps it."""

    def __init__(self, expr: str, timezone: tzinfo) -> None:
        self.expr = expr
        self.timezone = timezone
        self._wall = CronTrigger(**_wall_fields(expr), timezone=UTC)  # wall times, written as if UTC

    def get_next_fire_time(self, previous_fire_time: datetime | None, now: datetime) -> datetime | None:
        """The first fire at or after `now` (after `previous_fire_time` when given: always later than it)."""
        start = now.astimezone(UTC)
        if previous_fire_time is not None:
            start = max(start, previous_fire_time.astimezone(UTC) + timedelta(microseconds=1))
        wall = self._wall.get_next_fire_time(None, self._wall_of(start))
        for _ in range(10_000):  # a line that matches: each turn is a later wall time
            if wall is None:
                return None
            instant = self._instant(wall.replace(tzinfo=None))
            if instant >= start:
                return instant  # in UTC: an instant in the repeated hour compares unequal to every other zone
            wall = self._wall.get_next_fire_time(wall, wall + timedelta(microseconds=1))
        return None

    def _wall_of(self, moment: datetime) -> datetime:
        return moment.astimezone(self.timezone).replace(tzinfo=UTC)

    def _instant(self, wall: datetime) -> datetime:
        """The instant the wall clock first shows `wall` (the earlier of a repeated time; for a skipped one,
        the instant the clocks jump past it)."""
        first = wall.replace(tzinfo=self.timezone, fold=0).astimezone(UTC)
        if first.astimezone(self.timezone).replace(tzinfo=None) == wall:
            return first
        jump = wall.replace(tzinfo=self.timezone, fold=1).astimezone(UTC).replace(second=0, microsecond=0)
        while self._wall_of(jump).replace(tzinfo=None) < wall:  # skipped: minutes until the clocks pass it
            jump += timedelta(minutes=1)
        return jump

    def __getstate__(self) -> dict[str, Any]:
        # a named zone by its name (its rules come from this host's tz database when read back); others whole
        return {
            "version": 1,
            "expr": self.expr,
            "timezone": getattr(self.timezone, "key", None) or self.timezone,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        zone = state["timezone"]
        self.__init__(state["expr"], ZoneInfo(zone) if isinstance(zone, str) else zone)  # type: ignore[misc]

    def __str__(self) -> str:
        return f"cron[{self.expr}] in {self.timezone}"

    def __repr__(self) -> str:
        return f"<WallClockTrigger ({self.expr!r}, timezone={str(self.timezone)!r})>"

    def same_timetable(self, other: BaseTrigger) -> bool:
        """Whether `other` fires when this does: an equal trigger, or the APScheduler CronTrigger that a release
        before wall-clock triggers stored for the same line and zone (so an upgrade keeps a window's next run)."""
        if isinstance(other, CronTrigger):
            same_fields = [str(f) for f in other.fields] == [str(f) for f in self._wall.fields]
            return same_fields and str(other.timezone) == str(self.timezone)
        return repr(other) == repr(self)


def crontab_trigger(expr: str, timezone: tzinfo | str | None = None) -> WallClockTrigger:
    """A trigger for a standard crontab line, read on the wall clock of `timezone` (a tzinfo or IANA name; None:
    this machine's zone). Unlike APScheduler 3's `from_crontab`, the weekday field means what it means in crontab
    (0 and 7 = Sunday, 1 = Monday). Raises ValueError for a bad line or zone name."""
    if timezone is None:
        timezone = local_zone()
    zone = zone_named(timezone) if isinstance(timezone, str) else timezone
    return WallClockTrigger(expr, zone)
