"""The feedback stage: supervisors' review decisions on published Versions, read back from the tracker.

An approval marks the publication approved (approved before/after pairs are what a later training run may
learn from; the request is approved when all its kinds are); a rejection reopens the request with the
supervisor's note, and nothing re-runs until a coordinator asks again. An approval taken back, or its Version
deleted in the tracker, makes it pending again, out of the approved pairs. Like the requests stage, a batch's
decisions and its event cursor are stored in one catalog transaction.
"""

from __future__ import annotations

from daemon.catalog import Catalog, cursors, fixes
from daemon.logs import get_logger
from daemon.stages.requests import PollResult
from integrations.trackers.base import Tracker

log = get_logger("rushes.tracking")


def poll_reviews(tracker: Tracker, catalog: Catalog, limit: int = 100) -> PollResult:
    """Supervisor decisions: approvals become example pairs; a rejection reopens the request with the note."""
    name = f"{tracker.name}:review"
    with catalog.session() as s:
        cursor = cursors.get_cursor(s, name)
    batch = tracker.review_statuses_since(cursor, limit)
    new = 0
    with catalog.session() as s:
        for review in batch.items:
            pub = fixes.publication_for_version(s, review.version_id)
            if pub is None and review.idempotency_key:
                pub = fixes.get_publication_by_key(s, review.idempotency_key)
            if pub is None or pub.review_status == review.status:
                continue
            if review.status == "pending" and pub.review_status != "approved":
                continue  # only an approval is taken back (a rejection reopened its request already)
            fixes.set_review(s, pub.id, review.status, review.note)
            new += 1
            request = pub.fix_request
            if review.status == "pending" and request.state == "approved":
                fixes.set_fix_state(s, request.id, "published")  # no longer all approved
            elif review.status == "rejected":
                # Reopened with the supervisor's note; nothing re-runs until a coordinator asks again.
                fixes.set_fix_state(
                    s, request.id, "open", rejection_note=review.note or "rejected without a note"
                )
            elif all(p.review_status == "approved" for p in request.publications):
                fixes.set_fix_state(s, request.id, "approved")
            log.info("review.recorded", shot=request.shot, kind=pub.fix_kind, status=review.status)
        if batch.cursor is not None and batch.cursor != cursor:
            cursors.set_cursor(s, name, batch.cursor)
    return PollResult(len(batch.items), new)
