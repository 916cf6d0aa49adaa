"""The durable job queue: at-least-once work that survives restarts and is shared by several workers.

A job is enqueued once per idempotency key. A worker claims the oldest runnable job under a lease it
renews with heartbeats; a job whose lease expires (the worker died or hung) is claimed again by another
worker. A failure requeues the job after a backoff until `max_attempts`, then dead-letters it with its
error; `retry` puts a dead job back in the queue.

Every time the queue compares or writes (leases, heartbeats, back-offs, due times) is read from the catalog's
clock (`catalog_now`: PostgreSQL's, for daemons on several hosts), never from a daemon's own, so a host whose
clock is off by minutes neither takes over a job another still runs nor holds one too long.

Two workers never hold the same job: on PostgreSQL the candidate row is picked with
`SELECT ... FOR UPDATE SKIP LOCKED`; on SQLite every write transaction is `BEGIN IMMEDIATE`. On both, the
claim itself is a conditional UPDATE that re-checks state and lease and must change exactly one row.
Worker names must be unique per running worker (e.g. "host:pid:slot"): a lease belongs to a name.

Rows are kept for good, each job's key with them, so no work is ever done twice. `prune_ended` empties the payload
and result of done jobs that ended long ago (`rushes prune --yes`): the row stays as a tombstone of its key,
kind, show, state, attempts, error and timestamps, and `pruned_at` says when. Queued, running and dead jobs
(a dead one keeps its payload for `retry`) are never touched, and each call is one short batch.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, case, delete, func, insert, or_, select, update
from sqlalchemy.orm import Session

from daemon.catalog.db import catalog_now, insert_once
from daemon.catalog.models import JOB_STATES, Daily, Job

Backoff = Callable[[int], float]
"""Seconds to wait before the next attempt, given the number of attempts made so far."""

ERROR_LIMIT = 4000
KEY_LIMIT = 300  # the characters an idempotency key's column holds (models.Job.key)
PRIORITY = {"fix": 0, "publish": 0, "ingest": 1, "train": 2}
"""Claim order by kind (lower first); other kinds come after these, oldest first within a rank."""
_CLAIM_TRIES = 8
_IDS_AT_ONCE = 500  # ids in one IN (...) list, well under SQLite's limit on bound parameters


def exponential_backoff(attempts: int, base_s: float = 30.0, cap_s: float = 3600.0) -> float:
    """30 s, 60 s, 120 s, ... capped at an hour."""
    return float(min(cap_s, base_s * 2 ** max(0, attempts - 1)))


def stored_key(key: str) -> str:
    """A job's idempotency key as the catalog keeps it: the key, or, where it is longer than its column holds
    (an ingest job of a file at a long path: PostgreSQL refused the row, and the daily was never catalogued),
    its start and a digest of the whole, as unique and as stable."""
    if len(key) <= KEY_LIMIT:
        return key
    digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
    return f"{key[: KEY_LIMIT - len(digest) - 1]}~{digest}"


def enqueue(
    s: Session,
    kind: str,
    key: str,
    payload: dict[str, Any],
    show: str | None = None,
    max_attempts: int = 5,
    run_after: datetime | None = None,
) -> tuple[Job, bool]:
    """Queue a job once per idempotency key -> (job, created). An existing key returns its job, in any
    state, and queues nothing."""
    if max_attempts < 1:
        raise ValueError("max_attempts must be at least 1")
    existing = get_job_by_key(s, key)
    if existing is not None:
        return existing, False
    key = stored_key(key)
    now = catalog_now(s)
    job = Job(
        kind=kind,
        key=key,
        show=show,
        payload=dict(payload),
        state="queued",
        attempts=0,
        max_attempts=max_attempts,
        run_after=run_after or now,
        created_at=now,
        updated_at=now,
    )
    # another process may queue the same key a moment ago
    return insert_once(s, job, lambda: get_job_by_key(s, key))


def claim(
    s: Session,
    worker: str,
    kinds: Sequence[str] | None = None,
    lease_s: float = 300.0,
    *,
    now: datetime | None = None,
    yield_to: Sequence[str] = (),
    per_show: int | None = None,
    show_kinds: Sequence[str] | None = None,
    holding: Sequence[int] = (),
    on_dead: Callable[[Session, Job], None] | None = None,
) -> Job | None:
    """Take the most urgent runnable job of these kinds (all kinds when None) for `worker` for `lease_s`
    seconds: a queued job whose run_after has come, or a running job whose lease expired; fixes and publishes
    first (PRIORITY), then the one due longest (run_after: a job back from its backoff never starves one that
    has waited longer), then the oldest. None when there is none. Counts one attempt. A job whose lease
    expired on its last attempt is dead-lettered instead, and handed to `on_dead` in the same transaction (its
    request is answered, as for a job dead-lettered when it ends: the worker that held it died on another host).

    Placement: nothing is claimed while a job of a `yield_to` kind is runnable (training waits for fixes), and
    a show that already has `per_show` running jobs of `show_kinds` (default: `kinds`) gets no more.
    `holding`: the ids of the jobs the caller runs now, never claimed again by it, whatever their leases say (a
    wall clock stepped forward past them made a lane start its own running fix a second time)."""
    now = now or catalog_now(s)
    for dead in _bury_exhausted(s, kinds, now, holding):
        if on_dead is not None:
            on_dead(s, dead)
    if yield_to and s.scalar(select(Job.id).where(_runnable(now), *_kind_filter(yield_to)).limit(1)):
        return None
    for _ in range(_CLAIM_TRIES):
        candidate = s.scalar(
            select(Job.id)
            .where(_runnable(now), *_kind_filter(kinds), *_show_limit(per_show, show_kinds or kinds, now))
            .where(*([Job.id.not_in(list(holding))] if holding else []))
            .order_by(_priority(), Job.run_after, Job.id)
            .limit(1)
            .with_for_update(skip_locked=True)
        )
        if candidate is None:
            return None
        taken = s.execute(
            update(Job)
            .where(Job.id == candidate, _runnable(now))
            .values(
                state="running",
                attempts=Job.attempts + 1,
                lease_owner=worker,
                lease_expires=now + timedelta(seconds=lease_s),
                heartbeat_at=now,
                progress=None,
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        )
        if _rowcount(taken) == 1:
            return s.get(Job, candidate, populate_existing=True)
    return None


def waiting(s: Session, kinds: Sequence[str], *, now: datetime | None = None) -> int:
    """How many jobs of `kinds` could be claimed now (queued and due, or their lease ran out)."""
    now = now or catalog_now(s)
    return int(s.scalar(select(func.count(Job.id)).where(_runnable(now), *_kind_filter(kinds))) or 0)


def heartbeat(s: Session, job_id: int, worker: str, lease_s: float, *, now: datetime | None = None) -> bool:
    """Renew the worker's lease for another `lease_s` seconds; False when the lease was lost (the job was
    reclaimed by another worker, finished, or dead-lettered): the worker should stop and drop its result."""
    now = now or catalog_now(s)
    result = s.execute(
        update(Job)
        .where(*_held_by(job_id, worker))
        .values(lease_expires=now + timedelta(seconds=lease_s), heartbeat_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return _rowcount(result) == 1


def set_progress(s: Session, job_id: int, progress: str | None) -> bool:
    """Record how far a running job has got (one line, from the process doing it; None clears it); False when
    it is not running any more."""
    changed = s.execute(
        update(Job)
        .where(Job.id == job_id, Job.state == "running")
        .values(progress=None if progress is None else progress[:ERROR_LIMIT])
        .execution_options(synchronize_session=False)
    )
    return _rowcount(changed) == 1


def progress_of(s: Session, job_id: int) -> str | None:
    """The progress line of a running job (None when it wrote none, or is not running)."""
    return s.scalar(select(Job.progress).where(Job.id == job_id, Job.state == "running"))


def complete(s: Session, job_id: int, worker: str, result: dict[str, Any] | None = None) -> bool:
    """Mark the worker's job done with its result (an earlier attempt's error no longer shown beside it); False
    (nothing changed) when the lease was lost."""
    now = catalog_now(s)
    done = s.execute(
        update(Job)
        .where(*_held_by(job_id, worker))
        .values(
            state="done", result=result, last_error=None, lease_expires=None, finished_at=now, updated_at=now
        )
        .execution_options(synchronize_session=False)
    )
    _refresh(s, job_id)
    return _rowcount(done) == 1


def answered(s: Session, request_key: str) -> bool:
    """Whether a fix request was answered on its task (an answer job of it is done: daemon.stages.answering)."""
    query = select(Job.id).where(
        Job.kind == "answer",
        Job.state == "done",
        Job.key.startswith(f"answer:{request_key}:", autoescape=True),
    )
    return s.scalars(query.limit(1)).first() is not None


def fail(
    s: Session,
    job_id: int,
    worker: str,
    error: str,
    backoff: Backoff | float = exponential_backoff,
    *,
    retryable: bool = True,
    now: datetime | None = None,
) -> Job | None:
    """Record a failed attempt: requeue after `backoff(attempts)` seconds, or dead-letter the job (keeping the
    error) when its attempts are spent or `retryable` is False. None when the worker no longer held it."""
    now = now or catalog_now(s)
    job = s.scalars(
        select(Job)
        .where(*_held_by(job_id, worker))
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one_or_none()
    if job is None:
        return None
    job.last_error = error.strip()[:ERROR_LIMIT] or "failed"
    job.lease_expires = None
    job.updated_at = now
    if not retryable or job.attempts >= job.max_attempts:
        job.state = "dead"
        job.finished_at = now
    else:
        delay = backoff(job.attempts) if callable(backoff) else float(backoff)
        job.state = "queued"
        job.run_after = now + timedelta(seconds=delay)
    s.flush()
    return job


def release(s: Session, job_id: int, worker: str) -> bool:
    """Give a running job back to the queue without counting the attempt (a worker shutting down cleanly)."""
    now = catalog_now(s)
    result = s.execute(
        update(Job)
        .where(*_held_by(job_id, worker))
        .values(
            state="queued",
            attempts=Job.attempts - 1,
            lease_expires=None,
            run_after=now,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    _refresh(s, job_id)
    return _rowcount(result) == 1


def retry(s: Session, job_id: int) -> bool:
    """Put a dead job back in the queue with its attempts reset (its last error is kept until it runs)."""
    job = s.get(Job, job_id, with_for_update=True, populate_existing=True)
    if job is None or job.state != "dead":
        return False
    now = catalog_now(s)
    job.state = "queued"
    job.attempts = 0
    job.run_after = now
    job.lease_owner = None
    job.lease_expires = None
    job.finished_at = None
    job.updated_at = now
    s.flush()
    return True


def run_now(s: Session, job_id: int) -> datetime | None:
    """Bring a queued job waiting out its backoff forward, to be claimed now (a tracker mended before the next
    try of its publish: minutes of waiting for nothing). The time it was waiting for; None when it was not
    queued or not waiting."""
    job = s.get(Job, job_id, with_for_update=True, populate_existing=True)
    now = catalog_now(s)
    if job is None or job.state != "queued" or job.run_after is None or job.run_after <= now:
        return None
    waited_for = job.run_after
    job.run_after = now
    job.updated_at = now
    s.flush()
    return waited_for


def drop_queued(s: Session, job_ids: Sequence[int], result: dict[str, Any]) -> bool:
    """End these queued jobs without running them (their work is no longer wanted): done, with `result`. All
    or none: False, and nothing changed, when one of them is no longer queued (a worker claimed it). The rows
    are locked first (PostgreSQL; SQLite's write transaction holds the whole file), so no claim comes between."""
    wanted = set(job_ids)
    queued = s.scalars(
        select(Job.id).where(Job.id.in_(wanted), Job.state == "queued").with_for_update()
    ).all()
    if not wanted or len(queued) != len(wanted):
        return False
    now = catalog_now(s)
    s.execute(
        update(Job)
        .where(Job.id.in_(wanted))
        .values(state="done", result=result, finished_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return True


def never_used(s: Session) -> bool:
    """Whether the catalog has never had a job nor a daily: nothing has worked on it yet."""
    return s.scalar(select(Job.id).limit(1)) is None and s.scalar(select(Daily.id).limit(1)) is None


def get_job(s: Session, job_id: int) -> Job | None:
    return s.get(Job, job_id)


def _key_forms(key: str) -> tuple[str, ...]:
    """The forms a key may be stored in: stored_key's, and the whole key as a release before it kept one on
    SQLite (which holds past a column's width)."""
    return tuple(dict.fromkeys((stored_key(key), key)))


def get_job_by_key(s: Session, key: str) -> Job | None:
    return s.scalars(select(Job).where(Job.key.in_(_key_forms(key))).order_by(Job.id).limit(1)).first()


def finished_before(s: Session, before: datetime, among: Sequence[int]) -> list[int]:
    """Which of the jobs `among` ended (done or dead) before `before`, by id. Asked of the ids at hand (the
    logs on disk), not of every job ever run: a year of a facility is a million rows."""
    wanted = sorted(set(among))
    ended: list[int] = []
    for start in range(0, len(wanted), _IDS_AT_ONCE):
        chunk = wanted[start : start + _IDS_AT_ONCE]
        query = select(Job.id).where(
            Job.id.in_(chunk), Job.state.in_(("done", "dead")), Job.finished_at < before
        )
        ended += s.scalars(query.order_by(Job.id))
    return ended


PRUNE_BATCH = 2000  # jobs emptied in one transaction by `prune_ended`: a short write lock each


def prunable(s: Session, before: datetime) -> int:
    """How many done jobs ended before `before` still hold their payload (what `prune_ended` would empty). Counted
    on the partial index of unpruned jobs: the years of tombstones before cost nothing."""
    return int(s.scalar(select(func.count(Job.id)).where(*_prunable(before))) or 0)


def prune_ended(
    s: Session, before: datetime, limit: int = PRUNE_BATCH, *, now: datetime | None = None
) -> int:
    """Empty the payload and result of up to `limit` done jobs that ended before `before`, oldest first; how many.
    Each row is written again, in this transaction, as its tombstone: the same id, key, kind, show, state,
    attempts, error and timestamps, with `pruned_at`, so `enqueue` finds its key before and after. (Written anew,
    not updated: SQLite leaves a row updated smaller where it was, a page each for rows that held a large payload,
    and merges the pages a delete empties.) Call it again, each time in a transaction of its own, until it returns
    fewer than `limit`."""
    now = now or catalog_now(s)
    kept = [column for column in _TOMBSTONE]
    rows = s.execute(
        select(*kept).where(*_prunable(before)).order_by(Job.finished_at).limit(limit).with_for_update()
    ).all()
    if not rows:
        return 0
    ids = [row.id for row in rows]
    s.execute(delete(Job).where(Job.id.in_(ids)).execution_options(synchronize_session=False))
    s.execute(insert(Job), [{**row._asdict(), "payload": {}, "pruned_at": now} for row in rows])
    return len(rows)


_TOMBSTONE = (
    Job.id,
    Job.kind,
    Job.key,
    Job.show,
    Job.state,
    Job.attempts,
    Job.max_attempts,
    Job.run_after,
    Job.lease_owner,
    Job.heartbeat_at,
    Job.last_error,
    Job.finished_at,
    Job.created_at,
    Job.updated_at,
)
"""What a pruned job keeps: everything but its payload, result, progress and lease."""


def _prunable(before: datetime) -> list[ColumnElement[bool]]:
    return [Job.state == "done", Job.finished_at < before, Job.pruned_at.is_(None)]


def jobs_by_key(s: Session, keys: Sequence[str]) -> dict[str, Job]:
    """The jobs of these keys that exist, by key (as given: a long one is looked up as stored_key keeps it)."""
    given = {form: key for key in keys for form in _key_forms(key)}
    if not given:
        return {}
    return {given[job.key]: job for job in s.scalars(select(Job).where(Job.key.in_(set(given))))}


def list_jobs(
    s: Session,
    *,
    kind: str | None = None,
    state: str | None = None,
    show: str | None = None,
    limit: int | None = 100,
) -> list[Job]:
    """Jobs, newest first, filtered by kind, state and show."""
    if state is not None and state not in JOB_STATES:
        raise ValueError(f"job state must be one of {', '.join(JOB_STATES)}, not {state!r}")
    query = select(Job)
    if kind is not None:
        query = query.where(Job.kind == kind)
    if state is not None:
        query = query.where(Job.state == state)
    if show is not None:
        query = query.where(Job.show == show)
    return list(s.scalars(query.order_by(Job.id.desc()).limit(limit)))


def lease_holders(s: Session, *, now: datetime | None = None) -> list[str]:
    """Who holds the leases of the running jobs not yet run out (`host:pid:lane`, one each): daemons at work on
    the catalog. Reads only columns every schema revision has, so an older catalog can be asked before its
    upgrade."""
    now = now or catalog_now(s)
    owners = s.scalars(
        select(Job.lease_owner).where(Job.state == "running", Job.lease_expires > now).distinct()
    )
    return sorted(owner or "a worker" for owner in owners)


def counts(s: Session) -> dict[tuple[str, str], int]:
    """{(kind, state): number of jobs}, for status output and metrics."""
    rows = s.execute(select(Job.kind, Job.state, func.count()).group_by(Job.kind, Job.state))
    return {(kind, state): n for kind, state, n in rows}


def next_due(s: Session, kinds: Sequence[str] | None = None) -> datetime | None:
    """When the next job of these kinds becomes claimable (a queued run_after or a running lease's expiry);
    a worker with nothing to claim can sleep until then."""
    queued = s.scalar(select(func.min(Job.run_after)).where(Job.state == "queued", *_kind_filter(kinds)))
    leases = s.scalar(select(func.min(Job.lease_expires)).where(Job.state == "running", *_kind_filter(kinds)))
    found = [t for t in (queued, leases) if t is not None]
    return min(found) if found else None


def _runnable(now: datetime) -> ColumnElement[bool]:
    return or_(
        and_(Job.state == "queued", Job.run_after <= now),
        and_(Job.state == "running", Job.lease_expires < now),
    )


def _priority() -> ColumnElement[int]:
    return case(PRIORITY, value=Job.kind, else_=max(PRIORITY.values()) + 1)


def _show_limit(limit: int | None, kinds: Sequence[str] | None, now: datetime) -> list[ColumnElement[bool]]:
    """Shows with fewer than `limit` jobs of `kinds` running under a live lease (no limit: no filter)."""
    if limit is None:
        return []
    busy = (
        select(Job.show)
        .where(Job.state == "running", Job.lease_expires >= now, Job.show.is_not(None), *_kind_filter(kinds))
        .group_by(Job.show)
        .having(func.count() >= limit)
    )
    return [or_(Job.show.is_(None), Job.show.not_in(busy))]


def _kind_filter(kinds: Sequence[str] | None) -> list[ColumnElement[bool]]:
    return [] if kinds is None else [Job.kind.in_(list(kinds))]


def _held_by(job_id: int, worker: str) -> list[ColumnElement[bool]]:
    return [Job.id == job_id, Job.state == "running", Job.lease_owner == worker]


def _bury_exhausted(
    s: Session, kinds: Sequence[str] | None, now: datetime, holding: Sequence[int] = ()
) -> list[Job]:
    """Dead-letter running jobs whose lease expired on their last attempt (they crashed every worker); never
    one of `holding`, which the caller is running. The jobs dead-lettered here, as they now are."""
    exhausted = [
        Job.state == "running",
        Job.lease_expires < now,
        Job.attempts >= Job.max_attempts,
        *_kind_filter(kinds),
        *([Job.id.not_in(list(holding))] if holding else []),
    ]
    ids = list(s.scalars(select(Job.id).where(*exhausted).with_for_update(skip_locked=True)))
    if not ids:
        return []
    s.execute(
        update(Job)
        .where(Job.id.in_(ids), *exhausted)
        .values(
            state="dead",
            last_error="the lease of "
            + func.coalesce(Job.lease_owner, "a worker")
            + " expired on the last attempt (the worker died or hung)",
            lease_expires=None,
            finished_at=now,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    buried = (s.get(Job, job_id, populate_existing=True) for job_id in ids)
    return [job for job in buried if job is not None and job.state == "dead"]


def _rowcount(result: Any) -> int:
    return int(result.rowcount)


def _refresh(s: Session, job_id: int) -> None:
    """Bring a loaded Job object up to date after a bulk UPDATE."""
    s.get(Job, job_id, populate_existing=True)
