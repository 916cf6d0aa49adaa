"""Plain reads of projects, shots and tasks (the adapter's extras beyond the daemon's protocol)."""

from __future__ import annotations

import gazu

from integrations.trackers.base import Project, Shot, Task, TrackerFatal
from integrations.trackers.kitsu.connection import Connection
from integrations.trackers.kitsu.statuses import Statuses


def find_project(conn: Connection, code: str) -> Project:
    rows = conn.call("projects", lambda c: gazu.project.all_open_projects(client=c))
    for row in rows:
        if code.lower() in {str(row.get("code") or "").lower(), str(row.get("name") or "").lower()}:
            return Project(row["id"], row.get("code") or row.get("name") or code, row.get("name") or "")
    raise TrackerFatal(
        f"Kitsu has no open project with code or name '{code}' that {conn.options.script_name} can see: create "
        "it, fix tracker_project, or add that user to the project's team"
    )


def find_shots(conn: Connection, project: Project) -> list[Shot]:
    rows = conn.call("shots", lambda c: gazu.shot.all_shots_for_project(str(project.id), client=c))
    return sorted((Shot(r["id"], r.get("name") or "", project.id) for r in rows), key=lambda s: s.code)


def find_tasks(conn: Connection, statuses: Statuses, shot_id: int | str) -> list[Task]:
    rows = conn.call("tasks", lambda c: gazu.task.all_tasks_for_shot(str(shot_id), client=c))
    tasks = []
    for row in rows:
        status = statuses.by_id(row.get("task_status_id")) or {}
        name = row.get("task_type_name") or row.get("name") or ""
        tasks.append(Task(row["id"], str(name), shot_id, str(status.get("short_name") or "")))
    return tasks
