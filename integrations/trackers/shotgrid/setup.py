"""`rushes tracker setup` on ShotGrid / Flow Production Tracking and on the local compatible server.

Everywhere: the two custom fields Rushes writes (the Task fix field and the Version key field, both text,
through `schema_field_create`), and a report of the standard Version fields and the statuses it uses
(those are the site's own: missing ones are named with what to set). On the local server only (its `info`
says `rushes_local_server`): also each show's Project, the Shots the catalog holds and a Task per Shot that
has none, so a coordinator has something to tag. On a hosted site a missing Project is reported, never
created: projects belong to production.

Idempotent: every lookup comes before its create, so a second run answers "existed" for everything.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from integrations.trackers.options import TrackerOptions
from integrations.trackers.setup import SetupPlan, SetupStep
from integrations.trackers.shotgrid.connection import Connection, link
from integrations.trackers.shotgrid.schema import OPTIONAL_STATUSES, REQUIRED_STATUSES, VERSION_FIELDS, Schema


def set_up(
    conn: Connection, schema: Schema, options: TrackerOptions, plans: Sequence[SetupPlan]
) -> list[SetupStep]:
    """Create what is missing and may be created; one step per field, status, project, shot and task."""
    schema.forget()
    steps = _custom_fields(schema, options) + _standard_fields(schema) + _statuses(schema, options)
    local = bool(conn.call("info", lambda sg: sg.info()).get("rushes_local_server"))
    for plan in plans:
        steps.extend(_entities(conn, plan) if local else _hosted_project(conn, plan))
    schema.forget()
    return steps


def _custom_fields(schema: Schema, options: TrackerOptions) -> list[SetupStep]:
    before = {e: set(schema.fields(e)) for e in ("Task", "Version")}
    schema.ensure_fields()
    steps = []
    for entity_type, name, option in (
        ("Task", options.fix_field, "fix_field"),
        ("Version", options.key_field, "key_field"),
    ):
        what = f"field {entity_type}.{name} (text)"
        if name in before[entity_type]:
            steps.append(SetupStep(what, "existed"))
        elif name in schema.fields(entity_type):
            steps.append(SetupStep(what, "created"))
        else:  # made (now or by an earlier run) under the code ShotGrid chose
            code = schema.named_otherwise(entity_type, name)
            steps.append(
                SetupStep(
                    what, "missing", f"ShotGrid has it as {entity_type}.{code}: set tracker.{option}: {code}"
                )
            )
    return steps


def _standard_fields(schema: Schema) -> list[SetupStep]:
    have = schema.fields("Version")
    return [
        SetupStep(f"field Version.{name}", "existed")
        if name in have
        else SetupStep(
            f"field Version.{name}", "missing", "a standard field: restore it in the site's schema"
        )
        for name in VERSION_FIELDS
    ]


def _statuses(schema: Schema, options: TrackerOptions) -> list[SetupStep]:
    wanted = [
        (entity_type, str(getattr(options, option)), option)
        for entity_type, option in REQUIRED_STATUSES + OPTIONAL_STATUSES
    ]
    steps = []
    for entity_type, status, option in wanted:
        what = f"status {entity_type}.{status}"
        if status in schema.valid_statuses(entity_type):
            steps.append(SetupStep(what, "existed"))
        else:
            hint = (
                f"add it to {entity_type}.sg_status_list in the site's preferences, or set tracker.{option}"
            )
            steps.append(SetupStep(what, "missing", hint))
    return steps


def _find_project(conn: Connection, code: str) -> dict[str, Any] | None:
    filters = [{"filter_operator": "any", "filters": [["code", "is", code], ["name", "is", code]]}]
    found: dict[str, Any] | None = conn.call(
        f"project {code}", lambda sg: sg.find_one("Project", filters, ["code", "name"])
    )
    return found


def _hosted_project(conn: Connection, plan: SetupPlan) -> list[SetupStep]:
    what = f"project {plan.project}"
    if _find_project(conn, plan.project) is not None:
        return [SetupStep(what, "existed")]
    hint = "create it in ShotGrid (Rushes creates projects only on the local server) or set the show's tracker_project"
    return [SetupStep(what, "missing", hint)]


def _entities(conn: Connection, plan: SetupPlan) -> list[SetupStep]:
    """The project, its shots and a task per shot, on the local server."""
    steps = []
    project = _find_project(conn, plan.project)
    if project is None:
        data = {"code": plan.project, "name": plan.project_name or plan.project}
        project = _create(conn, "Project", data)
        steps.append(SetupStep(f"project {plan.project}", "created"))
    else:
        steps.append(SetupStep(f"project {plan.project}", "existed"))
    project_link = link("Project", project["id"])
    rows = conn.call("shots", lambda sg: sg.find("Shot", [["project", "is", project_link]], ["code"]))
    shots = {str(r.get("code")): r for r in rows}
    for code in plan.shots:
        shot = shots.get(code)
        if shot is None:
            shot = _create(conn, "Shot", {"code": code, "project": project_link})
            steps.append(SetupStep(f"shot {plan.project}/{code}", "created"))
        else:
            steps.append(SetupStep(f"shot {plan.project}/{code}", "existed"))
        steps.append(_task(conn, plan, project_link, code, link("Shot", shot["id"])))
    return steps


def _task(conn: Connection, plan: SetupPlan, project: Any, code: str, shot: Any) -> SetupStep:
    what = f"task {plan.project}/{code}/{plan.task}"
    tasks = conn.call(f"tasks of {code}", lambda sg: sg.find("Task", [["entity", "is", shot]], ["content"]))
    if tasks:
        names = ", ".join(sorted(str(t.get("content") or "") for t in tasks))
        return SetupStep(f"task {plan.project}/{code}/{names}", "existed")
    _create(conn, "Task", {"content": plan.task, "entity": shot, "project": project})
    return SetupStep(what, "created")


def _create(conn: Connection, entity_type: str, data: dict[str, Any]) -> dict[str, Any]:
    made: dict[str, Any] = conn.call(f"creating a {entity_type}", lambda sg: sg.create(entity_type, data))
    return made


__all__ = ["set_up"]
