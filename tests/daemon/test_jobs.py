"""The durable job queue on SQLite and PostgreSQL: idempotent enqueue, leases, backoff, dead letters, races."""

from __future__ import annotations

import json
import multiprocessing
import threading
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import event, text

from daemon.catalog import Catalog, utcnow
from daemon.catalog.jobs import (
    claim,
    complete,
    counts,
    drop_queued,
    enqueue,
    fail,
    get_job,
    heartbeat,
    list_jobs,
    next_due,
    release,
    retry,
)


def test_enqueue_twice_with_the_same_key_is_one_job(catalog: Catalog) -> None:
    with catalog.session() as s:
        job, created = enqueue(s, "ingest", "ingest:MYSHOW:/x.mov", {"path": "/x.mov"}, show="MYSHOW")
        assert created and job.state == "queued" and job.attempts == 0
    with catalog.session() as s:
        again, created = enqueue(s, "ingest", "ingest:MYSHOW:/x.mov", {"path": "/other.mov"})
        assert not created and again.id == job.id and again.payload == {"path": "/x.mov"}
        assert counts(s) == {("ingest", "queued"): 1}


def test_claim_heartbeat_complete(catalog: Catalog) -> None:
    with catalog.session() as s:
        enqueue(s, "train", "train:A:1", {"show": "A"})
        ingest, _ = enqueue(s, "ingest", "ingest:A:1", {})
    with catalog.session() as s:
        job = claim(s, "host:1:0", ["ingest"], lease_s=60)
        assert job is not None and job.id == ingest.id and job.state == "running"
        assert job.attempts == 1 and job.lease_owner == "host:1:0"
        assert job.lease_expires is not None and job.lease_expires > utcnow() + timedelta(seconds=50)
        assert claim(s, "host:2:0", ["ingest"], lease_s=60) is None  # the only ingest job is taken
    with catalog.session() as s:
        assert heartbeat(s, job.id, "host:1:0", lease_s=600)
        assert not heartbeat(s, job.id, "host:2:0", lease_s=600)  # not the holder
        renewed = get_job(s, job.id)
        assert renewed is not None and renewed.lease_expires is not None
        assert renewed.lease_expires > utcnow() + timedelta(seconds=500)
    with catalog.session() as s:
        assert complete(s, job.id, "host:1:0", {"daily_id": 7})
        assert not heartbeat(s, job.id, "host:1:0", lease_s=60)  # done: nothing to renew
    with catalog.session() as s:
        done = get_job(s, job.id)
        assert done is not None and done.state == "done" and done.result == {"daily_id": 7}
        assert done.finished_at is not None
        assert counts(s) == {("ingest", "done"): 1, ("train", "queued"): 1}
        assert [j.kind for j in list_jobs(s, state="queued")] == ["train"]


def test_fail_backs_off_then_dead_letters_and_retry_requeues(catalog: Catalog) -> None:
    t0 = utcnow()
    with catalog.session() as s:
        job, _ = enqueue(s, "publish", "publish:1", {}, max_attempts=3)
    for attempt in (1, 2):
        now = t0 + timedelta(minutes=10 * attempt)
        with catalog.session() as s:
            claimed = claim(s, "w1", None, 30, now=now)
            assert claimed is not None and claimed.attempts == attempt
            failed = fail(s, job.id, "w1", f"tracker timed out ({attempt})", lambda n: 60.0 * n, now=now)
            assert failed is not None and failed.state == "queued"
            assert failed.run_after == now + timedelta(seconds=60 * attempt)
            assert (
                claim(s, "w1", None, 30, now=now + timedelta(seconds=60 * attempt - 1)) is None
            )  # backing off
    with catalog.session() as s:
        now = t0 + timedelta(minutes=30)
        assert claim(s, "w1", None, 30, now=now) is not None
        dead = fail(s, job.id, "w1", "tracker timed out (3)\nTraceback ...", 60.0, now=now)
        assert dead is not None and dead.state == "dead" and dead.attempts == 3
        assert dead.last_error is not None and dead.last_error.startswith("tracker timed out (3)")
        assert claim(s, "w1", None, 30, now=now + timedelta(days=1)) is None  # dead jobs are never claimed
        assert [j.id for j in list_jobs(s, state="dead")] == [job.id]
    with catalog.session() as s:
        assert retry(s, job.id)
        assert not retry(s, job.id)  # only dead jobs
        again = claim(s, "w2", None, 30)
        assert again is not None and again.id == job.id and again.attempts == 1
        assert complete(s, job.id, "w2")
    with (
        catalog.session() as s
    ):  # done: the dead attempts' error is not shown beside it in `rushes jobs list`
        done = get_job(s, job.id)
        assert done is not None and (done.state, done.last_error) == ("done", None)


