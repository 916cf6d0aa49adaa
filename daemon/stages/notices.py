"""The notice stage: a plate delivered again under a fixed daily's name is told to the Version's reviewers.

A lab delivers a plate again over the same file (a new scan, a conform change). A fix made of the old pictures
and still waiting for review no longer shows what the plate is: a supervisor approving it approves a fix of
pictures that are gone, and the task says nothing. So when ingest records new content at a daily's path (in its
own transaction), `plate_delivered_again` queues a durable `notice` job (NoticeJob) for each such publication.
The job, in the publish lane that holds the tracker, posts one note on the request's task naming the Version and
what to do; the task keeps its status (the coordinator decides whether to ask for the fix again). A publication
still in the outbox is noticed once its Version exists; one whose request failed or was taken back meanwhile
needs no notice.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from daemon.catalog import Catalog, fixes
from daemon.catalog.models import Publication
from daemon.jobs.outcomes import Permanent
from daemon.jobs.payloads import TRACKER_ATTEMPTS, NoticeJob, queue
from daemon.logs import get_logger
from daemon.settings import Settings
from daemon.stages.publishing import VersionFiles, tracker_id, version_code
from integrations.trackers.base import Notice, Tracker, TrackerFatal

log = get_logger("rushes.tracking")

SUBJECT = "Rushes: the plate of this fix was delivered again"


class NotPublishedYet(Exception):
    """The publication's Version is not in the tracker yet: the notice waits for it (retried with back-off)."""


def plate_delivered_again(s: Session, show: str, path: str, old_hash: str, new_hash: str) -> int:
    """In the transaction that records content `new_hash` at `path` in place of `old_hash`: a notice for each
    publication made of the old content and not reviewed yet. How many were queued."""
    noticed = fixes.in_review_from(s, show, path, old_hash)
    for publication in noticed:
        job = NoticeJob(publication.id, old_hash, new_hash)
        queue(s, job, show=show, max_attempts=TRACKER_ATTEMPTS)  # waits out a tracker outage
    if noticed:
        log.warning("fix.plate_changed", show=show, path=path, publications=[p.id for p in noticed])
    return len(noticed)


def notice_body(publication: Publication, fix_status: str) -> str:
    """The note: which Version, made of what, what changed and what to do; the publication's key last."""
    request = publication.fix_request
    files = VersionFiles.from_json(dict(publication.extra_files or {}))
    code = files.code or version_code(request.shot, publication.fix_kind, request.id)
    return (
        f"Version {code} ({publication.fix_kind} fix) was made from {publication.source_path}, which has been "
        "delivered again with other pictures since: the Version shows a fix of the plate as it was, not as it "
        f"is now.\nTo have the fix made again from the new plate, set the task to '{fix_status}' again.\n\n"
        f"rushes publication: {publication.key}"
    )


def post_notice(
    settings: Settings, catalog: Catalog, tracker: Tracker | None, job: NoticeJob
) -> dict[str, Any]:
    """Handler of `notice` jobs."""
    if tracker is None:
        raise Permanent("no tracker is configured (tracker.kind is none): nobody to tell")
    with catalog.session(readonly=True) as s:
        publication = fixes.get_publication(s, job.publication_id)
        if publication is None:
            raise Permanent(f"publication {job.publication_id} does not exist")
        request = publication.fix_request
        if publication.state != "published":
            if request.state in ("failed", "withdrawn"):
                return {"noticed": False, "why": f"its request {request.state} before it was published"}
            raise NotPublishedYet(f"publication {publication.id} waits for its Version in the tracker")
        notice = Notice(
            key=job.key(),
            shot_id=tracker_id(request.shot_id),
            task_id=tracker_id(request.task_id) if request.task_id else None,
            subject=SUBJECT,
            body=notice_body(publication, settings.tracker.fix_status),
        )
    try:
        tracker.notify(notice)
    except TrackerFatal as exc:
        raise Permanent(str(exc)) from exc
    log.info("fix.plate_change_told", publication=job.publication_id, task=notice.task_id)
    return {"noticed": True, "task_id": str(notice.task_id) if notice.task_id is not None else None}
