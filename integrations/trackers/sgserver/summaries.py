"""`summarize` and `text_search` (the client's `query_display_name_cache` call) over the stored rows.

summarize: the rows matching the filters (archived projects left out on request) are summarised per
`summaries` item ({"field", "type"}: record_count, count, sum, maximum, minimum, average, earliest, latest,
percentage and status_percentage (of the records holding the item's "value"), checked, unchecked) and, when
`grouping` is given, grouped by the first grouping ({"field", "type", "direction"}: exact, firstletter,
entitytype, tens to millions, day/week/month/quarter/year; any other type is refused), each group nesting
the next grouping. The answer is
{"summaries": {field: value}, "groups": [{"group_name", "group_value", "summaries", "groups"?}]}.

text_search: the text is split into lower-case terms; an entity of a requested type matches when its
display name holds every term and it passes that type's filters (and project ids, when given). The answer
is {"terms": [...], "matches": [{"type", "id", "name", "project_id", "image", "status", "links"}]}, types in
the order asked, at most `max_results` matches.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from integrations.trackers.sgserver.filters import calendar_index
from integrations.trackers.sgserver.service import Link, Reader, Service, ServiceFault
from integrations.trackers.sgserver.storage import Row

Getter = Callable[[Row], Any]


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == []


def _numbers(values: list[Any]) -> list[float]:
    return [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]


def _summary(kind: str, values: list[Any], fdef_type: str, wanted: Any = None) -> Any:
    filled = [v for v in values if not _empty(v)]
    numbers = _numbers(filled)
    match kind:
        case "record_count":
            return len(values)
        case "count":
            return len(filled)
        case "sum":
            return sum(numbers)
        case "maximum":
            return max(numbers) if numbers else None
        case "minimum":
            return min(numbers) if numbers else None
        case "average":
            return sum(numbers) / len(numbers) if numbers else None
        case "earliest":
            return min(str(v) for v in filled) if filled else None
        case "latest":
            return max(str(v) for v in filled) if filled else None
        case "checked":
            return sum(1 for v in values if v is True)
        case "unchecked":
            return sum(1 for v in values if v is not True)
        case "percentage" | "status_percentage":
            # of the records whose value is the item's `value` ({"type": "status_percentage",
            # "value": "fin"}: how much is final), or that have a value when none is given
            hits = filled if wanted is None else [v for v in values if _same(v, wanted)]
            return round(100.0 * len(hits) / len(values)) if values else 0
    raise ServiceFault(f"API summarize() unknown summary type '{kind}'")


def _same(value: Any, wanted: Any) -> bool:
    if isinstance(value, dict) and isinstance(wanted, dict):
        return (value.get("type"), value.get("id")) == (wanted.get("type"), wanted.get("id"))
    return bool(value == wanted)


# The grouping types summarize knows; the client documents clustered_date, oneday and fivedays too,
# which the local server does not compute (refused, rather than grouped as something else).
GROUPINGS = (
    "exact",
    "firstletter",
    "entitytype",
    "tens",
    "hundreds",
    "thousands",
    "tensofthousands",
    "hundredsofthousands",
    "millions",
    "day",
    "week",
    "month",
    "quarter",
    "year",
)
STEPS = {
    "tens": 10,
    "hundreds": 100,
    "thousands": 1000,
    "tensofthousands": 10000,
    "hundredsofthousands": 100000,
    "millions": 1000000,
}


def _week_start(day: str) -> str:
    """The first day of the week holding `day` (`YYYY-MM-DD`): a Sunday, as `in_calendar_week` counts weeks."""
    try:
        found = date.fromisoformat(day)
    except ValueError:
        return day
    return date.fromordinal(max(calendar_index(found, "week") * 7, 1)).isoformat()


def _group_key(kind: str, value: Any, name: str) -> tuple[Any, str]:
    """(group value, group name) of one row's value under a grouping type."""
    if _empty(value):
        return None, ""
    if kind == "firstletter":
        letter = name[:1].upper()
        return letter, letter
    if kind == "entitytype" and isinstance(value, dict):
        return value.get("type"), str(value.get("type"))
    if kind in STEPS and isinstance(value, int | float):
        low = int(value // STEPS[kind] * STEPS[kind])
        return low, f"{low} - {low + STEPS[kind] - 1}"
    if kind in ("day", "week", "month", "quarter", "year") and isinstance(value, str | date | datetime):
        text = str(value)[:10]
        year, month = text[:4], text[5:7]
        bucket = {"day": text, "week": _week_start(text), "month": f"{year}-{month}", "year": year}.get(
            kind, f"{year} Q{(int(month or 1) - 1) // 3 + 1}"
        )
        return bucket, bucket
    return value, name


def summarize(service: Service, user: Link, params: dict[str, Any], base: str) -> dict[str, Any]:
    entity_type = str(params["type"])
    reader = service.reader(base, user)
    include_archived = params.get("include_archived_projects", True) is not False
    rows = service.select(entity_type, params.get("filters"), reader, include_archived)
    wanted = params.get("summaries") or []
    if not isinstance(wanted, list) or not all(isinstance(w, dict) and "field" in w for w in wanted):
        raise ServiceFault("API summarize() summary_fields must be a list of {'field', 'type'}")
    grouping = params.get("grouping") or []
    for item in [*wanted, *grouping]:
        service.field(entity_type, str(item["field"]))
    for item in grouping:
        if str(item.get("type", "exact")) not in GROUPINGS:
            raise ServiceFault(
                f"API summarize() grouping type '{item.get('type')}' is not one the local tracker"
                f" groups by; use one of {', '.join(GROUPINGS)}"
            )
    result: dict[str, Any] = {"summaries": _summaries(service, entity_type, wanted, rows, reader)}
    result["groups"] = _groups(service, entity_type, wanted, grouping, rows, reader)
    return result


def _summaries(
    service: Service, entity_type: str, wanted: list[dict[str, Any]], rows: list[Row], reader: Reader
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in wanted:
        field = str(item["field"])
        kind = str(item.get("type", "count"))
        values = [reader.raw(r, field) for r in rows]
        data_type = service.field(entity_type, field).data_type
        out[field] = _summary(kind, values, data_type, item.get("value"))
    return out


def _groups(
    service: Service,
    entity_type: str,
    wanted: list[dict[str, Any]],
    grouping: list[dict[str, Any]],
    rows: list[Row],
    reader: Reader,
) -> list[dict[str, Any]]:
    if not grouping:
        return []
    first, rest = grouping[0], grouping[1:]
    field, kind = str(first["field"]), str(first.get("type", "exact"))
    fdef = service.field(entity_type, field)
    buckets: dict[str, tuple[Any, str, list[Row]]] = {}
    for row in rows:
        raw = reader.raw(row, field)
        shown = reader.render(fdef, raw)
        name = (
            reader.name_of(raw)
            if isinstance(raw, dict) and "type" in raw
            else ("" if raw is None else str(raw))
        )
        value, label = _group_key(kind, shown, name)
        if kind == "exact" and isinstance(value, dict) and "type" in value:
            value = {**value, "valid": "valid"}  # as the hosted service answers a linked group
        key = repr(value)
        buckets.setdefault(key, (value, label, []))[2].append(row)
    groups = []
    for value, label, members in buckets.values():
        group: dict[str, Any] = {
            "group_name": label,
            "group_value": value,
            "summaries": _summaries(service, entity_type, wanted, members, reader),
        }
        if rest:
            group["groups"] = _groups(service, entity_type, wanted, rest, members, reader)
        groups.append(group)
    groups.sort(key=lambda g: (g["group_value"] is None, str(g["group_name"]).lower()))
    if first.get("direction") == "desc":
        groups.reverse()
    return groups


def text_search(service: Service, user: Link, params: dict[str, Any], base: str) -> list[dict[str, Any]]:
    text = str(params.get("text") or "")
    terms = [t for t in text.lower().split() if t]
    if len(text.strip()) < 3:
        # as the hosted service: a search box's first keystrokes are refused, not answered with everything
        raise ServiceFault(f"API text_search() needs at least three characters to search for, got {text!r}")
    types = params.get("entity_types") or {}
    if not isinstance(types, dict) or not types:
        raise ServiceFault("API text_search() entity_types must be a non-empty dict of type: filters")
    projects = {int(p) for p in params.get("project_ids") or []}
    limit = int(params.get("max_results") or 50)
    reader = service.reader(base, user)
    matches: list[dict[str, Any]] = []
    for entity_type, group in types.items():
        name_field = service.schema.name_field(str(entity_type))
        for row in service.select(str(entity_type), group or None, reader):
            name = str(row.data.get(name_field) or "")
            if not all(t in name.lower() for t in terms):
                continue
            project = row.data.get("project")
            if projects and not (isinstance(project, dict) and int(project["id"]) in projects):
                continue
            matches.append(
                {
                    "type": row.type,
                    "id": row.id,
                    "name": name,
                    "project_id": int(project["id"]) if isinstance(project, dict) else None,
                    "image": reader.image_url(row.data.get("image")),
                    "status": row.data.get("sg_status_list"),
                    "links": [],
                }
            )
    return [{"terms": terms, "matches": matches[:limit]}]
