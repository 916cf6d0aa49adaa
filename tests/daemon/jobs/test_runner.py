"""The job runner's retry decision is the outcome's `retryable` flag: a Permanent error, raised on a daemon
thread or in a worker process, dead-letters the job at once; any other failure is queued again with backoff."""

from __future__ import annotations

import concurrent.futures
import socket
import threading
from typing import Any

import pytest
from structlog.testing import capture_logs

from daemon.catalog import Catalog, CatalogError, Job
from daemon.catalog import jobs as job_repo
from daemon.jobs.outcomes import Permanent
from daemon.jobs.runner import Lane, LaneLoop, in_process, recover_orphans
from integrations.executors.spec import JobOutcome, JobSpec
from integrations.executors.worker import run_spec
from integrations.trackers.base import TrackerError
from tests.daemon.jobs.ended import Finished


def refuse() -> None:
    """An entry point that can never succeed (what a worker runs for a fix with bad parameters)."""
    raise Permanent("cleanup needs a mask")


def stumble() -> None:
    raise ConnectionError("the file server is not answering")


def run_one(catalog: Catalog, handler: object, key: str = "fix:1") -> Job:
    """Queue one job, let a lane run it on a thread to the end, and return it as the catalog then holds it."""
    with catalog.session() as s:
        job, _ = job_repo.enqueue(s, "fix", key, {})
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        lane = Lane(catalog, "fix", ["fix"], in_process(pool, handler), backoff=lambda _n: 60.0)  # type: ignore[arg-type]
        assert lane.tick() == 1
    lane.tick()  # the pool has finished it: collected now
    with catalog.session(readonly=True) as s:
        done = job_repo.get_job(s, job.id)
        assert done is not None
        s.expunge(done)
        return done


def test_a_permanent_error_on_a_daemon_thread_dead_letters_the_job_at_once(catalog: Catalog) -> None:
    job = run_one(catalog, lambda _job: refuse())
    assert (job.state, job.attempts, job.last_error) == ("dead", 1, "cleanup needs a mask")


def test_any_other_error_is_queued_again_with_backoff(catalog: Catalog) -> None:
    job = run_one(catalog, lambda _job: stumble())
    assert (job.state, job.attempts) == ("queued", 1)
    assert job.last_error == "the file server is not answering"


def test_a_tracker_outage_is_one_line_per_attempt_not_a_traceback(catalog: Catalog) -> None:
    """A publish while the tracker is down: job.failed says why in one line and the job waits; it also logged
    job.error at level error with a five-frame traceback, every attempt, for an outage the docs expect."""

    def publish(_job: Job) -> None:
        raise TrackerError(
            "ShotGrid at http://sg did not answer schema of Task after 6 attempts; will retry later"
        )

    with capture_logs() as logs:
        job = run_one(catalog, publish)
    assert (job.state, job.attempts) == ("queued", 1)
    assert [e["event"] for e in logs if e["log_level"] == "error"] == []
    (failed,) = [e for e in logs if e["event"] == "job.failed"]
    assert "did not answer" in failed["error"] and "Traceback" not in failed["error"]
    with capture_logs() as logs:  # a bug keeps its traceback
        run_one(catalog, lambda _job: 1 / 0, key="fix:2")
    assert any(e["event"] == "job.error" and "ZeroDivisionError" in e["error"] for e in logs)


def test_a_worker_reports_a_permanent_error_as_not_retryable_and_the_lane_obeys() -> None:
    refused = run_spec(JobSpec(id="fix-1-1", kind="fix", entry_point=f"{__name__}:refuse"))
    stumbled = run_spec(JobSpec(id="fix-2-1", kind="fix", entry_point=f"{__name__}:stumble"))
    assert not refused.ok and refused.retryable is False and "cleanup needs a mask" in refused.error
    assert not stumbled.ok and stumbled.retryable is True
    assert JobOutcome.from_json(refused.to_json()).retryable is False  # as it crosses the process boundary


