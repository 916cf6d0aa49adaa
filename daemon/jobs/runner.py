"""The job runner: durable jobs from the catalog, run in lanes, with leases, heartbeats and backoff.

A lane claims jobs of some kinds and runs up to `concurrency` at once, either in this process (quick jobs:
ingest, publish) or through an executor in worker processes (train, fix). While a job runs the lane renews
its lease; when the job ends the lane marks it done, or failed with backoff (dead-lettered when its attempts
are spent). A daemon that dies leaves leases that run out, and any daemon picks those jobs up again, so every
job's steps must be safe to repeat. On shutdown a lane releases what it holds (without counting the attempt).
Whether a failed job is tried again is the outcome's `retryable` flag (see daemon.jobs.outcomes).
`recover_orphans` fails at once the jobs a dead daemon of this host held, instead of waiting out their leases.
"""

from __future__ import annotations

import concurrent.futures
import os
import socket
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy.orm import Session

from daemon.catalog import Catalog, CatalogError, Job
from daemon.catalog import db as catalog_db
from daemon.catalog import jobs as job_repo
from daemon.jobs.outcomes import outcome_of_error
from daemon.logs import get_logger
from daemon.ops.outages import OutageLog
from integrations.executors.base import Executor, Handle
from integrations.executors.spec import JobOutcome, JobSpec, NotRetryable
from integrations.trackers.base import TrackerError

log = get_logger("rushes.runner")

Handler = Callable[[Job], dict[str, Any]]
WAITING = "waiting: "  # a job's progress line while its executor cannot run it (Lane.blocked)
STEPPED_S = 5.0
"""A wall clock that moved this much more or less than the monotonic one between two ticks was stepped (NTP
correcting a drifted clock, a VM resumed from a suspend): the lane renews every lease it holds at once, rather
than up to a quarter of a lease later, so no other daemon takes its jobs as expired meanwhile."""


class Running(Protocol):
    def poll(self) -> JobOutcome | None: ...

    def cancel(self) -> None: ...


@dataclass
class _InProcess:
    job_id: str
    future: concurrent.futures.Future[dict[str, Any]]
    started: float = field(default_factory=time.monotonic)

    def poll(self) -> JobOutcome | None:
        if not self.future.done():
            return None
        duration = time.monotonic() - self.started
        exc = self.future.exception()
        if exc is None:
            return JobOutcome(self.job_id, True, self.future.result() or {}, duration_s=duration)
        return outcome_of_error(self.job_id, exc, duration)

    def cancel(self) -> None:
        self.future.cancel()


@dataclass
class Ended:
    """A job that ended as it was started, with nothing to run (its work no longer wanted)."""

    outcome: JobOutcome

    def poll(self) -> JobOutcome | None:
        return self.outcome

    def cancel(self) -> None:
        return None


