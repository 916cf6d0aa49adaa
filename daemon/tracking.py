"""Reading the tracker: fix requests in, review decisions back.

Each poll stores what a batch caused (fix requests and their fix jobs, or review statuses) and the batch's
cursor in ONE catalog transaction, so a crash between the two neither loses nor repeats an event.
"""

from __future__ import annotations

from dataclasses import dataclass

from daemon.catalog import Catalog, cursors, fixes
from daemon.catalog import jobs as job_repo
from daemon.logs import get_logger
from daemon.settings import ShowConfig
from daemon.trackers import FIX_KINDS
from integrations.trackers.base import FixRequest, Tracker

log = get_logger("rushes.tracking")


def fix_job_key(request_key: str, kind: str, round_: int = 0) -> str:
    return f"fix:{request_key}:{kind}" + (f":r{round_}" if round_ else "")


def show_for(project: str, shows: list[ShowConfig]) -> ShowConfig | None:
    for show in shows:
        if project in (show.tracker_project, show.code):
            return show
    return None


@dataclass
class PollResult:
    seen: int
    new: int


def poll_fix_requests(
    tracker: Tracker, catalog: Catalog, shows: list[ShowConfig], limit: int = 100
) -> PollResult:
    name = f"{tracker.name}:fix"
    with catalog.session() as s:
        cursor = cursors.get_cursor(s, name)
    batch = tracker.fix_requests_since(cursor, limit)
    new = 0
    with catalog.session() as s:
        for req in batch.items:
            new += record_fix_request(s, req, shows)
        if batch.cursor is not None and batch.cursor != cursor:
            cursors.set_cursor(s, name, batch.cursor)
    return PollResult(len(batch.items), new)


def record_fix_request(s: object, req: FixRequest, shows: list[ShowConfig]) -> int:
    """Catalog one request and queue a fix job per kind (same transaction as the caller's cursor)."""
    from sqlalchemy.orm import Session

    assert isinstance(s, Session)
    show = show_for(req.project, shows)
    if show is None:
        log.warning("fix.unknown_project", project=req.project, shot=req.shot_code, key=req.key)
        return 0
    kinds = [k for k in req.kinds if k in FIX_KINDS]
    unknown = sorted(set(req.kinds) - set(FIX_KINDS))
    row, created = fixes.add_fix_request(
        s,
        show.code,
        req.key,
        req.shot_code,
        kinds,
        req.params,
        task_id=req.task_id,
        shot_id=req.shot_id,
        note=req.note,
    )
    if not created:
        return 0
    if unknown or not kinds:
        reason = f"unknown fix kind(s) {', '.join(unknown) or '(none given)'}; use {', '.join(FIX_KINDS)}"
        fixes.set_fix_state(s, row.id, "failed", error=reason)
        log.warning("fix.rejected", show=show.code, shot=req.shot_code, reason=reason)
        if not kinds:
            return 1
    for kind in kinds:
        job_repo.enqueue(
            s, "fix", fix_job_key(req.key, kind), {"request_id": row.id, "kind": kind}, show=show.code
        )
    log.info("fix.requested", show=show.code, shot=req.shot_code, kinds=kinds, params=req.params)
    return 1


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
            if pub is None or review.status == "pending" or pub.review_status == review.status:
                continue
            fixes.set_review(s, pub.id, review.status, review.note)
            new += 1
            request = pub.fix_request
            if review.status == "rejected":
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