def test_the_default_backoff_waits_30_s_then_doubles_up_to_an_hour(catalog: Catalog) -> None:
    t0 = utcnow()
    with catalog.session() as s:
        job, _ = enqueue(s, "ingest", "ingest:backoff", {}, max_attempts=20)
    waits = []
    for attempt in range(1, 10):
        now = t0 + timedelta(hours=2 * attempt)
        with catalog.session() as s:
            assert claim(s, "w1", None, 30, now=now) is not None
            failed = fail(s, job.id, "w1", "disk busy", now=now)
            assert failed is not None and failed.run_after is not None
            waits.append((failed.run_after - now).total_seconds())
    assert waits == [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]


def test_a_job_back_from_its_backoff_does_not_jump_one_that_waited_longer(catalog: Catalog) -> None:
    t0 = utcnow()
    with catalog.session() as s:
        flaky, _ = enqueue(s, "ingest", "ingest:flaky", {}, run_after=t0)
    with catalog.session() as s:
        assert claim(s, "w1", ["ingest"], 30, now=t0) is not None
        fail(s, flaky.id, "w1", "disk busy", 60.0, now=t0)  # due again at t0 + 60 s
    with catalog.session() as s:
        patient, _ = enqueue(s, "ingest", "ingest:patient", {}, run_after=t0 + timedelta(seconds=10))
    with catalog.session() as s:
        first = claim(s, "w1", ["ingest"], 30, now=t0 + timedelta(seconds=120))
        assert first is not None and first.id == patient.id  # due since t0 + 10 s, the other since t0 + 60 s


def test_a_failure_that_cannot_pass_dead_letters_at_once(catalog: Catalog) -> None:
    with catalog.session() as s:
        job, _ = enqueue(s, "fix", "fix:9", {"shot": "A010"})
        assert claim(s, "w1", ["fix"], 30) is not None
        dead = fail(s, job.id, "w1", "shot A010 has no dailies", retryable=False)
        assert dead is not None and dead.state == "dead" and dead.attempts == 1
        assert fail(s, job.id, "w1", "again") is None  # no longer held


def test_an_expired_lease_is_reclaimed_by_another_worker(catalog: Catalog) -> None:
    with catalog.session() as s:
        job, _ = enqueue(s, "train", "train:A:nightly", {})
        t0 = utcnow()
        assert claim(s, "crashed", ["train"], 60, now=t0) is not None
        assert claim(s, "w2", ["train"], 60, now=t0 + timedelta(seconds=59)) is None  # still leased
        taken = claim(s, "w2", ["train"], 60, now=t0 + timedelta(seconds=61))
        assert taken is not None and taken.id == job.id and taken.lease_owner == "w2" and taken.attempts == 2
    with catalog.session() as s:
        # The first worker comes back: its lease is gone, so it neither renews nor finishes the job.
        assert not heartbeat(s, job.id, "crashed", 60)
        assert not complete(s, job.id, "crashed", {"oops": True})
        assert fail(s, job.id, "crashed", "late") is None
        assert complete(s, job.id, "w2", {"version": 3})
        final = get_job(s, job.id)
        assert final is not None and final.result == {"version": 3}


