"""Review decisions from Kitsu: a comment that puts the task in the approved status, or in the rejected
status or any status marked "retake", is the verdict on the newest Rushes preview posted on that task
before it (a comment carrying the `rushes-key:` line and a preview). The verdict comment's text is the
note. A verdict on work Rushes did not publish is ignored.
"""

from __future__ import annotations

from datetime import UTC, datetime

from integrations.trackers.base import ReviewStatus
from integrations.trackers.kitsu import events
from integrations.trackers.kitsu.connection import Connection, Entity
from integrations.trackers.kitsu.cursor import parse_time
from integrations.trackers.kitsu.markers import key_of
from integrations.trackers.kitsu.statuses import Statuses


class ReviewReader:
    def __init__(self, conn: Connection, statuses: Statuses) -> None:
        self.conn = conn
        self.statuses = statuses

    def from_event(self, approved: Entity, rejected: Entity, event: Entity) -> ReviewStatus | None:
        data = event.get("data") or {}
        status = self.statuses.by_id(data.get("task_status_id")) or {}
        if status.get("id") == approved["id"]:
            verdict = "approved"
        elif status.get("id") == rejected["id"] or status.get("is_retake"):
            verdict = "rejected"
        else:
            return None
        at = parse_time(event["created_at"])
        return self.review(str(data.get("task_id") or ""), str(data.get("comment_id") or ""), verdict, at)

    def review(self, task_id: str, comment_id: str, verdict: str, at: datetime) -> ReviewStatus | None:
        """The verdict on the newest Rushes preview posted on the task before the verdict's comment."""
        comments = events.comments(self.conn, task_id)
        verdict_comment = next((c for c in comments if str(c["id"]) == comment_id), None)
        if verdict_comment is None:
            return None  # deleted since
        for comment in comments[comments.index(verdict_comment) + 1 :]:
            key = key_of(comment.get("text"))
            previews = comment.get("previews") or []
            if key and previews:
                return ReviewStatus(
                    version_id=str(previews[-1]["id"]),
                    status="approved" if verdict == "approved" else "rejected",
                    note=str(verdict_comment.get("text") or "").strip() or None,
                    idempotency_key=key,
                    at=at.replace(tzinfo=UTC),
                )
        return None  # a verdict on work Rushes did not publish
