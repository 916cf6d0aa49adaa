"""Writes to Kitsu. Kitsu has no Version entity: a publish is a comment on the shot's task, in the
adapter's own pending-review status (`version_status`), carrying the movie as a preview revision (which
zou transcodes) and the `rushes-key:` line; the version id handed back is the preview file's id.

Comments are not idempotent, so they are sent once; a repeated publish first looks for the comment with
its key and, when that comment's preview has no movie (a "broken" preview, or one left "processing" with no
file name: its upload was cut before zou stored the movie), uploads the movie again into the same preview. A task status is changed by a comment, and not when the task has it.
Rushes moves a task only from a status it set or was asked in: a task someone moved on while Rushes
worked (the request withdrawn) keeps its status, and the publish comment carries that status.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path

import gazu
import structlog
from gazu.client import KitsuClient

from integrations.trackers.base import Published, RequestAnswer, TrackerFatal, VersionSpec
from integrations.trackers.kitsu import entities, events
from integrations.trackers.kitsu.connection import Connection, Entity
from integrations.trackers.kitsu.markers import key_of, note_text, version_text
from integrations.trackers.kitsu.statuses import Statuses

LOG = structlog.get_logger(__name__)
UPLOAD_TIMEOUT = 600.0  # seconds: zou transcodes the movie inside the upload request


def task_for(conn: Connection, statuses: Statuses, shot_id: int | str, task_id: int | str | None) -> str:
    """The given task, or the shot's first task by name (comments and previews live on tasks)."""
    if task_id is not None:
        return str(task_id)
    tasks = entities.find_tasks(conn, statuses, shot_id)
    if not tasks:
        raise TrackerFatal(
            f"Kitsu shot {shot_id} has no task: add one (Kitsu comments and previews live on tasks)"
        )
    return str(sorted(tasks, key=lambda t: t.name)[0].id)


def publish_version(conn: Connection, statuses: Statuses, spec: VersionSpec) -> Published:
    """Post the review comment with the movie as a preview revision; find it again by idempotency key."""
    if not spec.movie_path.is_file() or spec.movie_path.stat().st_size == 0:
        raise TrackerFatal(f"cannot publish {spec.movie_path} to Kitsu: the movie is missing or empty")
    task_id = task_for(conn, statuses, spec.shot_id, spec.task_id)
    comments = events.comments(conn, task_id)
    comment = next((c for c in comments if key_of(c.get("text")) == spec.idempotency_key), None)
    if comment is None:
        task = conn.call(f"task {task_id}", lambda c: gazu.task.get_task(task_id, client=c))
        withdrawn = _moved_on(statuses, task)
        status_id = task["task_status_id"] if withdrawn else statuses.of("version_status")["id"]
        attachments = [str(p) for p in spec.attachments if p.is_file()]
        text = version_text(spec)
        comment = conn.call(
            f"a comment on task {task_id}",
            lambda c: gazu.task.add_comment(task_id, status_id, text, attachments=attachments, client=c),
            idempotent=False,
        )
    previews = [p for p in comment.get("previews") or [] if not lacks_movie(p)]
    if previews:
        return Published(str(previews[-1]["id"]), created=False)
    preview = _upload_preview(conn, task_id, comment, spec.movie_path)
    return Published(str(preview["id"]), created=True)


def lacks_movie(preview: Entity) -> bool:
    """Whether a preview is still without its movie: broken, or "processing" with no file name (zou names it as
    it stores the movie, before any transcoding: a preview left so had its upload cut partway, and used to be
    taken for the published movie, the Version published empty)."""
    status = preview.get("status")
    return status == "broken" or (status == "processing" and not preview.get("original_name"))


def _upload_preview(conn: Connection, task_id: str, comment: Entity, movie: Path) -> Entity:
    broken = [p for p in comment.get("previews") or [] if lacks_movie(p)]
    what = f"the upload of {movie.name}"
    with conn.timeout_at_least(UPLOAD_TIMEOUT):
        if broken:  # a publish that stopped between creating the preview and uploading its movie
            preview = conn.call(
                what,
                lambda c: gazu.task.upload_preview_file(broken[-1]["id"], str(movie), client=c),
                idempotent=False,
            )
        else:
            preview = conn.call(
                what,
                lambda c: gazu.task.add_preview(task_id, comment["id"], str(movie), client=c),
                idempotent=False,
            )
    if preview.get("status") == "broken":
        raise TrackerFatal(
            f"Kitsu could not transcode {movie} (preview {preview['id']} is broken): "
            "check that it plays (ffprobe) and is a plain H.264/ProRes movie"
        )
    return preview