def test_a_job_that_kills_every_worker_is_dead_lettered(catalog: Catalog) -> None:
    with catalog.session() as s:
        job, _ = enqueue(s, "fix", "fix:poison", {}, max_attempts=2)
        t0 = utcnow()
        assert claim(s, "w1", None, 10, now=t0) is not None
        assert claim(s, "w2", None, 10, now=t0 + timedelta(seconds=11)) is not None
        assert claim(s, "w3", None, 10, now=t0 + timedelta(seconds=22)) is None
        dead = get_job(s, job.id)
        assert dead is not None
        s.refresh(dead)
        assert dead.state == "dead" and dead.last_error is not None and "w2" in dead.last_error


def test_release_gives_the_job_back_without_counting_the_attempt(catalog: Catalog) -> None:
    with catalog.session() as s:
        job, _ = enqueue(s, "ingest", "ingest:1", {})
        assert claim(s, "w1", None, 60) is not None
        assert release(s, job.id, "w1")
        again = claim(s, "w2", None, 60)
        assert again is not None and again.attempts == 1


def test_next_due_tells_an_idle_worker_when_to_wake(catalog: Catalog) -> None:
    later = utcnow() + timedelta(minutes=5)
    with catalog.session() as s:
        assert next_due(s) is None
        enqueue(s, "train", "train:later", {}, run_after=later)
        assert claim(s, "w1", None, 60) is None
        assert next_due(s) == later
        assert next_due(s, ["ingest"]) is None


def _drain(catalog: Catalog, worker: str, barrier: Any) -> list[int]:
    """Claim and complete jobs until none is left; wait at the barrier after the first claim, so that both
    workers hold a lease at the same time and race for every job after it."""
    claimed: list[int] = []
    while True:
        with catalog.session() as s:
            job = claim(s, worker, ["ingest"], 60)
            if job is None:
                return claimed
            job_id = job.id
        claimed.append(job_id)
        if len(claimed) == 1:
            barrier.wait(timeout=30)
        with catalog.session() as s:
            if not complete(s, job_id, worker, {"by": worker}):
                raise AssertionError(f"{worker} lost the lease of job {job_id}")


def _fill(catalog: Catalog, n: int = 50) -> None:
    with catalog.session() as s:
        for i in range(n):
            enqueue(s, "ingest", f"race:{i}", {"i": i})


def _assert_each_job_ran_once(catalog: Catalog, claims: dict[str, list[int]]) -> None:
    every = [job_id for ids in claims.values() for job_id in ids]
    assert len(every) == 50 and len(set(every)) == 50, Counter(every).most_common(3)
    assert all(claims.values()), "both workers took part"
    with catalog.session() as s:
        assert counts(s) == {("ingest", "done"): 50}
        ran_by = Counter(j.result["by"] for j in list_jobs(s, limit=None) if j.result)
        assert ran_by == Counter({worker: len(ids) for worker, ids in claims.items()})


def test_two_threads_never_claim_the_same_job(catalog: Catalog) -> None:
    _fill(catalog)
    barrier = threading.Barrier(2)
    claims: dict[str, list[int]] = {}
    errors: list[BaseException] = []

    def work(worker: str) -> None:
        try:
            claims[worker] = _drain(catalog, worker, barrier)
        except BaseException as exc:  # surfaced in the main thread below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(f"thread-{n}",)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    _assert_each_job_ran_once(catalog, claims)


def _process_worker(url: str, worker: str, barrier: Any, out: Path) -> None:
    catalog = Catalog(url)
    try:
        out.write_text(json.dumps(_drain(catalog, worker, barrier)))
    finally:
        catalog.dispose()


def test_two_processes_never_claim_the_same_job(catalog: Catalog, tmp_path: Path) -> None:
    _fill(catalog)
    catalog.dispose()  # each process opens its own connections
    # spawned, not forked from a test worker holding other tests' threads
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(2)
    url = catalog.engine.url.render_as_string(hide_password=False)
    procs = {
        f"proc-{n}": context.Process(
            target=_process_worker, args=(url, f"proc-{n}", barrier, tmp_path / f"proc-{n}.json")
        )
        for n in range(2)
    }
    for proc in procs.values():
        proc.start()
    for proc in procs.values():
        proc.join(timeout=60)
    assert [proc.exitcode for proc in procs.values()] == [0, 0]
    claims = {worker: json.loads((tmp_path / f"{worker}.json").read_text()) for worker in procs}
    _assert_each_job_ran_once(catalog, claims)