def test_a_lane_dead_letters_a_remote_outcome_that_is_not_retryable(catalog: Catalog) -> None:
    with catalog.session() as s:
        job, _ = job_repo.enqueue(s, "fix", "fix:1", {})
    outcome = JobOutcome.failed("fix-1-1", "Permanent: the daily cannot be read any more", retryable=False)
    lane = Lane(catalog, "fix", ["fix"], lambda _job: Finished(outcome))
    lane.tick()
    lane.tick()
    with catalog.session(readonly=True) as s:
        done = job_repo.get_job(s, job.id)
        assert done is not None and done.state == "dead"


def test_an_outcome_the_catalog_cannot_take_as_its_job_ends_is_recorded_once_it_can(
    catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The catalog away as a job ended (a full disk, PostgreSQL restarting): the outcome was dropped, the job's row
    said "running" with nothing running until its lease ran out, and the attempt's failure was never logged."""
    with catalog.session() as s:
        job, _ = job_repo.enqueue(s, "fix", "fix:1", {})
    outcome = JobOutcome.failed("fix-1-1", "the file server is not answering")
    lane = Lane(catalog, "fix", ["fix"], lambda _job: Finished(outcome), backoff=lambda _n: 60.0)
    assert lane.tick() == 1
    real_fail = job_repo.fail

    def disk_full(*args: Any, **kwargs: Any) -> Any:
        raise CatalogError("sqlite:///catalog.sqlite", "database or disk is full")

    monkeypatch.setattr(job_repo, "fail", disk_full)
    with pytest.raises(CatalogError):
        lane.tick()
    monkeypatch.setattr(job_repo, "fail", real_fail)
    with capture_logs() as logs:
        lane.tick()
    assert [e["error"] for e in logs if e["event"] == "job.failed"] == ["the file server is not answering"]
    with catalog.session(readonly=True) as s:
        done = job_repo.get_job(s, job.id)
        assert done is not None and (done.state, done.attempts) == ("queued", 1)
    assert lane.finished == 1 and not lane.unrecorded


def test_an_error_after_an_outcome_is_recorded_is_said_once_and_the_lane_goes_on(catalog: Catalog) -> None:
    """An `on_done` that raised after the catalog took the outcome kept it for another try: every tick ran
    `on_done` again and raised, and no job was claimed again."""
    with catalog.session() as s:
        first, _ = job_repo.enqueue(s, "fix", "fix:1", {})
    called: list[int] = []

    def on_done(job: Job, _outcome: JobOutcome) -> None:
        called.append(job.id)
        raise KeyError("result")

    outcome = JobOutcome(id="fix-1-1", ok=True, result={})
    lane = Lane(catalog, "fix", ["fix"], lambda _job: Finished(outcome), on_done=on_done)
    assert lane.tick() == 1
    with pytest.raises(KeyError):
        lane.tick()
    with catalog.session() as s:
        job_repo.enqueue(s, "fix", "fix:2", {})
    assert lane.tick() == 1  # the next job is claimed; the first is not said again
    assert called == [first.id] and not lane.unrecorded


class Ticking(Lane):
    """A lane that says when it has looked for work."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.ticked = threading.Event()

    def tick(self, claim: bool = True, runnable: bool = True) -> int:
        running = super().tick(claim, runnable)
        self.ticked.set()
        return running


def test_a_job_queued_in_this_process_starts_at_once_not_after_the_idle_wait(catalog: Catalog) -> None:
    started = threading.Event()

    def start(_job: Job) -> Finished:
        started.set()
        return Finished(JobOutcome("1", True))

    lane = Ticking(catalog, "ingest", ["ingest"], start)
    loop = LaneLoop([lane], every_s=3600.0)  # idle, it would look again in an hour
    loop.start()
    try:
        assert lane.ticked.wait(10)  # the first look found nothing; now it waits
        with catalog.session() as s:
            job_repo.enqueue(s, "ingest", "ingest:1", {})
        loop.wake()
        assert started.wait(10), "the lane did not pick the job up when woken"
    finally:
        loop.stop()


class Remote:
    """A job running elsewhere until `end` is set."""

    def __init__(self, end: threading.Event) -> None:
        self.end = end

    def poll(self) -> JobOutcome | None:
        return JobOutcome("1", True) if self.end.is_set() else None

    def cancel(self) -> None:
        pass


class Counting(Lane):
    """A lane that counts its ticks and the ones allowed to claim (to ask the catalog for work)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.ticks, self.claims = 0, 0
        self.changed = threading.Condition()

    def tick(self, claim: bool = True, runnable: bool = True) -> int:
        running = super().tick(claim, runnable)
        with self.changed:
            self.ticks, self.claims = self.ticks + 1, self.claims + (claim and runnable)
            self.changed.notify_all()
        return running

    def wait_for(self, done: Any) -> bool:
        with self.changed:
            return self.changed.wait_for(lambda: done(self), timeout=10)


def test_while_a_remote_job_runs_the_lanes_collect_often_but_ask_the_catalog_only_after_a_job_ends(
    catalog: Catalog,
) -> None:
    end = threading.Event()
    with catalog.session() as s:
        job_repo.enqueue(s, "fix", "fix:1", {})
        job_repo.enqueue(s, "fix", "fix:2", {})
    started: list[int] = []

    def start(job: Job) -> Remote:
        started.append(job.id)
        return Remote(end)

    lane = Counting(catalog, "fix", ["fix"], start)
    loop = LaneLoop([lane], every_s=3600.0)  # without a wake or an ended job, the next claim is in an hour
    loop.start()
    try:
        assert lane.wait_for(lambda ln: ln.ticks >= 20), "the lane is ticked every 50 ms while a job runs"
        assert lane.claims == 1 and len(started) == 1, "only the first tick asked the catalog for work"
        end.set()  # the job ends: its slot is free, and the second job starts at once
        assert lane.wait_for(lambda _ln: len(started) == 2), "a free slot is filled at once"
    finally:
        end.set()
        loop.stop(release=False)


def test_the_periodic_look_asks_the_catalog_once_and_lanes_claim_only_when_a_job_is_runnable(
    catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    claims: list[str] = []
    real_claim = job_repo.claim

    def counting_claim(s: Any, worker: str, kinds: Any, *args: Any, **kwargs: Any) -> Job | None:
        claims.append(worker)
        return real_claim(s, worker, kinds, *args, **kwargs)

    monkeypatch.setattr("daemon.jobs.runner.job_repo.claim", counting_claim)
    started = threading.Event()

    def start(_job: Job) -> Finished:
        started.set()
        return Finished(JobOutcome("1", True))

    lanes = [Counting(catalog, kind, [kind], start) for kind in ("ingest", "publish", "fix")]
    loop = LaneLoop(list(lanes), every_s=0.05)  # a look every 50 ms
    loop.start()
    try:
        assert lanes[0].wait_for(lambda ln: ln.ticks >= 10), "the lanes are ticked at every look"
        assert claims == [], "nothing runnable: one COUNT per look, no lane's claim transaction"
        with catalog.session() as s:  # queued by another process: no wake
            job_repo.enqueue(s, "publish", "publish:1", {})
        assert started.wait(10), "the next look finds the job and its lane claims it"
        assert len(claims) >= 1
    finally:
        loop.stop(release=False)


def test_a_job_whose_daemon_died_is_queued_again_and_on_its_last_attempt_says_it_was_the_last(
    catalog: Catalog,
) -> None:
    gone = f"{socket.gethostname()}:{2**22 + 17}:fix"  # a pid above any this machine hands out
    with catalog.session() as s:
        again = job_repo.enqueue(s, "fix", "fix:again", {}, max_attempts=5)[0].id
        last = job_repo.enqueue(s, "fix", "fix:last", {}, max_attempts=1)[0].id
        claimed = [job_repo.claim(s, gone, ["fix"], 60) for _ in range(2)]
        assert {job.id for job in claimed if job is not None} == {again, last}

    assert recover_orphans(catalog) == 2
    with catalog.session(readonly=True) as s:
        queued, dead = job_repo.get_job(s, again), job_repo.get_job(s, last)
        assert queued is not None and queued.state == "queued"
        assert queued.last_error == "the daemon running this job died"
        assert dead is not None and dead.state == "dead"  # the coordinator's answer quotes this
        assert dead.last_error == "the daemon running this job died, on its last attempt (1 of 1)"


def test_a_job_whose_worker_died_on_another_host_on_its_last_attempt_is_answered_when_buried(
    catalog: Catalog,
) -> None:
    """Its lease ran out on the last attempt on a host whose daemon never came back: the lane that finds it
    dead-letters it and hands it to `on_dead` (the coordinator's request is answered), as when a job ends."""
    with catalog.session() as s:
        job_id = job_repo.enqueue(s, "fix", "fix:far", {}, max_attempts=1)[0].id
        assert job_repo.claim(s, "render-4:28202:fix", ["fix"], lease_s=-1.0) is not None  # already expired
    answered: list[tuple[int, str, str | None]] = []
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        lane = Lane(
            catalog,
            "fix",
            ["fix"],
            in_process(pool, lambda _job: {}),
            on_dead=lambda _s, job: answered.append((job.id, job.state, job.last_error)),
        )
        assert lane.tick() == 0
    assert answered == [
        (
            job_id,
            "dead",
            "the lease of render-4:28202:fix expired on the last attempt (the worker died or hung)",
        )
    ]
    with catalog.session(readonly=True) as s:
        dead = job_repo.get_job(s, job_id)
        assert dead is not None and dead.state == "dead"


def test_an_answer_that_fails_for_a_buried_job_is_logged_and_the_lane_goes_on(catalog: Catalog) -> None:
    """`on_dead` raising inside the claim's transaction undid the burial and the claim at every tick: the lane
    logged runner.error for ever and claimed nothing."""
    with catalog.session() as s:
        buried = job_repo.enqueue(s, "fix", "fix:far", {}, max_attempts=1)[0].id
        assert job_repo.claim(s, "render-4:28202:fix", ["fix"], lease_s=-1.0) is not None
        waiting = job_repo.enqueue(s, "fix", "fix:next", {})[0].id

    def unreadable(_s: object, _job: Job) -> None:
        raise ValueError("a payload the answer cannot read")

    ran: list[int] = []
    with concurrent.futures.ThreadPoolExecutor(1) as pool, capture_logs() as logs:
        lane = Lane(
            catalog,
            "fix",
            ["fix"],
            in_process(pool, lambda job: ran.append(job.id) or {}),
            on_dead=unreadable,
        )
        assert lane.tick() == 1  # the next job is claimed
    assert [e["event"] for e in logs if e["log_level"] == "error"] == ["job.dead_unanswered"]
    with catalog.session(readonly=True) as s:
        dead = job_repo.get_job(s, buried)
        assert dead is not None and dead.state == "dead"
        taken = job_repo.get_job(s, waiting)
        assert taken is not None and taken.state in ("running", "done")


def test_a_daemon_starts_though_the_answer_of_a_job_its_death_buried_fails(catalog: Catalog) -> None:
    """recover_orphans runs first in the daemon's start: an answer raising there failed every start."""
    gone = f"{socket.gethostname()}:{2**22 + 19}:fix"
    with catalog.session() as s:
        last = job_repo.enqueue(s, "fix", "fix:last", {}, max_attempts=1)[0].id
        assert job_repo.claim(s, gone, ["fix"], 60) is not None

    def unreadable(_s: object, _job: Job) -> None:
        raise ValueError("a payload the answer cannot read")

    with capture_logs() as logs:
        assert recover_orphans(catalog, on_dead=unreadable) == 1
    assert "job.dead_unanswered" in [e["event"] for e in logs]
    with catalog.session(readonly=True) as s:
        dead = job_repo.get_job(s, last)
        assert dead is not None and dead.state == "dead"
