"""Plain reads of projects, shots, tasks and notes (the adapter's extras beyond the daemon's protocol)."""

from __future__ import annotations

from typing import Any

from integrations.trackers.base import Project, Shot, Task, TrackerFatal
from integrations.trackers.shotgrid.connection import Connection, Entity, link


def find_project(conn: Connection, code: str) -> Project:
    filters = [{"filter_operator": "any", "filters": [["code", "is", code], ["name", "is", code]]}]
    found = conn.call(f"project {code}", lambda sg: sg.find_one("Project", filters, ["code", "name"]))
    if found is None:
        raise TrackerFatal(
            f"ShotGrid has no Project with code or name '{code}': create it or fix tracker_project"
        )
    return Project(found["id"], found.get("code") or found.get("name") or code, found.get("name") or "")


def find_shots(conn: Connection, project: Project) -> list[Shot]:
    project_link = link("Project", project.id)
    rows = conn.call(
        "shots",
        lambda sg: sg.find(
            "Shot", [["project", "is", project_link]], ["code"], order=[{"field_name": "code"}]
        ),
    )
    return [Shot(r["id"], r.get("code") or "", project.id) for r in rows]


def find_tasks(conn: Connection, shot_id: int | str) -> list[Task]:
    shot_link = link("Shot", shot_id)
    rows = conn.call(
        "tasks", lambda sg: sg.find("Task", [["entity", "is", shot_link]], ["content", "sg_status_list"])
    )
    return [Task(r["id"], r.get("content") or "", shot_id, r.get("sg_status_list") or "") for r in rows]


def newest_note(conn: Connection, link_field: str, linked: Entity, holding: str | None = None) -> str | None:
    """The text of the newest Note linked to `linked` through `link_field` ("tasks", "note_links"); with
    `holding`, the newest whose text holds it (ShotGrid's `contains`, any case)."""
    found = newest_note_entity(conn, link_field, linked, holding)
    return str(found["content"]) if found else None


def newest_reply_entity(conn: Connection, task: Entity, holding: str) -> Entity | None:
    """The newest Reply holding `holding` to a Note on `task` (a coordinator answering Rushes' own note with a
    corrected request), with its type, id and content; None when there is none."""
    order = [{"field_name": "created_at", "direction": "desc"}, {"field_name": "id", "direction": "desc"}]
    filters: list[Any] = [["entity.Note.tasks", "is", task], ["content", "contains", holding]]
    found = conn.call(
        "replies", lambda sg: sg.find_one("Reply", filters, ["content", "created_at"], order=order)
    )
    return found if found and found.get("content") else None


def newest_note_entity(
    conn: Connection, link_field: str, linked: Entity, holding: str | None = None
) -> Entity | None:
    """`newest_note`'s Note (type, id and content), None when there is none or its text is empty."""
    order = [{"field_name": "created_at", "direction": "desc"}, {"field_name": "id", "direction": "desc"}]
    filters: list[Any] = [[link_field, "is", linked]]
    if holding is not None:
        filters.append(["content", "contains", holding])
    found = conn.call(
        "notes", lambda sg: sg.find_one("Note", filters, ["content", "created_at"], order=order)
    )
    return found if found and found.get("content") else None