def test_a_claim_in_an_open_transaction_is_never_handed_out_again(catalog: Catalog) -> None:
    """While worker A's claim is not committed yet, worker B gets the other job: on PostgreSQL at once
    (SKIP LOCKED), on SQLite once A commits (B's BEGIN IMMEDIATE waits for A's write lock)."""
    with catalog.session() as s:
        enqueue(s, "ingest", "open:1", {})
        enqueue(s, "ingest", "open:2", {})
    got: dict[str, int] = {}
    b_done = threading.Event()

    def worker_b() -> None:
        with catalog.session() as s:
            job = claim(s, "B", ["ingest"], 60)
            got["B"] = job.id if job else -1
        b_done.set()

    with catalog.session() as s:
        job = claim(s, "A", ["ingest"], 60)
        assert job is not None
        got["A"] = job.id
        thread = threading.Thread(target=worker_b)
        thread.start()
        finished_while_a_open = b_done.wait(timeout=0.5 if catalog.dialect == "sqlite" else 10)
    thread.join(timeout=30)
    assert finished_while_a_open == (catalog.dialect == "postgresql")
    assert got["B"] not in (got["A"], -1)


def test_queued_jobs_are_dropped_all_or_none(catalog: Catalog) -> None:
    """A request taken back ends its queued jobs unrun; when a worker has claimed one of them, none is dropped
    (the request is rendered whole)."""
    with catalog.session() as s:
        a, _ = enqueue(s, "fix", "fix:r1:denoise", {})
        b, _ = enqueue(s, "fix", "fix:r1:upscale", {})
    with catalog.session() as s:
        assert drop_queued(s, [a.id, b.id], {"withdrawn": "taken back"})
    with catalog.session(readonly=True) as s:
        for job_id in (a.id, b.id):
            job = get_job(s, job_id)
            assert job is not None and job.state == "done" and job.result == {"withdrawn": "taken back"}
            assert job.finished_at is not None and job.attempts == 0
    with catalog.session() as s:
        c, _ = enqueue(s, "fix", "fix:r2:denoise", {})
        d, _ = enqueue(s, "fix", "fix:r2:upscale", {})
    with catalog.session() as s:
        claimed = claim(s, "host:1:0", ["fix"], lease_s=60)
        assert claimed is not None and claimed.id == c.id
    with catalog.session() as s:
        assert not drop_queued(s, [c.id, d.id], {"withdrawn": "taken back"})
        assert not drop_queued(s, [], {"withdrawn": "taken back"})
    with catalog.session(readonly=True) as s:
        states = {job_id: job.state for job_id in (c.id, d.id) if (job := get_job(s, job_id))}
        assert states == {c.id: "running", d.id: "queued"}


def test_a_job_being_dropped_is_not_claimed_meanwhile(catalog: Catalog) -> None:
    """While the transaction dropping a job is open, another worker's claim does not get it: on PostgreSQL
    its row is locked (SKIP LOCKED passes it by), on SQLite the claim waits for the write lock."""
    with catalog.session() as s:
        job, _ = enqueue(s, "fix", "fix:r1:denoise", {})
    got: list[int] = []

    def worker_b() -> None:
        with catalog.session() as s:
            claimed = claim(s, "B", ["fix"], 60)
            got.append(claimed.id if claimed else -1)

    with catalog.session() as s:
        assert drop_queued(s, [job.id], {"withdrawn": "taken back"})
        thread = threading.Thread(target=worker_b)
        thread.start()
        if catalog.dialect == "postgresql":
            thread.join(timeout=30)  # B does not wait for this transaction
            assert got == [-1]
    thread.join(timeout=30)
    assert got == [-1]
    with catalog.session(readonly=True) as s:
        dropped = get_job(s, job.id)
        assert dropped is not None and dropped.state == "done"


