"""Writes to ShotGrid, each safe to repeat after a lost answer.

A publish finds the Version by its idempotency key (the `key_field`) before creating one, in the same
retried request, then finishes whichever upload is missing (movie, thumbnail, attachments), each one
checked again just before it is sent. New Versions get the adapter's own `version_status`. A note is
not created twice with the same subject and body; a task status must be one the site knows. Rushes moves a
task only out of the fix status: a task someone moved on while Rushes worked keeps its status.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import structlog

from integrations.trackers.base import Published, RequestAnswer, TrackerFatal, VersionSpec
from integrations.trackers.options import TrackerOptions
from integrations.trackers.shotgrid import events
from integrations.trackers.shotgrid.connection import Client, Connection, Entity, entity_link, link
from integrations.trackers.shotgrid.schema import Schema

LOG = structlog.get_logger(__name__)

Find = Callable[[Client], Entity | None]


def publish_version(conn: Connection, options: TrackerOptions, spec: VersionSpec) -> Published:
    """Create (or find, by idempotency key) the Version, then finish any upload still missing."""
    key_field = options.key_field
    wanted = [key_field, "sg_uploaded_movie", "image"]
    attempted_create = False

    def find(sg: Client) -> Entity | None:
        found: Entity | None = sg.find_one("Version", [[key_field, "is", spec.idempotency_key]], wanted)
        return found

    def find_or_create(sg: Client) -> Entity:
        nonlocal attempted_create
        found = find(sg)
        if found is not None:
            return found
        attempted_create = True
        created: Entity = sg.create("Version", _version_data(sg, options, spec), wanted)
        return created

    version = conn.call(f"publish of {spec.code}", find_or_create)
    version_id = int(version["id"])
    if not version.get("sg_uploaded_movie"):
        _upload_once(conn, version_id, "sg_uploaded_movie", spec.movie_path, find)
    if spec.thumbnail_path is not None and not version.get("image"):
        _upload_once(conn, version_id, "image", spec.thumbnail_path, find)
    for path in spec.attachments:
        _attach_once(conn, version_id, path)
    return Published(version_id, attempted_create)


def _version_data(sg: Client, options: TrackerOptions, spec: VersionSpec) -> Entity:
    data: Entity = {
        "code": spec.code,
        "entity": link("Shot", spec.shot_id),
        "project": _project_of_shot(sg, spec.shot_id),
        "description": spec.description,
        "sg_status_list": options.version_status,
        "sg_path_to_movie": str(spec.movie_path),
        "sg_first_frame": spec.first_frame,
        "sg_last_frame": spec.last_frame,
        "frame_count": spec.last_frame - spec.first_frame + 1,
        "frame_range": f"{spec.first_frame}-{spec.last_frame}",
        options.key_field: spec.idempotency_key,
    }
    if spec.frames_path:
        data["sg_path_to_frames"] = spec.frames_path
    if spec.task_id is not None:
        data["sg_task"] = link("Task", spec.task_id)
    return data


def _project_of_shot(sg: Client, shot_id: int | str) -> Entity:
    """The link to the project of the shot (or of the entity an entity_ref names), read inside the caller's
    retried request."""
    entity = entity_link(shot_id)
    found = sg.find_one(entity["type"], [["id", "is", entity["id"]]], ["project"])
    if found is None:
        raise TrackerFatal(
            f"ShotGrid has no {entity['type']} with id {entity['id']}: it was deleted or the catalog is stale"
        )
    project: Entity = found["project"]
    return project


def _upload_once(conn: Connection, version_id: int, field_name: str, path: Path, find: Find) -> None:
    if not path.is_file() or path.stat().st_size == 0:
        raise TrackerFatal(f"cannot upload {path} to ShotGrid: the file is missing or empty")

    def upload(sg: Client) -> None:
        current = find(sg) or {}
        if current.get(field_name):
            return  # an earlier attempt got through and only its answer was lost
        if field_name == "image":
            sg.upload_thumbnail("Version", version_id, str(path))
        else:
            sg.upload("Version", version_id, str(path), field_name=field_name)

    conn.call(f"upload of {path.name}", upload)


def _attach_once(conn: Connection, version_id: int, path: Path) -> None:
    version = link("Version", version_id)

    def attach(sg: Client) -> None:
        filters = [["attachment_links", "is", version], ["filename", "is", path.name]]
        if sg.find_one("Attachment", filters, ["id"]) is None:
            sg.upload("Version", version_id, str(path))

    conn.call(f"upload of {path.name}", attach)


def set_task_status(conn: Connection, schema: Schema, task_id: int | str, status: str) -> None:
    if status not in schema.valid_statuses("Task"):
        raise TrackerFatal(
            f"Task status '{status}' is not a valid Task.sg_status_list value in ShotGrid: add it to the status list"
        )
    conn.call(
        f"status of task {task_id}", lambda sg: sg.update("Task", int(task_id), {"sg_status_list": status})
    )


def mark_published(
    conn: Connection,
    schema: Schema,
    options: TrackerOptions,
    task_id: int | str,
    answered: bool = False,
    request_key: str = "",
) -> bool:
    """The task from the fix status (or, when the request was `answered` as not done before, from
    `failed_status`, where Rushes put it) to `published_status`; False, and nothing changed, when someone
    moved it on while the fix was made (the request withdrawn: the coordinator's status stands), or set it to
    fix again since the newest request Rushes has recorded on it (`request_key`, `shotgrid:event:N`): a new
    request the poller has not read yet, which moving the task on would lose (it is read only while the task
    is in fix)."""
    status = task_status(conn, task_id)
    if status == options.published_status:
        return True  # a retry after the update got through
    if status != options.fix_status and not (answered and status == options.failed_status):
        return False
    if status == options.fix_status and _asked_since(conn, options, task_id, request_key):
        return False
    set_task_status(conn, schema, task_id, options.published_status)
    return True


def _asked_since(conn: Connection, options: TrackerOptions, task_id: int | str, request_key: str) -> bool:
    """Whether the task was set to fix again after the event that made the newest request Rushes knows
    (`shotgrid:event:N`): moved out of fix and back, asking anew."""
    prefix = "shotgrid:event:"
    if not request_key.startswith(prefix) or not request_key[len(prefix) :].isdigit():
        return False
    newest = events.newest_status_event(conn, int(task_id))
    return (
        newest is not None
        and int(newest["id"]) > int(request_key[len(prefix) :])
        and (newest.get("meta") or {}).get("new_value") == options.fix_status
    )


def withdrawn(conn: Connection, options: TrackerOptions, task_ids: Sequence[int | str]) -> set[str]:
    """Of these tasks (each with a request Rushes has not started on), those that no longer ask for their fix,
    in one read: moved out of the fix status by hand (to any other, review included: Rushes moves a task to
    review only once its request is published), deleted, or on a shot taken out of the cut (its status
    `omitted_status`) since."""
    wanted = sorted({int(t) for t in task_ids})
    if not wanted:
        return set()
    fields = ["sg_status_list", "entity.Shot.sg_status_list"]
    tasks = conn.call(
        f"{len(wanted)} tasks' statuses",
        lambda sg: sg.find("Task", [["id", "in", wanted]], fields),
    )
    omitted = options.omitted_status
    asking = {
        int(task["id"])
        for task in tasks
        if task.get("sg_status_list") == options.fix_status
        and not (omitted and task.get("entity.Shot.sg_status_list") == omitted)
    }
    return {str(t) for t in wanted if t not in asking}


def task_status(conn: Connection, task_id: int | str) -> str | None:
    """The task's status now (None when the task is gone)."""
    wanted = int(task_id)
    task = conn.call(
        f"task {wanted}", lambda sg: sg.find_one("Task", [["id", "is", wanted]], ["sg_status_list"])
    )
    return None if task is None else task.get("sg_status_list")


def answer_request(conn: Connection, schema: Schema, options: TrackerOptions, answer: RequestAnswer) -> None:
    """The note on the request's task (once), then the task from the fix status to `failed_status` (a task
    moved on since keeps its status)."""
    add_note(conn, answer.shot_id, answer.task_id, answer.subject, answer.body)
    if answer.task_id is None or answer.keep_status:
        return
    task_id = int(answer.task_id)
    if task_status(conn, task_id) != options.fix_status:
        return
    known = schema.valid_statuses("Task")
    if options.failed_status not in known:  # the note is the answer; the log says what the site lacks
        LOG.warning(
            "the task stays in the fix status: failed_status is not a Task status of the site",
            task_id=task_id,
            failed_status=options.failed_status,
        )
        return
    set_task_status(conn, schema, task_id, options.failed_status)


def add_note(
    conn: Connection, shot_id: int | str, task_id: int | str | None, subject: str, body: str
) -> None:
    """A Note on the shot (or the entity an entity_ref names) and task, not created again when an identical one
    exists."""
    shot_link = entity_link(shot_id)

    def create(sg: Client) -> None:
        filters = [["note_links", "is", shot_link], ["subject", "is", subject], ["content", "is", body]]
        if sg.find_one("Note", filters, ["id"]) is not None:
            return  # an earlier attempt got through and only its answer was lost
        data: Entity = {
            "project": _project_of_shot(sg, shot_id),
            "subject": subject,
            "content": body,
            "note_links": [shot_link],
        }
        if task_id is not None:
            data["tasks"] = [link("Task", task_id)]
        sg.create("Note", data)

    conn.call(f"note on shot {shot_id}", create)