def mark_published(conn: Connection, statuses: Statuses, task_id: int | str, answered: bool = False) -> bool:
    """The task to `published_status` from a status Rushes set it to or was asked in (with `answered`, the
    request answered as not done before, also `failed_status`); False, and nothing posted, when someone
    moved it on meanwhile."""
    task = conn.call(f"task {task_id}", lambda c: gazu.task.get_task(str(task_id), client=c))
    if _moved_on(statuses, task) and not (answered and _in_failed_status(statuses, task)):
        return False
    move_task(conn, task_id, statuses.of("published_status"), task)
    return True


def withdrawn(conn: Connection, statuses: Statuses, task_ids: Sequence[int | str]) -> set[str]:
    """Of these tasks, those someone moved on (see _moved_on) or deleted: a read per task, as Kitsu's API
    reads a task by its id."""
    gone = set()
    for task_id in sorted({str(t) for t in task_ids}):
        task = conn.get_or_none(f"task {task_id}", functools.partial(_get_task, task_id))
        if task is None or _moved_on(statuses, task):
            gone.add(task_id)
    return gone


def _get_task(task_id: str, client: KitsuClient) -> Entity:
    task: Entity = gazu.task.get_task(task_id, client=client)
    return task


def _moved_on(statuses: Statuses, task: Entity) -> bool:
    """Whether the task left the statuses Rushes sets or is asked in (the fix status, `version_status`,
    `published_status`): the request was withdrawn by hand while Rushes worked, and that status stands."""
    ours = {statuses.of(name)["id"] for name in ("fix_status", "version_status", "published_status")}
    return task.get("task_status_id") not in ours


def _in_failed_status(statuses: Statuses, task: Entity) -> bool:
    try:
        return bool(task.get("task_status_id") == statuses.of("failed_status")["id"])
    except TrackerFatal:  # a site without it: Rushes never moved the task there
        return False


def move_task(conn: Connection, task_id: int | str, wanted: Entity, task: Entity | None = None) -> None:
    """Kitsu changes a task's status with a comment; nothing is posted when it already has it. `task`: the
    task as just read, when the caller has it (else it is read here)."""
    if task is None:
        task = conn.call(f"task {task_id}", lambda c: gazu.task.get_task(str(task_id), client=c))
    if task.get("task_status_id") == wanted["id"]:
        return
    tries = 0

    def move(c: KitsuClient) -> None:
        nonlocal tries
        tries += 1
        if tries > 1 and gazu.task.get_task(str(task_id), client=c).get("task_status_id") == wanted["id"]:
            return  # an earlier try got through and only its answer was lost (a load balancer's 504)
        gazu.task.add_comment(str(task_id), wanted["id"], "", client=c)

    conn.call(f"the status of task {task_id}", move)


def answer_request(conn: Connection, statuses: Statuses, answer: RequestAnswer) -> None:
    """One comment on the request's task saying why it was not done, moving the task from the fix status to
    `failed_status` (a task moved on since keeps its status); not posted again when a comment with the same
    text is on the task (an earlier attempt got through and only its answer was lost)."""
    target = task_for(conn, statuses, answer.shot_id, answer.task_id)
    text = note_text(answer.subject, answer.body)
    if any(str(c.get("text") or "") == text for c in events.comments(conn, target)):
        return
    task = conn.call(f"task {target}", lambda c: gazu.task.get_task(target, client=c))
    status_id = task["task_status_id"]
    if status_id == statuses.of("fix_status")["id"]:
        try:
            status_id = statuses.of("failed_status")["id"]
        except TrackerFatal as exc:  # the comment is the answer; the task stays where it is
            LOG.warning("the task stays in the fix status", task_id=target, error=str(exc))
    conn.call(
        f"a note on task {target}",
        lambda c: gazu.task.add_comment(target, status_id, text, client=c),
        idempotent=False,
    )


def add_note(
    conn: Connection,
    statuses: Statuses,
    shot_id: int | str,
    task_id: int | str | None,
    subject: str,
    body: str,
) -> None:
    """A comment on the task (or the shot's first task), keeping the task's status; not posted again when a
    comment with the same text is on the task (an earlier attempt got through and only its answer was lost)."""
    target = task_for(conn, statuses, shot_id, task_id)
    text = note_text(subject, body)
    if any(str(c.get("text") or "") == text for c in events.comments(conn, target)):
        return
    task = conn.call(f"task {target}", lambda c: gazu.task.get_task(target, client=c))
    conn.call(
        f"a note on task {target}",
        lambda c: gazu.task.add_comment(target, task["task_status_id"], text, client=c),
        idempotent=False,
    )