@dataclass
class _Remote:
    executor: Executor
    handle: Handle

    def poll(self) -> JobOutcome | None:
        return self.executor.poll(self.handle)

    def cancel(self) -> None:
        self.executor.cancel(self.handle)


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Lane:
    """Claims jobs of `kinds` and runs them; call `tick()` often (the daemon's loop does, on a thread)."""

    def __init__(
        self,
        catalog: Catalog,
        name: str,
        kinds: list[str],
        start: Callable[[Job], Running],
        concurrency: int = 1,
        lease_s: float = 60.0,
        backoff: Callable[[int], float] = job_repo.exponential_backoff,
        on_done: Callable[[Job, JobOutcome], None] | None = None,
        worker: str | None = None,
        placement: dict[str, Any] | None = None,
        admit: Callable[[], bool] | None = None,
        yields: Callable[[], bool] | None = None,
        on_dead: Callable[[Session, Job], None] | None = None,
        blocked: Callable[[], str | None] | None = None,
    ) -> None:
        self.catalog = catalog
        self.name = name
        self.kinds = kinds
        self.start = start
        self.concurrency = concurrency
        self.lease_s = lease_s
        self.backoff = backoff
        self.on_done = on_done
        self.worker = worker or f"{worker_name()}:{name}"
        self.running: dict[int, tuple[Running, float]] = {}
        self.placement = placement or {}  # job_repo.claim's yield_to / per_show / show_kinds
        self.admit = admit  # claim only while it says yes (training: a free executor slot)
        self.yields = yields  # give the jobs in hand back when it says yes (training: a fix waits)
        self.finished = 0  # jobs ended in this lane (the loop claims again at once when one ends)
        self.on_dead = on_dead  # called in the transaction that dead-letters a job (the request is answered)
        self.said: dict[int, str] = {}  # the progress line last logged, by running job
        self.reached: dict[int, str] = {}  # its worker's last line, by job waiting for its executor since
        self.unrecorded: dict[int, JobOutcome] = {}  # ended jobs whose outcome the catalog has not taken yet
        # why the jobs in hand cannot run now (the executor's health: Ray unreachable, no node with a CPU),
        # shown as their progress line until their worker writes its own
        self.blocked = blocked
        self._clocks = (catalog_db.utcnow().timestamp(), time.monotonic())  # the wall and monotonic clocks

    def tick(self, claim: bool = True, runnable: bool = True) -> int:
        """Collect finished jobs, renew leases and, with `claim`, start new ones (and give training's slot
        up where a fix waits: both ask the catalog); returns how many jobs are in hand. `runnable=False`: the
        caller knows no job of these kinds can be claimed now, so only the yield question is asked."""
        self._collect()
        self._renew()
        if not claim:
            return len(self.running)
        if self.running and self.yields is not None and self.yields():
            self._give_way()
        while runnable and len(self.running) < self.concurrency and (self.admit is None or self.admit()):
            with self.catalog.session() as s:
                held = list(self.running)
                job = job_repo.claim(
                    s,
                    self.worker,
                    self.kinds,
                    self.lease_s,
                    **self.placement,
                    holding=held,
                    on_dead=None if self.on_dead is None else self._buried,
                )
                if job is None:
                    break
                s.expunge(job)
            log.info("job.start", job=job.id, kind=job.kind, key=job.key, attempt=job.attempts, show=job.show)
            try:
                running = self.start(job)
            except Exception as exc:  # the job could not even start: count the attempt
                self._finish(job.id, JobOutcome.failed(str(job.id), f"could not start: {exc}"))
                continue
            self.running[job.id] = (running, time.monotonic())
        return len(self.running)

    def _buried(self, s: Session, job: Job) -> None:
        """`on_dead` of a job the claim dead-letters (its lease ran out on its last attempt)."""
        assert self.on_dead is not None
        dead_letter_said(self.on_dead, s, job)

    def _collect(self) -> None:
        """Record the outcomes of the jobs that ended: first those the catalog could not take before (away as a
        job ended: a full disk, PostgreSQL restarting), whose outcome was lost and whose row showed "running"
        with nothing running until its lease ran out; each is kept until it is written."""
        for job_id, kept in list(self.unrecorded.items()):
            self._finish(job_id, kept)  # CatalogError again while the catalog is away: kept for the next tick
        for job_id, (running, _) in list(self.running.items()):
            outcome = running.poll()
            if outcome is not None:
                del self.running[job_id]
                self._finish(job_id, outcome)

    def _renew(self) -> None:
        now = time.monotonic()
        stepped = self._clock_stepped(now)
        for job_id, (running, renewed) in list(self.running.items()):
            if now - renewed < self.lease_s / 4 and not stepped:
                continue
            with self.catalog.session() as s:
                held = job_repo.heartbeat(s, job_id, self.worker, self.lease_s)
                progress = self._progress(s, job_id) if held else None
            if held:
                self.running[job_id] = (running, now)
                if progress is not None and progress != self.said.get(job_id):
                    self.said[job_id] = progress  # what its worker wrote (daemon.jobs.progress), once
                    log.info("job.progress", job=job_id, lane=self.name, progress=progress)
            else:
                log.warning("job.lease_lost", job=job_id)
                running.cancel()
                del self.running[job_id]

    def _clock_stepped(self, now: float) -> bool:
        """Whether the wall clock was stepped since the last tick (it moved unlike the monotonic clock)."""
        wall = catalog_db.utcnow().timestamp()
        last_wall, last_now = self._clocks
        self._clocks = (wall, now)
        stepped = abs((wall - last_wall) - (now - last_now)) > STEPPED_S
        if stepped and self.running:
            log.warning("clock.stepped", lane=self.name, by_s=round((wall - last_wall) - (now - last_now)))
        return stepped

    def _progress(self, s: Session, job_id: int) -> str | None:
        """The job's progress line: its worker's own while the executor can run it; while `blocked` says it
        cannot, why (written to its row, for `rushes status`), with the last line its worker wrote, if any
        (cleared once that passes). A fix waiting for an unreachable Ray cluster used to show as plain "running",
        and one whose only node died mid-render kept "frame 1 of 48, about 31 s left" with nothing to say why."""
        progress = job_repo.progress_of(s, job_id)
        if self.blocked is None:
            return progress
        reason = self.blocked()
        if progress is not None and not progress.startswith(WAITING):
            if reason is None:
                return progress
            self.reached[job_id] = progress
        reached = self.reached.get(job_id)
        line = None if reason is None else f"{WAITING}{reason}"
        if line is not None and reached is not None:
            line += f" (its worker's last line: {reached})"
        if reason is None:
            self.reached.pop(job_id, None)
        if line != progress:
            job_repo.set_progress(s, job_id, line)
        return line

    def _finish(self, job_id: int, outcome: JobOutcome) -> None:
        """Record the job's outcome, then say it (the log, `on_done`). While the catalog cannot take it
        (CatalogError) the outcome is kept in `unrecorded` for the next tick; any other error is a bug of its own,
        said once by the lane's loop, and never retried every tick (which stopped the lane)."""
        self.unrecorded[job_id] = outcome
        try:
            job = self._record(job_id, outcome)
        except CatalogError:
            raise
        except Exception:
            del self.unrecorded[job_id]
            raise
        del self.unrecorded[job_id]
        self.finished += 1
        self.said.pop(job_id, None)
        self.reached.pop(job_id, None)
        if job is None:
            return
        if outcome.ok:
            log.info("job.done", job=job_id, kind=job.kind, seconds=round(outcome.duration_s, 2))
        else:
            log.warning("job.failed", job=job_id, kind=job.kind, state=job.state, error=outcome.error)
        if self.on_done is not None:
            self.on_done(job, outcome)

    def _record(self, job_id: int, outcome: JobOutcome) -> Job | None:
        """The job's outcome in the catalog (dead-lettered jobs handed to `on_dead` in the same transaction); the
        job as it now is, None when this worker no longer holds it."""
        with self.catalog.session() as s:
            if outcome.ok:
                job_repo.complete(s, job_id, self.worker, outcome.result)
                job = job_repo.get_job(s, job_id)
            else:
                job = job_repo.fail(
                    s, job_id, self.worker, outcome.error, self.backoff, retryable=outcome.retryable
                )
                if job is not None and job.state == "dead" and self.on_dead is not None:
                    dead_letter_said(self.on_dead, s, job)
            if job is not None:
                s.expunge(job)
        return job

    def _give_way(self) -> None:
        """Stop every job in hand (its worker checkpoints) and queue it again without counting the attempt."""
        for job_id, (running, _) in list(self.running.items()):
            running.cancel()
            del self.running[job_id]
            with self.catalog.session() as s:
                job_repo.release(s, job_id, self.worker)
            log.info("job.yielded", job=job_id, lane=self.name, reason="a fix waits and no slot is free")

    def release_all(self) -> None:
        """Give every job in hand back to the queue (clean shutdown); their workers are stopped."""
        for job_id, (running, _) in list(self.running.items()):
            running.cancel()
            try:
                with self.catalog.session() as s:
                    job_repo.release(s, job_id, self.worker)
            except CatalogError as exc:
                log.warning("job.release_failed", job=job_id, error=str(exc))
        self.running.clear()