def test_every_kind_of_job_has_a_queue_depth_in_every_state_zero_where_none_is() -> None:
    """A series went away when the last job of its kind ended: `sum(rushes_queue_depth{state="queued"})` came
    back empty rather than 0, and a dashboard gapped."""
    from daemon.catalog.models import JOB_STATES
    from daemon.jobs.payloads import JOB_KINDS
    from daemon.service import queue_depths

    depths = {(kind, state): n for kind, state, n in queue_depths({("fix", "running"): 2})}

    assert len(depths) == len(JOB_KINDS) * len(JOB_STATES)
    assert depths[("fix", "running")] == 2.0
    assert depths[("fix", "queued")] == depths[("publish", "dead")] == 0.0


def test_queue_depths_are_counted_from_an_index_not_every_job_row(tmp_path: Path) -> None:
    """Every /metrics scrape and `rushes status` count the jobs by kind and state: a year's 500,000 jobs took 0.67 s
    a scrape on SQLite, reading every row (bench/catalog_scale.py). SQLite's plan for the real query, at a modest
    size, reads the covering index."""
    cat = Catalog(f"sqlite:///{tmp_path / 'catalog.sqlite'}")
    cat.migrate()
    executed: list[str] = []

    def remember(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        executed.append(statement)

    try:
        with cat.session() as s:
            for n in range(300):
                enqueue(s, ("ingest", "fix", "publish")[n % 3], f"k{n}", {})
        event.listen(cat.engine, "before_cursor_execute", remember)
        with cat.session(readonly=True) as s:
            assert sum(counts(s).values()) == 300
            [query] = [sql for sql in executed if "count(" in sql]
            plan = [str(row[-1]) for row in s.execute(text(f"EXPLAIN QUERY PLAN {query}"))]
    finally:
        event.remove(cat.engine, "before_cursor_execute", remember)
        cat.dispose()
    assert plan == ["SCAN jobs USING COVERING INDEX ix_jobs_kind_state"], plan


def test_a_key_longer_than_its_column_is_kept_whole_in_a_digest_and_found_by_itself(catalog: Catalog) -> None:
    """An ingest job of a daily at a 250-character path: PostgreSQL refused its key (varchar(300)) at every
    scan, and the daily was never catalogued, said only in the log."""
    from daemon.catalog.jobs import KEY_LIMIT, get_job_by_key, jobs_by_key

    folder = "/mnt/dailies/" + "turnover_2026-12-07_" * 14
    keys = [f"ingest:SHOW:{folder}A001C00{n}_sh010_1.mov:1024:1.0:1:stamp" for n in (1, 2)]
    with catalog.session() as s:
        made = [enqueue(s, "ingest", key, {"n": n}, show="SHOW") for n, key in enumerate(keys)]
        again, created = enqueue(s, "ingest", keys[0], {"n": 9}, show="SHOW")
        assert [c for _, c in made] == [True, True] and not created and again.id == made[0][0].id
        assert all(len(job.key) <= KEY_LIMIT for job, _ in made) and made[0][0].key != made[1][0].key
        found = get_job_by_key(s, keys[1])
        assert found is not None and found.id == made[1][0].id
    if catalog.engine.dialect.name == "sqlite":  # a release before kept such a key whole, past the width
        whole = keys[0].replace("A001", "B001")
        with catalog.session() as s:
            kept, _ = enqueue(s, "ingest", "short", {}, show="SHOW")
            kept.key = whole
        with catalog.session() as s:
            again, created = enqueue(s, "ingest", whole, {}, show="SHOW")
            assert not created and again.id == kept.id  # not queued a second time after the upgrade
        assert {key: job.id for key, job in jobs_by_key(s, keys).items()} == {
            key: job.id for key, (job, _) in zip(keys, made, strict=True)
        }
