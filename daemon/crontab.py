"""Crontab lines as APScheduler triggers, with crontab's own weekday numbering (0 and 7 = Sunday).

A pure parser with no daemon imports, so that `daemon.settings` (which validates `training.cron`) and
`daemon.scheduling` (which fires the windows) both use it without importing each other.
"""

from __future__ import annotations

from datetime import tzinfo

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


def crontab_trigger(expr: str, timezone: tzinfo | str | None = None) -> CronTrigger:
    """A CronTrigger for a standard crontab line. Unlike APScheduler 3's `from_crontab`, the weekday field
    means what it means in crontab (0 and 7 = Sunday, 1 = Monday). Raises ValueError for a bad line."""
    fields = expr.split()
    if len(fields) != 5:
        raise ValueError(f"a crontab line has five fields (minute hour day month weekday), not {len(fields)}")
    minute, hour, day, month, weekday = fields
    if weekday != "*":
        weekday = ",".join(_DAY_NAMES[d] for d in sorted(_crontab_days(weekday)))
    return CronTrigger(minute=minute, hour=hour, day=day, month=month, day_of_week=weekday, timezone=timezone)
