"""The notice stage: a plate delivered again under a fixed daily's name is told to the Version's reviewers.

A lab delivers a plate again over the same file (a new scan, a conform change). A fix made of the old pictures
and still waiting for review no longer shows what the plate is: a supervisor approving it approves a fix of
pictures that are gone, and the task says nothing. So a durable `notice` job (NoticeJob) is queued for each such
publication (daemon.stages.replaced_plates: when ingest records the new content, or when a fix still in the outbox
then is published). The job, in the publish lane that holds the tracker, posts one note on the request's task
naming the Version and what to do; the task keeps its status (the coordinator decides whether to ask again).
"""

from __future__ import annotations

from typing import Any

from daemon.catalog import Catalog, fixes
from daemon.catalog.models import Publication
from daemon.jobs.outcomes import Permanent, tracker_refusal
from daemon.jobs.payloads import NoticeJob
from daemon.logs import get_logger
from daemon.settings import Settings
from daemon.stages.publishing import VersionFiles, tracker_id, version_code
from integrations.trackers.base import Notice, Tracker, TrackerFatal

log = get_logger("rushes.tracking")

SUBJECT = "Rushes: the plate of this fix was delivered again"


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
        if publication.state != "published":  # queued only once published (daemon.stages.replaced_plates)
            raise Permanent(f"publication {job.publication_id} is not published: no Version to tell about")
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
        raise tracker_refusal(exc) from exc
    log.info("fix.plate_change_told", publication=job.publication_id, task=notice.task_id)
    return {"noticed": True, "task_id": str(notice.task_id) if notice.task_id is not None else None}
