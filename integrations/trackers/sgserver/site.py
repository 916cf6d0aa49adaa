"""Site-wide calls: preferences, the work schedule, a project's last access, page export.

preferences_read(prefs): the site preferences of a new hosted site (all of them, or those named; unknown
names are left out). work_schedule_read(start, end, project, user): one entry per day, {"working",
"description", "reason"}, from the most specific WorkDayRule (user, then project, then studio) or the
studio week (Monday to Friday). work_schedule_update stores a WorkDayRule and answers it.
update_project_last_accessed_by_current_user stamps the project for that user (read back as the
per-user field `last_accessed_by_current_user`). export_page: the local server has no page layouts, so it
answers the hosted service's "not available" fault after checking the arguments as the hosted one does.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from integrations.trackers.sgserver.service import Link, Service, ServiceFault, now_text

PREFERENCES: dict[str, Any] = {
    "date_component_order": "month_day",
    "duration_units": "days",
    "format_currency_fields_decimal_options": "$1,000.99",
    "format_currency_fields_display_dollar_sign": False,
    "format_currency_fields_negative_options": "- $1,000",
    "format_date_fields": "08/04/22 OR 04/08/22 (depending on the Month order preference)",
    "format_float_fields": "9,999.99",
    "format_float_fields_rounding": "9.999999",
    "format_footage_fields": "10-05",
    "format_number_fields": "1,000",
    "format_time_hour_fields": "12 hour",
    "hours_per_day": 8.0,
    "support_local_storage": True,
    "enable_rv_integration": True,
    "enable_shotgun_review_for_rv": False,
    "view_master_settings": {"status_groups": {}, "default_review_view": "media_center"},
    "creative_review_settings": {"enabled": False},
}


def preferences_read(service: Service, user: Link, params: dict[str, Any], base: str) -> dict[str, Any]:
    names = params.get("prefs") or []
    if not isinstance(names, list):
        raise ServiceFault("API preferences_read() prefs must be a list of preference names")
    if not names:
        return dict(PREFERENCES)
    return {name: PREFERENCES[name] for name in names if name in PREFERENCES}


def _day(text: Any, what: str) -> date:
    try:
        return date.fromisoformat(str(text))
    except ValueError:
        raise ServiceFault(f"API {what} must be a date in YYYY-MM-DD format, got {text!r}") from None


def _optional_link(value: Any) -> Link | None:
    if value is None:
        return None
    if not isinstance(value, dict) or "type" not in value or "id" not in value:
        raise ServiceFault(f"API work schedule: expected an entity dict or None, got {value!r}")
    return {"type": str(value["type"]), "id": int(value["id"])}


def work_schedule_update(service: Service, user: Link, params: dict[str, Any], base: str) -> dict[str, Any]:
    day = _day(params.get("date"), "work_schedule_update() date")
    project, person = _optional_link(params.get("project")), _optional_link(params.get("user"))
    fields = {
        "date": day.isoformat(),
        "working": bool(params.get("working")),
        "description": params.get("description"),
        "project": project,
        "user": person,
    }
    for rule in service.storage.rows("WorkDayRule"):
        same = (rule.data.get("date"), rule.data.get("project"), rule.data.get("user")) == (
            fields["date"],
            project,
            person,
        )
        if same:
            service.delete(user, "WorkDayRule", rule.id)
    service.create(user, "WorkDayRule", [{"field_name": k, "value": v} for k, v in fields.items()], [], base)
    reader = service.reader(base, user)
    link_def = service.field("WorkDayRule", "user")
    return {**fields, "project": reader.render(link_def, project), "user": reader.render(link_def, person)}


def work_schedule_read(service: Service, user: Link, params: dict[str, Any], base: str) -> dict[str, Any]:
    start = _day(params.get("start_date"), "work_schedule_read() start_date")
    end = _day(params.get("end_date"), "work_schedule_read() end_date")
    if end < start or (end - start).days > 3660:
        raise ServiceFault("API work_schedule_read() needs start_date <= end_date, at most ten years apart")
    project, person = _optional_link(params.get("project")), _optional_link(params.get("user"))
    rules: dict[tuple[str, str], dict[str, Any]] = {}
    for rule in service.storage.rows("WorkDayRule"):
        data = rule.data
        if data.get("user") is not None:
            scope = "USER_EXCEPTION" if data["user"] == person else ""
        elif data.get("project") is not None:
            scope = "PROJECT_EXCEPTION" if data["project"] == project else ""
        else:
            scope = "STUDIO_EXCEPTION"
        if scope:
            rules[(str(data.get("date")), scope)] = data
    schedule: dict[str, Any] = {}
    day = start
    while day <= end:
        text = day.isoformat()
        entry = {"working": day.weekday() < 5, "description": None, "reason": "STUDIO_WORK_WEEK"}
        for scope in ("USER_EXCEPTION", "PROJECT_EXCEPTION", "STUDIO_EXCEPTION"):
            found = rules.get((text, scope))
            if found is not None:
                entry = {
                    "working": bool(found.get("working")),
                    "description": found.get("description"),
                    "reason": scope,
                }
                break
        schedule[text] = entry
        day += timedelta(days=1)
    return schedule


def last_accessed(service: Service, user: Link, params: dict[str, Any], base: str) -> list[dict[str, Any]]:
    try:
        project_id = int(params["project_id"])
    except (KeyError, TypeError, ValueError):
        raise ServiceFault("API update_project_last_accessed_by_current_user() needs a project_id") from None
    who = {"type": "HumanUser", "id": int(params["user_id"])} if params.get("user_id") else user
    with service.storage.transaction():
        row = service.storage.get("Project", project_id)
        if row is None or row.retired:
            raise ServiceFault(
                f"API update_project_last_accessed_by_current_user() Project {project_id} does not exist"
            )
        stamps = dict(row.data.get("_last_accessed") or {})
        stamps[f"{who['type']}:{who['id']}"] = now_text()
        row.data["_last_accessed"] = stamps
        service.storage.write("Project", project_id, row.data)
    return [{"type": "Project", "id": project_id}]


def export_page(service: Service, user: Link, params: dict[str, Any], base: str) -> Any:
    if params.get("page_id") is None:
        raise ServiceFault("'page_id' missing")
    if params.get("format") is None:
        raise ServiceFault("'format' missing")
    page_id = params["page_id"]
    raise ServiceFault(f"Export for Page id={page_id} not available")
