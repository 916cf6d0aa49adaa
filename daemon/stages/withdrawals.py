"""The withdrawals stage: a fix request its coordinator took back before Rushes started on it is not rendered.

Taking a request back is moving its task out of the fix status by hand (docs/fixes.md). Every 30 s, with the
tracker poll, Rushes asks the tracker (in one read where it can) about the tasks of the requests none of whose
fix jobs has started; for each task that no longer asks, the request's queued jobs end without running (done,
result `{"withdrawn": ...}`) and the request becomes `withdrawn`, in one transaction. A job a worker claimed
meanwhile is left to run, and with it the whole request (the jobs are dropped all or none): its Version is
published and the task keeps the coordinator's status (daemon.stages.publishing). Nothing is asked of the
tracker while no request waits. A request asked again on the same task replaces the unstarted ones before it
(`replace_unstarted`, called as the new request is recorded): within those 30 s both would have been rendered.
A fix job claimed while its request is still unstarted asks about its task once more (`withdrawn_at_claim`), so a
request taken back within those 30 s before its turn is not rendered either.
Where the tracker's requests replace each other (FixRequest.replaces_earlier: ShotGrid's fix field) it replaces
them all; on Kitsu, where a second fix comment may add to the first, only those it repeats.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from daemon.catalog import Catalog, Job, fixes, jobs
from daemon.catalog import FixRequest as FixRequestRow
from daemon.jobs.payloads import FixJob
from daemon.logs import get_logger
from daemon.stages.request_params import asked_of
from integrations.trackers.base import Tracker, TrackerError, TrackerFatal

log = get_logger("rushes.tracking")

WHY = "taken back: its task left the fix status before Rushes started on it"
CHECK_EVERY_S = 30.0  # seconds between two reads of the waiting requests' tasks


@dataclass(frozen=True)
class Unstarted:
    """A fix request none of whose fix jobs has started: its task, and its jobs (all queued)."""

    request_id: int
    task_id: str
    job_ids: tuple[int, ...]


def unstarted(s: Session, limit: int = 50, task_id: str | None = None) -> list[Unstarted]:
    """The oldest `limit` requests with a tracker task (`task_id` only, when given) whose every fix job is still
    queued."""
    requests = fixes.open_with_queued_fix(s, limit, task_id)
    of_request = _fix_jobs(s, requests)
    waiting = []
    for r in requests:
        mine = of_request[r.id]
        if all(job is not None and job.state == "queued" for job in mine):
            waiting.append(Unstarted(r.id, str(r.task_id), tuple(job.id for job in mine if job is not None)))
    return waiting


def drop_withdrawn(tracker: Tracker, catalog: Catalog, limit: int = 50) -> int:
    """End the unstarted requests (the `limit` oldest) whose tasks no longer ask for their fix; how many."""
    with catalog.session(readonly=True) as s:
        waiting = unstarted(s, limit)
    if not waiting:
        return 0
    gone = tracker.withdrawn([w.task_id for w in waiting])
    dropped = 0
    for request in waiting:
        if request.task_id not in gone:
            continue
        with catalog.session() as s:
            if not jobs.drop_queued(s, request.job_ids, {"withdrawn": WHY}):
                continue
            fixes.set_fix_state(s, request.request_id, "withdrawn", error=WHY)
        log.info(
            "fix.withdrawn", request=request.request_id, task=request.task_id, jobs=list(request.job_ids)
        )
        dropped += 1
    return dropped


def withdrawn_at_claim(tracker: Tracker, catalog: Catalog, job_id: int, request_id: int) -> bool:
    """A fix job (`job_id`) just claimed, its request not started yet (every other fix job of it still queued):
    whether its task no longer asks (one read), in which case the request ends as taken back, its other fix jobs
    dropped unrun, in one transaction; the caller ends this job with nothing made. The periodic check reads the
    waiting requests only every CHECK_EVERY_S: a request taken back in the seconds before its turn used to be
    rendered and published all the same. A tracker that does not answer (TrackerError) leaves the job to run."""
    with catalog.session(readonly=True) as s:
        request = _unstarted_but(s, request_id, job_id)
    if request is None:
        return False
    try:
        gone = tracker.withdrawn([request.task_id])
    except TrackerError as exc:
        log.info("fix.withdrawal_unchecked", request=request_id, error=str(exc))
        return False
    if request.task_id not in gone:
        return False
    with catalog.session() as s:
        if request.job_ids and not jobs.drop_queued(s, request.job_ids, {"withdrawn": WHY}):
            return False  # another of its jobs was claimed meanwhile: the request runs
        fixes.set_fix_state(s, request_id, "withdrawn", error=WHY)
    log.info("fix.withdrawn", request=request_id, task=request.task_id, jobs=[job_id, *request.job_ids])
    return True


def _unstarted_but(s: Session, request_id: int, job_id: int) -> Unstarted | None:
    """The open request with a task whose fix jobs are `job_id` and others all still queued, as Unstarted with
    those others; None otherwise."""
    request = fixes.get_fix_request(s, request_id)
    if request is None or request.state != "open" or request.task_id is None:
        return None
    mine = _fix_jobs(s, [request])[request.id]
    if any(job is None for job in mine) or job_id not in {job.id for job in mine if job is not None}:
        return None
    others = [job for job in mine if job is not None and job.id != job_id]
    if any(job.state != "queued" for job in others):
        return None
    return Unstarted(request.id, str(request.task_id), tuple(job.id for job in others))


def _fix_jobs(s: Session, requests: Sequence[FixRequestRow]) -> dict[int, list[Job | None]]:
    """Each request's fix jobs, one per kind it asks for (None where a kind has none), in one read."""
    keys = {r.id: [FixJob(r.id, kind, r.request_key).key() for kind in r.kinds] for r in requests}
    found = jobs.jobs_by_key(s, [key for ks in keys.values() for key in ks])
    return {request_id: [found.get(key) for key in ks] for request_id, ks in keys.items()}


