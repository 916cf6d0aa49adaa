"""The answer stage: a fix request that was not done is answered on its task, for the coordinator who made it.

A request is not done when what the coordinator wrote cannot be read (an unknown kind, a word that is not
key=value, no fix named: the requests stage), or when one kind's fix job ended for good (a refusal such as a
frame outside the shot, or its attempts spent: `job_ended`, called as the job is dead-lettered), or its
publish job did (the tracker refused the Version: the note then says the fix was made and how the operator
publishes it again). Either way the request is marked failed with the one-line reason, in the same catalog
transaction that queues a durable `answer` job (AnswerJob). The job, in the publish lane that holds the
tracker, posts the reason as a note on the task and moves the task from the fix status to
`tracker.failed_status`, so the coordinator sees why and can ask again. It retries through tracker outages
as a publish does; the adapters do not post a note twice.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy.orm import Session

from daemon.catalog import Catalog, Job, fixes
from daemon.catalog.models import FixRequest as RequestRow
from daemon.jobs.outcomes import NotYet, Permanent, tracker_refusal
from daemon.jobs.payloads import TRACKER_ATTEMPTS, AnswerJob, FixJob, PublishJob, queue
from daemon.logs import get_logger
from daemon.settings import Settings
from daemon.stages.publishing import asked_elsewhere, asked_on, tracker_id
from integrations.trackers.base import RequestAnswer, Tracker, TrackerFatal

log = get_logger("rushes.tracking")

SUBJECT = "Rushes could not do this fix"
ERROR_CLASS = re.compile(r"^[A-Z][A-Za-z0-9_]*: ")  # what integrations.executors.worker puts before an error
REASON_LIMIT = 600  # characters of a reason kept and quoted (a job's error, or the problems of a long text)


def refuse(
    s: Session,
    request: RequestRow,
    reason: str,
    fix_kind: str = "",
    publish_job: int = 0,
    mended_elsewhere: bool = False,
) -> None:
    """Mark `request` failed with `reason` and queue its answer, in the caller's transaction."""
    reason = shortened(reason)  # a field of pasted prose makes a problem of every word
    fixes.set_fix_state(s, request.id, "failed", error=reason)
    job = AnswerJob(request.id, reason, request.request_key, fix_kind, publish_job, mended_elsewhere)
    queue(s, job, show=request.show.code, max_attempts=TRACKER_ATTEMPTS)  # waits out a tracker outage
    log.warning(
        "fix.refused", show=request.show.code, shot=request.shot, kind=fix_kind or None, reason=reason
    )


def job_ended(s: Session, job: Job) -> None:
    """A fix or publish job was dead-lettered (in the transaction that did it): its request fails with the
    job's error and is answered. Other jobs are no request's."""
    if job.kind == FixJob.KIND:
        fix = FixJob.from_json(job.payload)
        request = fixes.get_fix_request(s, fix.request_id)
        if request is not None:
            error = job.last_error or "the fix failed"
            # Ended before its attempts ran out, it was refused as Permanent: the request's fault (a frame outside
            # the shot, a mask that does not exist). Otherwise it spent them on a failure that may pass (a file
            # server that stayed away, a worker that died), or was refused as NotYet (the shot has no daily yet).
            not_yet = error.startswith(f"{NotYet.__name__}: ")
            refused = not not_yet and (
                job.attempts < job.max_attempts or error.startswith(f"{Permanent.__name__}: ")
            )
            refuse(s, request, plain(error), fix.fix_kind, mended_elsewhere=not refused)
    elif job.kind == PublishJob.KIND:
        published = PublishJob.from_json(job.payload)
        publication = fixes.get_publication(s, published.publication_id)
        if publication is not None:
            why = plain(job.last_error or "the tracker did not take the Version")
            refuse(s, publication.fix_request, why, publication.fix_kind, publish_job=job.id)


def shortened(reason: str) -> str:
    """One line of at most REASON_LIMIT characters."""
    reason = " ".join(reason.split())
    return reason if len(reason) <= REASON_LIMIT else reason[: REASON_LIMIT - 1] + "…"


def plain(error: str) -> str:
    """A job's error as a person reads it: without the exception's class a worker puts before it
    ("Permanent: frames 9000 ...", "TimeoutError: the file server ...")."""
    return ERROR_CLASS.sub("", error, count=1)


def answer_body(request: RequestRow, job: AnswerJob, fix_status: str) -> str:
    """The note: what was not done and why, what to do, and the request's key (for the operator)."""
    shot = request.shot or "this task's shot"  # a shot with no code in the tracker
    what = f"the {job.fix_kind} fix of {shot}" if job.fix_kind else f"the fix request on {shot}"
    reason = shortened(job.reason).rstrip(".")
    if job.publish_job:  # made, and only the tracker refused it: nothing to correct in the request
        told = (
            f"Rushes made {what} but could not publish it: {reason}.\n"
            "Its files are kept: once the cause is mended, your pipeline's operator can publish it with "
            f"`rushes jobs retry {job.publish_job}`."
        )
    elif job.mended_elsewhere:  # nothing in the request to correct
        told = (
            f"Rushes did not do {what}: {reason}.\nNothing in the request needs correcting: once that is mended, "
            f"{_ask_again(request, fix_status)}."
        )
    else:
        told = f"Rushes did not do {what}: {reason}.\nCorrect the request, then {_ask_again(request, fix_status)}."
    return f"{told}\n\nrushes request: {request.request_key}"


def _ask_again(request: RequestRow, fix_status: str) -> str:
    """How the coordinator asks again on the request's tracker: on Kitsu the comment that sets the fix status is
    the one read (an edited comment, or the empty one Kitsu's status menu posts, is not), where "set the task to
    'fix' again" led to a second refusal."""
    if asked_on(request.request_key) == "kitsu":
        return f"post it again as a new comment that sets the task to '{fix_status}'"
    return f"set the task to '{fix_status}' again"


def answer(settings: Settings, catalog: Catalog, tracker: Tracker | None, job: AnswerJob) -> dict[str, Any]:
    """Handler of `answer` jobs."""
    if tracker is None:
        raise Permanent("no tracker is configured (tracker.kind is none): nobody to answer")
    with catalog.session(readonly=True) as s:
        request = fixes.get_fix_request(s, job.request_id)
        if request is None:
            raise Permanent(f"fix request {job.request_id} does not exist")
        if (elsewhere := asked_elsewhere(request.request_key, tracker)) is not None:
            raise elsewhere
        spec = RequestAnswer(
            key=job.key(),
            shot_id=tracker_id(request.shot_id),
            task_id=tracker_id(request.task_id) if request.task_id else None,
            subject=SUBJECT,
            body=answer_body(request, job, settings.tracker.fix_status),
            keep_status=fixes.other_request_waits(s, request),
            own_versions=tuple(p.key for p in request.publications),
        )
    try:
        tracker.answer_request(spec)
    except TrackerFatal as exc:
        raise tracker_refusal(exc) from exc
    log.info("fix.answered", request=job.request_id, kind=job.fix_kind or None, task=spec.task_id)
    return {"task_id": str(spec.task_id) if spec.task_id is not None else None}