def in_process(pool: concurrent.futures.ThreadPoolExecutor, handler: Handler) -> Callable[[Job], Running]:
    def start(job: Job) -> Running:
        def call() -> dict[str, Any]:
            try:
                return handler(job)
            except (NotRetryable, TrackerError, CatalogError):
                raise  # said in one line by job.failed: an outage (tracker, catalog) is no bug to trace
            except Exception:
                log.error("job.error", job=job.id, kind=job.kind, error=traceback.format_exc(limit=5))
                raise

        return _InProcess(str(job.id), pool.submit(call))

    return start


def in_worker(
    executor: Executor,
    entry_point: str,
    base_args: dict[str, Any],
    log_dir: str,
    needs_gpu: bool | Callable[[Job], bool] = False,
) -> Callable[[Job], Running]:
    def start(job: Job) -> Running:
        spec = JobSpec(
            id=f"{job.kind}-{job.id}-{job.attempts}",
            kind=job.kind,
            entry_point=entry_point,
            args={
                **base_args,
                "job_id": job.id,
                "payload": {**job.payload, "show": job.payload.get("show", job.show)},
                "attempt": job.attempts,
            },
            needs_gpu=needs_gpu(job) if callable(needs_gpu) else needs_gpu,
            log_path=os.path.join(log_dir, f"job-{job.id}.log"),
        )
        return _Remote(executor, executor.submit(spec))

    return start