def replace_unstarted(s: Session, newer: FixRequestRow, only_repeats: bool = False) -> list[int]:
    """A coordinator asked again on request `newer`'s task (set its fix field and status again, on ShotGrid): the
    task's requests none of whose fix jobs has started end unrun, `withdrawn` as replaced by `newer` (in the
    caller's transaction). With `only_repeats` (Kitsu, where a second fix comment may add to the first) only those
    that `newer` repeats: every kind of theirs asked again, with the same parameters. The ids replaced."""
    replaced = []
    for request in unstarted(s, task_id=str(newer.task_id)):
        if request.request_id == newer.id:
            continue
        older = fixes.get_fix_request(s, request.request_id)
        if only_repeats and (older is None or not repeated_by(older, newer)):
            continue
        if not jobs.drop_queued(s, request.job_ids, {"withdrawn": "replaced"}):
            continue
        fixes.set_fix_state(
            s, request.request_id, "withdrawn", error=f"replaced by request {newer.id}, asked since"
        )
        replaced.append(request.request_id)
    return replaced


def repeated_by(older: FixRequestRow, newer: FixRequestRow) -> bool:
    """Whether `newer` asks again for all that `older` asked: each of its kinds, with what that kind reads of
    the parameters the same (daemon.stages.request_params.asked_of)."""
    return all(
        kind in newer.kinds and asked_of(kind, older.params) == asked_of(kind, newer.params)
        for kind in older.kinds
    )


class WithdrawalCheck:
    """drop_withdrawn for the tracker poller, at most every `every_s` seconds: each check reads the tracker
    (on Kitsu, once per waiting request's task), and a request taken back need not be caught within one poll
    interval, only before its turn comes. The clock is injected."""

    def __init__(
        self,
        tracker: Tracker,
        catalog: Catalog,
        every_s: float = CHECK_EVERY_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.tracker, self.catalog, self.every_s, self.clock = tracker, catalog, every_s, clock
        self.last: float | None = None

    def __call__(self) -> int:
        now = self.clock()
        if self.last is not None and now - self.last < self.every_s:
            return 0
        self.last = now  # a check that fails (the tracker down) waits its turn too
        try:
            return drop_withdrawn(self.tracker, self.catalog)
        except TrackerFatal as exc:  # e.g. a status the site lacks: the poll's other reads must go on
            log.warning("fix.withdrawal_check_failed", error=str(exc))
            return 0


__all__ = [
    "CHECK_EVERY_S",
    "WHY",
    "Unstarted",
    "WithdrawalCheck",
    "drop_withdrawn",
    "replace_unstarted",
    "unstarted",
    "withdrawn_at_claim",
]
