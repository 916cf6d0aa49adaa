"""Fix requests from Kitsu: a comment that puts a shot's task in the fix status (`tracker.fix_status`),
its text naming the fixes (`#rushes interpolate frames=1012-1016`, or bare clauses; see
integrations.trackers.notes). Keys are `kitsu:comment:<comment id>`.

Not a request: a comment naming no fix, a comment written by Rushes itself (a note or a publish), a task
not on a shot, or a task that has left the fix status since (the coordinator withdrew the request).
On a first start (`backfill`) each task already in the fix status gives its newest fix comment once;
the comment ids go into the new cursor's `seen` so the event poll does not return them again.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import gazu
import structlog

from integrations.trackers import notes
from integrations.trackers.base import FixRequest
from integrations.trackers.kitsu import events
from integrations.trackers.kitsu.connection import Connection, Entity
from integrations.trackers.kitsu.cursor import Cursor, parse_time
from integrations.trackers.kitsu.markers import NOTE_TAG, key_of

LOG = structlog.get_logger(__name__)


class FixReader:
    def __init__(self, conn: Connection, kinds: Sequence[str]) -> None:
        self.conn = conn
        self.kinds = tuple(kinds)

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
                request = self.request(str(comment["id"]), parse_time(comment["created_at"]), comment)
                if request is not None:
                    found.append(request)
                    cursor.seen[str(comment["id"])] = cursor.after or datetime.now(UTC).replace(tzinfo=None)
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
        spec = notes.parse_note(text, self.kinds)
        if spec.empty:
            spec = notes.parse_fix_text(text, self.kinds)
        if spec.empty:
            LOG.warning(
                "fix status set without fixes named in the comment", task_id=task_id, comment_id=comment_id
            )
            return None
        for problem in spec.problems:
            LOG.warning("fix request text problem", task_id=task_id, problem=problem)
        task = self._waiting_shot_task(task_id, comment)
        if task is None:
            return None
        shot, project = task.get("entity") or {}, task.get("project") or {}
        return FixRequest(
            key=f"kitsu:comment:{comment_id}",
            project=str(project.get("code") or project.get("name") or ""),
            shot_id=str(shot["id"]),
            shot_code=str(shot.get("name") or ""),
            task_id=task_id,
            kinds=spec.kinds,
            params=dict(spec.params),
            note=text,
            requested_at=at.replace(tzinfo=UTC),
        )

    def _waiting_shot_task(self, task_id: str, comment: Entity) -> Entity | None:
        """The comment's task while it is still in the comment's status and on a shot."""
        task = self.conn.get_or_none(f"task {task_id}", lambda c: gazu.task.get_task(task_id, client=c))
        if task is None:
            return None
        if task.get("task_status_id") != comment.get("task_status_id"):
            LOG.info("task left the fix status before the request was read", task_id=task_id)
            return None  # withdrawn: the coordinator moved the task on
        if (task.get("entity_type") or {}).get("name") != "Shot":
            LOG.warning("fix requested on a task not linked to a shot", task_id=task_id)
            return None
        return task
