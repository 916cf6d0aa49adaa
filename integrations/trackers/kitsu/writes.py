"""Writes to Kitsu. Kitsu has no Version entity: a publish is a comment on the shot's task, in the
adapter's own pending-review status (`version_status`), carrying the movie as a preview revision (which
zou transcodes) and the `rushes-key:` line; the version id handed back is the preview file's id.

Comments are not idempotent, so they are sent once; a repeated publish first looks for the comment with
its key and, when that comment's preview has no movie, uploads the movie again into the same preview: at once
when it is "broken", and when it is "processing" with no file name only once the grace (`processing_grace`:
Rushes' own wait for an upload's answer and a margin) is over, timed from the later of zou's last write to the
preview and the end of Rushes' last upload for that comment (zou names a preview after it has transcoded the
movie, inside the upload request, and does not write the preview's row when an upload arrives, so until then such
a preview may be one zou still works on, its answer lost to a load balancer's 504 or Rushes' own timeout: sent
again, it was transcoded twice, or refused). The end of Rushes' uploads is kept in memory (`Uploads`, one per
adapter): after a daemon restart only zou's time counts, so an upload whose answer was lost just before the restart
may be sent again once the grace after the preview's creation is over. A re-upload zou refuses (400) because it named the
preview meanwhile is read again: its movie is the publish. A task status is changed by a comment, and not when the
task has it.
Rushes moves a task only from a status it set or was asked in: a task someone moved on while Rushes
worked (the request withdrawn) keeps its status, and the publish comment carries that status.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path

import gazu
import structlog
from gazu.client import KitsuClient
from gazu.exception import ParameterException, RouteNotFoundException

from integrations.trackers.base import Published, RequestAnswer, TrackerError, TrackerFatal, VersionSpec
from integrations.trackers.kitsu import entities, events
from integrations.trackers.kitsu.connection import Connection, Entity
from integrations.trackers.kitsu.cursor import parse_time
from integrations.trackers.kitsu.fixes import utc_now
from integrations.trackers.kitsu.markers import NOTE_TAG, by_rushes, key_of, note_text, version_text
from integrations.trackers.kitsu.statuses import Statuses

LOG = structlog.get_logger(__name__)
UPLOAD_TIMEOUT = 600.0  # seconds: zou transcodes the movie inside the upload request
GRACE_MARGIN = 300.0  # seconds: the movie's transfer, zou's slack and clock drift


def processing_grace(timeout: float) -> float:
    """How long after zou last touched a preview still "processing" with no file name, or Rushes' last upload into
    it ended, zou may still be working on its upload: Rushes' own wait for the upload's answer (the longer of
    `tracker.timeout` and UPLOAD_TIMEOUT, as `_upload_preview` waits), plus GRACE_MARGIN."""
    return max(timeout, UPLOAD_TIMEOUT) + GRACE_MARGIN


class Uploads:
    """When Rushes' last upload of a publish's movie ended (answered, refused or lost), per comment id, on the host's
    monotonic clock. In memory: one per adapter, so a daemon restart forgets it (only zou's time counts then)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._ended: dict[str, float] = {}

    def ended(self, comment_id: str) -> None:
        with self._lock:
            self._ended[comment_id] = self._clock()

    def since(self, comment_id: str) -> float | None:
        """Seconds since Rushes' last upload for the comment ended; None when none did in this process."""
        with self._lock:
            ended = self._ended.get(comment_id)
        return None if ended is None else self._clock() - ended


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


def publish_version(
    conn: Connection, statuses: Statuses, spec: VersionSpec, grace: float, uploads: Uploads
) -> Published:
    """Post the review comment with the movie as a preview revision; find it again by idempotency key. `grace`:
    seconds a preview without its movie is left to zou before its upload is taken as cut (`processing_grace`);
    `uploads`: when this process's uploads ended, per comment."""
    if not spec.movie_path.is_file() or spec.movie_path.stat().st_size == 0:
        raise TrackerFatal(f"cannot publish {spec.movie_path} to Kitsu: the movie is missing or empty")
    task_id = task_for(conn, statuses, spec.shot_id, spec.task_id)
    comments = events.comments(conn, task_id)
    comment = next((c for c in comments if key_of(c.get("text")) == spec.idempotency_key), None)
    if comment is None:
        task = conn.call(f"task {task_id}", lambda c: gazu.task.get_task(task_id, client=c))
        kept = spec.keep_status or _moved_on(statuses, task)  # another request's, or the coordinator's
        status_id = task["task_status_id"] if kept else statuses.of("version_status")["id"]
        attachments = [str(p) for p in spec.attachments if p.is_file()]
        text = version_text(spec)
        comment = conn.call(
            f"a comment on task {task_id}",
            lambda c: gazu.task.add_comment(task_id, status_id, text, attachments=attachments, client=c),
            idempotent=False,
        )
    preview = _newest_preview(conn, comment)
    if preview is not None and not lacks_movie(preview):
        return Published(str(preview["id"]), created=False)
    if preview is not None and unnamed(preview):
        _check_left(conn, preview, grace, uploads.since(str(comment["id"])))
    try:
        return _upload_preview(conn, task_id, comment, preview, spec.movie_path)
    finally:
        uploads.ended(str(comment["id"]))


def lacks_movie(preview: Entity) -> bool:
    """Whether a preview is without its movie as zou has it: broken, or "processing" with no file name (see
    `unnamed`). Such a preview used to be taken for the published movie, the Version published empty."""
    return preview.get("status") == "broken" or unnamed(preview)


def unnamed(preview: Entity) -> bool:
    """Whether a preview is "processing" with no file name: zou names it once it has stored and transcoded the
    movie (within the upload request, by default), so zou may still be working on its upload, or the upload was
    cut before zou had it."""
    return preview.get("status") == "processing" and not preview.get("original_name")


def _newest_preview(conn: Connection, comment: Entity) -> Entity | None:
    """The comment's preview with its movie; else its newest preview read again (the comment lists no time, and
    the movie may have come since); None when it has none, or zou deleted it (a failed transcode)."""
    previews: list[Entity] = comment.get("previews") or []
    done = [p for p in previews if not lacks_movie(p)]
    if done or not previews:
        return done[-1] if done else None
    preview_id = str(previews[-1]["id"])
    return conn.get_or_none(f"preview {preview_id}", functools.partial(_get_preview, preview_id))


def _get_preview(preview_id: str, client: KitsuClient) -> Entity:
    preview: Entity = gazu.files.get_preview_file(preview_id, client=client)
    return preview


def _check_left(conn: Connection, preview: Entity, grace: float, since_upload: float | None) -> None:
    """Raise a transient error while zou may still be working on the preview's upload: less than `grace` seconds
    since zou last touched the preview, on zou's clock (the Date of its answer to the read just made), or since
    Rushes' last upload into it ended (`since_upload`, None when none did in this process): zou does not write the
    preview when an upload arrives, only once it has transcoded it."""
    now = conn.server_time()
    if now is None:
        LOG.warning(
            "Kitsu's answer had no readable Date header: the host's clock times the preview against zou's",
            preview_id=str(preview["id"]),
        )
        now = utc_now()
    since = (now - _touched(preview)).total_seconds()
    if since_upload is not None:
        since = min(since, since_upload)
    if since < grace:
        raise TrackerError(
            f"the preview {preview['id']} of this publish is still being processed by Kitsu (last touched or sent "
            f"{since:.0f} s ago; with no movie after {grace:.0f} s its upload is taken as cut and sent again); "
            "will look again"
        )


def _touched(preview: Entity) -> datetime:
    return parse_time(preview.get("updated_at") or preview["created_at"])


def _upload_preview(
    conn: Connection, task_id: str, comment: Entity, lacking: Entity | None, movie: Path
) -> Published:
    """The movie uploaded into `lacking` (a preview whose upload stopped or was cut), else into a new preview of
    the comment."""
    what = f"the upload of {movie.name}"
    with conn.timeout_at_least(UPLOAD_TIMEOUT):
        if lacking is not None:
            preview, created = conn.call(
                what, functools.partial(_upload_again, str(lacking["id"]), movie), idempotent=False
            )
        else:
            created = True
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
    return Published(str(preview["id"]), created=created)


def _upload_again(preview_id: str, movie: Path, client: KitsuClient) -> tuple[Entity, bool]:
    """The movie into the preview, and whether it was taken. zou refuses (400) to upload into a preview it has
    named: the earlier upload, still at work when this one was decided, got there first, and is the publish. It
    also refuses (400) a transfer it found empty or corrupt, and deletes the preview first: transient then, as the
    next try finds the comment without it and makes a new one."""
    try:
        return gazu.task.upload_preview_file(preview_id, str(movie), client=client), True
    except ParameterException as refused:
        try:
            preview = _get_preview(preview_id, client)
        except RouteNotFoundException:
            raise TrackerError(
                f"Kitsu refused the upload of {movie.name} and dropped its preview {preview_id} ({refused}); "
                "a new one is made on the next try"
            ) from refused
        if unnamed(preview):
            raise
        return preview, False


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
    """Of these tasks (each with a request Rushes has not started on), those that no longer ask for their fix:
    deleted, on a shot cancelled since (out of the cut), moved out of Rushes' statuses (see _moved_on), or moved
    to one of Rushes' own review statuses by a person (the newest comment not Rushes'; wfa set by hand used to
    count as still asking). A read per task, as Kitsu's API reads a task by its id, and one more for its
    comments where it is in a review status."""
    return {str(t) for t in sorted({str(t) for t in task_ids}) if not _asks(conn, statuses, str(t))}


def _asks(conn: Connection, statuses: Statuses, task_id: str) -> bool:
    """Whether the task (read now) still asks for its waiting request's fix (see withdrawn)."""
    task = conn.get_or_none(f"task {task_id}", functools.partial(_get_task, task_id))
    if task is None or _moved_on(statuses, task) or (task.get("entity") or {}).get("canceled"):
        return False
    return task.get("task_status_id") == statuses.of("fix_status")["id"] or _moved_by_rushes(conn, task_id)


def _moved_by_rushes(conn: Connection, task_id: str) -> bool:
    """Whether the comment that gave the task its present status is Rushes' own (a publish or a note): the
    oldest of the newest comments in that status (a chat after it keeps the status it was given)."""
    setter: Entity | None = None
    for comment in events.comments(conn, task_id):  # newest first
        if setter is not None and comment.get("task_status_id") != setter.get("task_status_id"):
            break
        setter = comment
    return setter is not None and by_rushes(setter.get("text"))


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
    """One comment on the request's task saying why it was not done, moving the task to `failed_status` from the
    fix status, or from the review status this request's own publish comment gave it (the newest comment: a
    Version whose movie zou then refused, which left the task waiting for approval of no movie); a task moved on
    since keeps its status, as does one a newer request waits on (`keep_status`). Not posted again when a comment with the same text is on the task (an earlier attempt got through
    and only its answer was lost)."""
    target = task_for(conn, statuses, answer.shot_id, answer.task_id)
    text = note_text(answer.subject, answer.body)
    said = events.comments(conn, target)  # newest first
    if any(str(c.get("text") or "") == text for c in said):
        return
    task = conn.call(f"task {target}", lambda c: gazu.task.get_task(target, client=c))
    status_id = task["task_status_id"]
    ours = status_id == statuses.of("version_status")["id"] and _set_by_own_publish(said, answer.own_versions)
    if not answer.keep_status and (status_id == statuses.of("fix_status")["id"] or ours):
        try:
            status_id = statuses.of("failed_status")["id"]
        except TrackerFatal as exc:  # the comment is the answer; the task stays where it is
            LOG.warning("the task stays in the fix status", task_id=target, error=str(exc))
    conn.call(
        f"a note on task {target}",
        lambda c: gazu.task.add_comment(target, status_id, text, client=c),
        idempotent=False,
    )


def _set_by_own_publish(comments: list[Entity], own: tuple[str, ...]) -> bool:
    """Whether, among the newest comments (newest first) Rushes wrote itself, before any a person wrote, one is
    the publish of a Version in `own`: the task's status is then that publish's, not anyone's decision."""
    for comment in comments:
        text = str(comment.get("text") or "")
        key = key_of(text)
        if key is not None:
            return key in own  # the newest publish: this request's, or another's whose Version waits
        if NOTE_TAG not in text:
            return False  # a person's comment: the status since is theirs
    return False


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
