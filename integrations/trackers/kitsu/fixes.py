"""Fix requests from Kitsu: a comment that puts a shot's task in the fix status (`tracker.fix_status`),
its text naming the fixes (`#rushes interpolate frames=1012-1016`, or bare clauses; see
integrations.trackers.notes). Keys are `kitsu:comment:<comment id>`.

A comment naming no fix, or text that cannot be read, is a request with its `problems` (the daemon answers
it on the task instead of guessing), as is one on a task that is not a shot's (an asset's: Rushes fixes shots).
Not a request: a comment written by Rushes itself (a note or a publish), or a task that has left the fix status
since (the coordinator withdrew the request).

zou writes the comment and its `comment:new` event before it moves the task to the comment's status, so
a poll can read the event while the task still has its old status. `status_arrival` tells that apart
from a withdrawn request by the task's newest comment date: older than this comment means the move is
still to come, and the poll waits for it (`events.NotYet`) for up to PENDING_GRACE after the event, by
the reader's clock set to zou's (the Date of its answer: zou on a machine whose clock is a minute or two behind
this host's dropped requests read a second after they were made); a request whose status never reaches its task
in that time is dropped with a warning.

On a first start (`backfill`) each task already in the fix status gives its newest fix comment once;
the comment ids go into the new cursor's `seen` so the event poll does not return them again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Literal

import gazu
import structlog

from integrations.trackers import notes
from integrations.trackers.base import FixRequest, project_names
from integrations.trackers.kitsu import events
from integrations.trackers.kitsu.connection import Connection, Entity
from integrations.trackers.kitsu.cursor import Cursor, parse_time
from integrations.trackers.kitsu.markers import NOTE_TAG, key_of
from integrations.trackers.shotnames import ShotPlace, shot_names

LOG = structlog.get_logger(__name__)
PENDING_GRACE = timedelta(seconds=60)  # how long a fix comment's status may take to reach its task


def utc_now() -> datetime:
    """Now as a naive UTC datetime, the way zou stamps its events."""
    return datetime.now(UTC).replace(tzinfo=None)


def status_arrival(task: Entity, comment: Entity) -> Literal["there", "pending", "left"]:
    """Whether the task has the comment's status ("there"), has not been moved to it yet ("pending": its
    newest comment is older than this one), or has moved on since ("left": a later comment changed it)."""
    if task.get("task_status_id") == comment.get("task_status_id"):
        return "there"
    last, created = task.get("last_comment_date"), comment.get("created_at")
    if created is None:
        return "left"
    if last is None or _instant(last) < _instant(created):
        return "pending"
    return "left"


def _instant(value: object) -> datetime:
    """A zou timestamp to the microsecond (naive UTC); the cursor's parse_time keeps only seconds."""
    return datetime.fromisoformat(str(value)).replace(tzinfo=None)


