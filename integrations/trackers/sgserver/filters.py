"""Filter evaluation: the `{"logical_operator", "conditions"}` tree shotgun_api3 sends with `read`.

Pure: a record is seen only through `get(path)` (dotted paths resolved by the caller) and links are
named through `name_of(link)`, so this module never touches storage.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any


class FilterError(ValueError):
    """The filter cannot be evaluated (unknown relation, wrong number of values)."""


Getter = Callable[[str], Any]
Namer = Callable[[dict[str, Any]], str]


def _is_link(value: Any) -> bool:
    return isinstance(value, dict) and "type" in value and "id" in value


def _same(a: Any, b: Any) -> bool:
    if _is_link(a) or _is_link(b):
        return _is_link(a) and _is_link(b) and a["type"] == b["type"] and int(a["id"]) == int(b["id"])
    if isinstance(a, str) and isinstance(b, str):
        return a.lower() == b.lower()
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b or a == b
    return bool(a == b)


def _empty(value: Any) -> bool:
    return value is None or value == [] or value == ""


def _is(value: Any, wanted: Any) -> bool:
    if wanted is None:
        return _empty(value)
    if isinstance(value, list):
        return any(_same(item, wanted) for item in value)
    return _same(value, wanted)


def _compare(value: Any, other: Any, op: Callable[[Any, Any], bool]) -> bool:
    if value is None or other is None:
        return False
    try:
        return op(value, other)
    except TypeError:
        return False


def _text(value: Any) -> str:
    return "" if value is None else str(value).lower()


def _names(value: Any, name_of: Namer) -> list[str]:
    links = value if isinstance(value, list) else [value]
    return [name_of(link).lower() for link in links if _is_link(link)]


def _in_last(value: Any, amount: Any, unit: Any, future: bool = False) -> bool:
    """`value` within `amount` `unit`s before now (after now when `future`). A date field (`YYYY-MM-DD`) is
    compared by calendar days from today, today included both ways: "due in the next 7 days" holds what is
    due today, whatever the time of day."""
    if not isinstance(value, str):
        return False
    seconds = {"HOUR": 3600, "DAY": 86400, "WEEK": 604800, "MONTH": 2592000, "YEAR": 31536000}
    span = timedelta(seconds=float(amount) * seconds.get(str(unit).upper(), 86400))
    if len(value) <= 10:
        day, today = date.fromisoformat(value[:10]), datetime.now().astimezone().date()
        days = timedelta(days=span.days)
        return today <= day <= today + days if future else today - days <= day <= today
    moment = datetime.strptime(value[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
    now = datetime.now(UTC)
    return now <= moment <= now + span if future else now - span <= moment <= now


def _day_of(value: Any) -> date | None:
    """The calendar day of a date (`YYYY-MM-DD`) or a datetime (`YYYY-MM-DDTHH:MM:SSZ`, UTC) in the
    server's local time zone, as the hosted service uses the site's."""
    if not isinstance(value, str):
        return None
    try:
        if len(value) <= 10:
            return date.fromisoformat(value)
        moment = datetime.strptime(value[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
    except ValueError:
        return None
    return moment.astimezone().date()


def calendar_index(day: date, unit: str) -> int:
    """A running number of the day, the week (weeks start on Sunday), the month or the year of `day`."""
    match unit:
        case "day":
            return day.toordinal()
        case "week":
            return (day.toordinal()) // 7  # ordinal 7 (0001-01-07) is a Sunday
        case "month":
            return day.year * 12 + day.month - 1
    return day.year


def _in_calendar(value: Any, offset: Any, unit: str) -> bool:
    """True when `value` falls in the calendar day/week/month/year `offset` away from today's (0 today,
    -1 the one before, 1 the next)."""
    day = _day_of(value)
    if day is None:
        return False
    today = datetime.now().astimezone().date()
    return calendar_index(day, unit) == calendar_index(today, unit) + int(offset)


def _relation(relation: str, value: Any, values: list[Any], name_of: Namer) -> bool:
    first = values[0] if values else None
    match relation:
        case "is":
            return _is(value, first)
        case "is_not":
            return not _is(value, first)
        case "in":
            return any(_is(value, v) for v in values)
        case "not_in":
            return not any(_is(value, v) for v in values)
        case "less_than":
            return _compare(value, first, lambda a, b: a < b)
        case "greater_than":
            return _compare(value, first, lambda a, b: a > b)
        case "between":
            return _compare(value, first, lambda a, b: a >= b) and _compare(
                value, values[1], lambda a, b: a <= b
            )
        case "not_between":
            return not _relation("between", value, values, name_of)
        case "contains":
            if isinstance(value, list):
                return any(_is(item, first) for item in value)
            return _text(first) in _text(value)
        case "not_contains":
            return not _relation("contains", value, values, name_of)
        case "starts_with":
            return value is not None and _text(value).startswith(_text(first))
        case "ends_with":
            return value is not None and _text(value).endswith(_text(first))
        case "type_is":
            links = value if isinstance(value, list) else [value]
            if first is None:
                return _empty(value)
            return any(_is_link(link) and link["type"] == first for link in links)
        case "type_is_not":
            return not _relation("type_is", value, values, name_of)
        case "name_contains":
            return any(_text(first) in name for name in _names(value, name_of))
        case "name_not_contains":
            return not _relation("name_contains", value, values, name_of)
        case "name_is":
            return any(_text(first) == name for name in _names(value, name_of))
        case "name_starts_with":
            return any(name.startswith(_text(first)) for name in _names(value, name_of))
        case "name_ends_with":
            return any(name.endswith(_text(first)) for name in _names(value, name_of))
        case "in_last":
            return _in_last(value, first, values[1] if len(values) > 1 else "DAY")
        case "not_in_last":
            return not _in_last(value, first, values[1] if len(values) > 1 else "DAY")
        case "in_next":
            return _in_last(value, first, values[1] if len(values) > 1 else "DAY", future=True)
        case "not_in_next":
            return not _in_last(value, first, values[1] if len(values) > 1 else "DAY", future=True)
        case "in_calendar_day" | "in_calendar_week" | "in_calendar_month" | "in_calendar_year":
            return _in_calendar(value, first, relation.rpartition("_")[2])
    raise FilterError(f"unknown filter relation '{relation}'")


def matches(group: dict[str, Any], get: Getter, name_of: Namer) -> bool:
    """True when the record seen through `get` satisfies the filter tree `group`."""
    conditions = group.get("conditions") or []
    operator = str(group.get("logical_operator", "and")).lower()
    results = (_condition(c, get, name_of) for c in conditions)
    if operator in ("and", "all"):
        return all(results)
    if operator in ("or", "any"):
        return any(results) if conditions else True
    raise FilterError(f"unknown logical_operator '{operator}'")


def _condition(condition: dict[str, Any], get: Getter, name_of: Namer) -> bool:
    if "conditions" in condition:
        return matches(condition, get, name_of)
    values = condition.get("values")
    value_list = list(values) if isinstance(values, list | tuple) else [values]
    return _relation(str(condition["relation"]), get(str(condition["path"])), value_list, name_of)


MAX_DEPTH = 32
RELATIONS = {
    "is",
    "is_not",
    "in",
    "not_in",
    "less_than",
    "greater_than",
    "between",
    "not_between",
    "contains",
    "not_contains",
    "starts_with",
    "ends_with",
    "type_is",
    "type_is_not",
    "name_contains",
    "name_not_contains",
    "name_is",
    "name_starts_with",
    "name_ends_with",
    "in_last",
    "not_in_last",
    "in_next",
    "not_in_next",
    "in_calendar_day",
    "in_calendar_week",
    "in_calendar_month",
    "in_calendar_year",
}
TWO_VALUES = {"between", "not_between"}
SPANS = {"in_last", "not_in_last", "in_next", "not_in_next"}
SPAN_UNITS = ("HOUR", "DAY", "WEEK", "MONTH", "YEAR")
CALENDAR = {"in_calendar_day", "in_calendar_week", "in_calendar_month", "in_calendar_year"}


def leaf_conditions(group: Any, depth: int = 0) -> list[dict[str, Any]]:
    """Every leaf condition of a filter tree, checking its shape (FilterError for a malformed tree or one
    nested deeper than MAX_DEPTH, so evaluation never recurses without bound)."""
    if depth > MAX_DEPTH:
        raise FilterError(f"filters are nested more than {MAX_DEPTH} levels deep")
    if not isinstance(group, dict) or not isinstance(group.get("conditions", []), list):
        raise FilterError("filters must be {'logical_operator', 'conditions': [...]}")
    if str(group.get("logical_operator", "and")).lower() not in ("and", "all", "or", "any"):
        raise FilterError(f"unknown logical_operator '{group.get('logical_operator')}'")
    found: list[dict[str, Any]] = []
    for condition in group.get("conditions") or []:
        if isinstance(condition, dict) and "conditions" in condition:
            found.extend(leaf_conditions(condition, depth + 1))
        elif (
            isinstance(condition, dict) and isinstance(condition.get("path"), str) and "relation" in condition
        ):
            found.append(condition)
        else:
            raise FilterError(f"a filter condition must have path, relation and values, got {condition!r}")
    return found


def check_relation(relation: str, values: Any) -> None:
    """FilterError for an unknown relation or the wrong number of values."""
    if relation not in RELATIONS:
        raise FilterError(f"unknown filter relation '{relation}'")
    listed = list(values) if isinstance(values, list | tuple) else [values]
    count = len(listed)
    if relation in TWO_VALUES and count != 2:
        raise FilterError(f"the '{relation}' relation needs two values, got {count}")
    if relation in SPANS and not (count == 2 and _whole(listed[0]) and str(listed[1]).upper() in SPAN_UNITS):
        raise FilterError(
            f"the '{relation}' relation needs a whole number and a unit ({', '.join(SPAN_UNITS)}), "
            f"got {listed!r}"
        )
    if relation in CALENDAR and not (count == 1 and _whole(listed[0])):
        raise FilterError(
            f"the '{relation}' relation needs one whole number (0 the current one, -1 the one before), "
            f"got {listed!r}"
        )


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def paths(group: dict[str, Any]) -> Iterable[str]:
    """Every field path a filter tree reads (to check the fields exist)."""
    for condition in group.get("conditions") or []:
        if "conditions" in condition:
            yield from paths(condition)
        else:
            yield str(condition["path"])


@dataclass(frozen=True)
class IdBounds:
    min_id: int | None = None
    ids: tuple[int, ...] | None = None


def id_bounds(group: dict[str, Any]) -> IdBounds:
    """Narrow a read by id before loading rows: only top-level `and` conditions on `id` count."""
    if str(group.get("logical_operator", "and")).lower() not in ("and", "all"):
        return IdBounds()
    min_id: int | None = None
    ids: tuple[int, ...] | None = None
    for condition in group.get("conditions") or []:
        if condition.get("path") != "id" or "conditions" in condition:
            continue
        values = condition.get("values") or []
        relation = condition.get("relation")
        try:
            if relation == "greater_than" and values:
                min_id = max(min_id or 0, int(values[0]) + 1)
            elif relation == "is" and values and values[0] is not None:
                ids = (int(values[0]),)
            elif relation == "in":
                ids = tuple(int(v) for v in values)
        except (TypeError, ValueError):
            continue
    return IdBounds(min_id, ids)
