"""Review decisions from Kitsu: a comment that puts the task in the approved status, or in the rejected
status or any status marked "retake", is the verdict on the newest Rushes preview posted on that task
before it (a comment carrying the `rushes-key:` line and a preview), the one Kitsu shows as the task's
latest revision. Where one task holds several Rushes previews (a request of two fixes, or a second
request), a verdict whose text names a preview's code (the first line of its comment, e.g.
`SQ01_SH010_rushes_regrade_r3`) is on that preview instead. The verdict comment's text is the note. A
verdict on work Rushes did not publish is ignored: a task whose newest revision before the verdict is an artist's
own, or a comment Rushes wrote itself (a publish, an answer or a notice keeps the task's status, approved as it may
be, and names a preview's code).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from integrations.trackers.base import ReviewStatus
from integrations.trackers.kitsu import events
from integrations.trackers.kitsu.connection import Connection, Entity
from integrations.trackers.kitsu.cursor import parse_time
from integrations.trackers.kitsu.markers import NOTE_TAG, code_of, key_of
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
        text = str(verdict_comment.get("text") or "")
        if key_of(text) or NOTE_TAG in text:
            return None  # Rushes' own publish, answer or notice, which keeps the task's status: no verdict
        revisions = [c for c in comments[comments.index(verdict_comment) + 1 :] if c.get("previews")]
        published = [c for c in revisions if key_of(c.get("text"))]
        named = [c for c in published if _names(text, code_of(c.get("text")))]
        # the preview the verdict names, else the newest revision before it if Rushes posted it
        chosen = named[0] if named else (revisions[0] if revisions and revisions[0] in published else None)
        if chosen is None:
            return None  # a verdict on work Rushes did not publish (an artist's newer revision, or none)
        return ReviewStatus(
            version_id=str(chosen["previews"][-1]["id"]),
            status="approved" if verdict == "approved" else "rejected",
            note=text.strip() or None,
            idempotency_key=str(key_of(chosen.get("text"))),
            at=at.replace(tzinfo=UTC),
        )


def _names(text: str, code: str | None) -> bool:
    """Whether `text` names `code` as a word of its own (`..._r1` is not named by `..._r12`)."""
    return code is not None and re.search(rf"(?<![\w-]){re.escape(code)}(?![\w-])", text) is not None