class FixReader:
    def __init__(
        self, conn: Connection, kinds: Sequence[str], clock: Callable[[], datetime] = utc_now
    ) -> None:
        self.conn = conn
        self.kinds = tuple(kinds)
        self.clock = clock  # naive UTC, compared with zou's event times (PENDING_GRACE)

    def from_event(self, fix: Entity, event: Entity) -> FixRequest | None:
        data = event.get("data") or {}
        if data.get("task_status_id") != fix["id"] or not data.get("comment_id"):
            return None
        return self.request(str(data["comment_id"]), parse_time(event["created_at"]))

    def backfill(self, fix: Entity, limit: int, cursor: Cursor) -> list[FixRequest]:
        """Tasks already waiting in the fix status: the newest fix comment of each that says which fixes."""
        tasks = self.conn.call(
            "tasks in the fix status",
            lambda c: gazu.client.get("data/tasks", params={"task_status_id": fix["id"]}, client=c),
        )
        found: list[FixRequest] = []
        for task in tasks[:limit]:
            for comment in events.comments(self.conn, str(task["id"])):
                if comment.get("task_status_id") != fix["id"]:
                    break  # older comments belong to an earlier status
                try:
                    request = self.request(str(comment["id"]), parse_time(comment["created_at"]), comment)
                except events.NotYet:
                    break  # the task changed between the two reads; the event poll reads what changed it
                if request is not None:
                    found.append(request)
                    cursor.seen[str(comment["id"])] = cursor.after or self.clock()
                    break
        return found

    def request(self, comment_id: str, at: datetime, comment: Entity | None = None) -> FixRequest | None:
        """The request a fix-status comment makes, or None when it is not one (see the module docstring)."""
        if comment is None:
            comment = self.conn.get_or_none(
                f"comment {comment_id}", lambda c: gazu.task.get_comment(comment_id, client=c)
            )
        if comment is None:
            return None  # deleted since
        text = str(comment.get("text") or "")
        if NOTE_TAG in text or key_of(text):
            return None  # written by Rushes itself
        task_id = str(comment.get("object_id") or "")
        spec = notes.parse_comment(text, self.kinds)
        if spec.empty and not spec.problems:
            LOG.warning(
                "fix status set without fixes named in the comment", task_id=task_id, comment_id=comment_id
            )
            spec = notes.FixSpec(problems=(self._nothing_named(),))
        for problem in spec.problems:
            LOG.warning("fix request text problem", task_id=task_id, problem=problem)
        task = self._waiting_task(task_id, comment, at)
        if task is None:
            return None
        shot, project = task.get("entity") or {}, task.get("project") or {}
        on = str((task.get("entity_type") or {}).get("name") or "")
        if on != "Shot":  # Rushes' own fix status on an asset's task: answered there, not dropped
            spec = notes.FixSpec(problems=(not_on_a_shot(on, str(shot.get("name") or "")),))
        elif shot.get("canceled"):  # removed from the cut in Kitsu: no render for it
            spec = notes.FixSpec(problems=(canceled(str(shot.get("name") or "")),))
        names = project_names(project.get("code"), project.get("name"))
        project_id = str(task.get("project_id") or project.get("id") or "")
        called = shot_names(shot_place(task), self._others(shot, project_id) if on == "Shot" else [])
        return FixRequest(
            key=f"kitsu:comment:{comment_id}",
            project=names[0] if names else "",
            shot_id=str(shot["id"]),
            shot_code=str(shot.get("name") or ""),
            task_id=task_id,
            kinds=spec.kinds,
            params=dict(spec.params),
            problems=spec.problems,
            note=text,
            requested_at=at.replace(tzinfo=UTC),
            qualified_codes=called.unique,
            shared_codes=called.shared,
            project_names=names,
        )

    def _others(self, shot: Entity, project_id: str) -> list[ShotPlace]:
        """The other shots of the project with this shot's name (SH010 in each sequence, as Kitsu's are named;
        SQ010's SH010 in each episode of a series), with their sequences and episodes: dailies named by a name
        they share may be either's."""
        name, kind = shot.get("name"), shot.get("entity_type_id")
        if not name or not kind or not project_id:
            return []
        params = {"project_id": project_id, "entity_type_id": kind, "name": name}
        same = self.conn.call(
            f"shots named {name}", lambda c: gazu.client.fetch_all("entities", params, client=c)
        )
        parents: dict[str, Entity | None] = {}
        places = []
        for other in same or []:
            if str(other.get("id")) == str(shot.get("id")) or other.get("canceled"):
                continue  # a shot cancelled (out of the cut) has no dailies to share
            sequence = self._parent(other, parents)
            episode = self._parent(sequence, parents) if sequence else None
            places.append(
                ShotPlace(
                    str(name), str((sequence or {}).get("name") or ""), str((episode or {}).get("name") or "")
                )
            )
        return places

    def _parent(self, entity: Entity, read: dict[str, Entity | None]) -> Entity | None:
        """An entity's parent (a shot's sequence, a sequence's episode), each read once per request."""
        parent_id = str(entity.get("parent_id") or "")
        if not parent_id:
            return None
        if parent_id not in read:
            read[parent_id] = self.conn.get_or_none(
                f"entity {parent_id}", lambda c: gazu.client.fetch_one("entities", parent_id, client=c)
            )
        return read[parent_id]

    def _nothing_named(self) -> str:
        return (
            "the comment that set the fix status names no fix: write one of "
            f"{', '.join(self.kinds)} in it (e.g. '{notes.NOTE_TAG} denoise')"
        )

    def _waiting_task(self, task_id: str, comment: Entity, at: datetime) -> Entity | None:
        """The comment's task while it is in the comment's status; NotYet while zou has still to move the task
        to that status (see the module docstring)."""
        task = self.conn.get_or_none(f"task {task_id}", lambda c: gazu.task.get_task(task_id, client=c))
        if task is None:
            return None
        arrival = status_arrival(task, comment)
        if arrival == "pending":
            zou_now = self.conn.server_time()  # the Date of zou's answer to that read: zou stamped `at`
            behind = (
                utc_now() - zou_now if zou_now is not None else timedelta(0)
            )  # how far zou's clock is behind
            if self.clock() - behind - at < PENDING_GRACE:
                raise events.NotYet(
                    f"task {task_id} has yet to take the status of comment {comment.get('id')}"
                )
            LOG.warning(
                "the fix status never reached the task; the request is dropped",
                task_id=task_id,
                comment_id=comment.get("id"),
            )
            return None
        if arrival == "left" and self._only_rushes_since(task_id, comment):
            return task  # Rushes' own publish (of an earlier request) moved it on since: the fix still stands
        if arrival == "left":
            LOG.info("task left the fix status before the request was read", task_id=task_id)
            return None  # withdrawn: the coordinator moved the task on
        return task

    def _only_rushes_since(self, task_id: str, comment: Entity) -> bool:
        """Whether every comment on the task after `comment` that changed its status is a Version Rushes
        published (its key line): an earlier request's Version, published before this one was read, moved the
        task on, not the coordinator (the request used to be dropped as taken back, and the fix asked again never
        made). An answer of Rushes' that moved it to `failed_status` does not count: that status is no request's."""
        later: list[Entity] = []
        for other in events.comments(self.conn, task_id):  # newest first
            if str(other.get("id")) == str(comment.get("id")):
                break
            later.append(other)
        else:
            return False  # the comment is gone: nothing to stand on
        status, changed_by_rushes = comment.get("task_status_id"), False
        for other in reversed(later):  # oldest first
            if other.get("task_status_id") != status:
                if key_of(other.get("text")) is None:
                    return False
                status, changed_by_rushes = other.get("task_status_id"), True
        return changed_by_rushes


def not_on_a_shot(entity_type: str, name: str) -> str:
    """The answer to a fix asked on a task that is not a shot's (an asset's, an edit's)."""
    on = f"the {entity_type.lower() or 'entity'} {name}".rstrip()
    return f"this task is on {on}, not on a shot: Rushes fixes shots' dailies, so ask on the task of the shot"


def canceled(name: str) -> str:
    """The answer to a fix asked on a task of a shot cancelled in Kitsu (out of the cut)."""
    return (
        f"the shot {name} is cancelled in Kitsu, so Rushes does not fix it: if it is back in the cut, restore it, "
        "then ask again"
    )


def shot_place(task: Entity) -> ShotPlace:
    """Where a shot task's shot sits: its sequence and its episode (zou's full task carries both). Kitsu shot
    names repeat from one sequence to the next, and files are named by all three."""
    shot = str((task.get("entity") or {}).get("name") or "")
    sequence = str((task.get("sequence") or {}).get("name") or "")
    return ShotPlace(shot, sequence, str((task.get("episode") or {}).get("name") or ""))