class LaneLoop:
    """Ticks lanes on a thread until stopped: every `every_s` seconds when idle (jobs queued by other processes
    show up then), at once when `wake()` says this process queued one, every 50 ms while jobs run.
    Only the ticks that may claim ask the catalog for work: one when woken, one every `every_s`, and one at
    once after a job ended (its slot is free; its worker may have queued the next job, as a fix queues its
    publish). The 50 ms ticks in between only collect outcomes and renew leases, so a daemon waiting on
    long jobs elsewhere (fixes on Ray nodes) does not query the catalog 20 times a second per lane for
    nothing: that cost CPU the jobs' own nodes share on a small machine. The look every `every_s` first
    asks the catalog once whether any job of the lanes' kinds is runnable (one COUNT), and only then lets
    each lane with a free slot claim (a transaction each); woken or after a job ended, the lanes claim at once.
    """

    def __init__(self, lanes: list[Lane], every_s: float = 0.5) -> None:
        self.lanes = lanes
        self.every_s = every_s
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="rushes-runner", daemon=True)
        self.last_tick = time.monotonic()
        self._catalog = OutageLog(log, "runner.catalog_error")

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        """A job was queued: tick now rather than at the end of the idle wait."""
        self._wake.set()

    def stop(self, release: bool = True) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():  # not when the daemon stopped before starting it (a taken port)
            self._thread.join(timeout=60)
        if release:
            for lane in self.lanes:
                lane.release_all()

    def busy(self) -> int:
        return sum(len(lane.running) for lane in self.lanes)

    def _loop(self) -> None:
        claim_at = 0.0  # when the lanes next ask the catalog for work without being woken
        while not self._stop.is_set():
            woken = self._wake.is_set()
            self._wake.clear()  # a wake() from here on is seen at the next pass
            claim = woken or time.monotonic() >= claim_at
            ended = self._ended()
            busy = self._pass(claim, runnable=woken or (claim and self._runnable()))
            if not claim and self._ended() > ended:  # a slot is free, or the job queued the next one
                claim, busy = True, self._pass(True)
            if claim:
                claim_at = time.monotonic() + self.every_s
            self.last_tick = time.monotonic()
            # While jobs run, collect often (a quick in-process job frees its slot within milliseconds).
            self._wake.wait(0.05 if busy else self.every_s)

    def _ended(self) -> int:
        return sum(lane.finished for lane in self.lanes)

    def _runnable(self) -> bool:
        """Whether any job of the lanes' kinds could be claimed now (one query for every lane)."""
        kinds = sorted({kind for lane in self.lanes for kind in lane.kinds})
        if not kinds:
            return False
        try:
            with self.lanes[0].catalog.session(readonly=True) as s:
                waiting = job_repo.waiting(s, kinds) > 0
        except CatalogError as exc:
            self._catalog.failed(str(exc), lane="all")
            return False
        self._catalog.cleared()
        return waiting

    def _pass(self, claim: bool, runnable: bool = True) -> bool:
        """One tick of every lane; True when any holds a job."""
        busy = False
        for lane in self.lanes:
            try:
                busy = lane.tick(claim, runnable) > 0 or busy
            except CatalogError as exc:  # PostgreSQL restarting: said once, then once a minute
                self._catalog.failed(str(exc), lane=lane.name)
            except Exception as exc:
                log.error("runner.error", lane=lane.name, error=str(exc), exc_info=True)
        return busy


def dead_letter_said(on_dead: Callable[[Session, Job], None], s: Session, job: Job) -> None:
    """`on_dead` for a job just dead-lettered, in a savepoint of the transaction that did it: an error of its own
    (a payload the answer cannot read) is logged and the dead letter stands, where it undid the burial at each
    claim (the lane stopped), the outcome at each tick, or the daemon's start (a restart loop)."""
    try:
        with s.begin_nested():
            on_dead(s, job)
    except Exception:
        log.exception("job.dead_unanswered", job=job.id, kind=job.kind)


def recover_orphans(catalog: Catalog, on_dead: Callable[[Session, Job], None] | None = None) -> int:
    """Jobs this host was running when its daemon died (the lease holder's process is gone) are failed as one
    attempt and queued again now, instead of waiting for their leases to run out; one whose attempts that
    spends is dead-lettered, and `on_dead` called in the same transaction (as a lane does)."""
    recovered = 0
    with catalog.session() as s:
        for job in job_repo.list_jobs(s, state="running", limit=None):
            owner = job.lease_owner or ""
            if not orphaned(owner):
                continue
            died = "the daemon running this job died"
            if job.attempts >= job.max_attempts:  # the coordinator's answer says why it is not tried again
                died += f", on its last attempt ({job.attempts} of {job.max_attempts})"
            failed = job_repo.fail(s, job.id, owner, died, backoff=0)
            if failed is not None and failed.state == "dead" and on_dead is not None:
                dead_letter_said(on_dead, s, failed)
            recovered += 1
    if recovered:
        log.warning("jobs.recovered", count=recovered)
    return recovered


def orphaned(owner: str) -> bool:
    """Whether a lease holder (`host:pid:lane`) is a process of this host that is gone: its daemon died."""
    parts = owner.split(":")
    if len(parts) < 2 or parts[0] != socket.gethostname() or not parts[1].isdigit():
        return False
    return not _alive(int(parts[1]))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
