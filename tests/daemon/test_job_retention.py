"""Job rows kept for years: a done job that ended long ago keeps its row and key without its payload and result,
so the work it did is never done again when its key comes back; queued, running, recent and dead jobs keep
everything; the catalog file shrinks."""

from __future__ import annotations

import json
import sqlite3
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import text, update

from daemon.catalog import Catalog, Job, utcnow
from daemon.catalog import jobs as job_repo
from daemon.jobs.payloads import FixJob, IngestJob, Payload, queue
from daemon.ops.retention import catalog_size, prunable_jobs, prune_jobs, reclaim, vacuum
from integrations.ingest.candidates import Candidate

NOW = utcnow() + timedelta(days=500)  # the jobs are queued now: a year and more of them ends before NOW
MONTH_AGO = NOW - timedelta(days=30)


def sequence(name: str, frames: int = 150) -> IngestJob:
    """An ingest job of a sequence of `frames` frames (its payload names every frame, as the watcher's does)."""
    root = Path("/mnt/dailies/SHOW/2027-05-01")
    files = tuple(root / name / f"{name}_comp_v012.{n:04d}.exr" for n in range(1001, 1001 + frames))
    found = Candidate(
        root,
        "sequence",
        root / name / f"{name}_comp_v012.####.exr",
        files,
        9_000_000,
        1.7e9,
        tuple(range(1001, 1001 + frames)),
    )
    return IngestJob("SHOW", found)


def written_before(job: IngestJob) -> dict[str, Any]:
    """The payload a Rushes before this one wrote for `job`: every frame's path and number (10 kB for 150 frames)."""
    data = job.to_json()
    found = data["found"]
    found.pop("frame_runs", None)
    found["files"] = [str(f) for f in job.found.files]
    found["frames"] = list(getattr(job.found, "frames", ()))
    return data


def ended(
    catalog: Catalog,
    payload: Payload,
    state: str,
    days_ago: float,
    worker: str = "render-1:77:lane",
    written: dict[str, Any] | None = None,
) -> int:
    """Queue `payload` (in its `written` form, when given) and end it `days_ago` days before NOW (done with a
    result, or dead with an error)."""
    with catalog.session() as s:
        job, _ = queue(s, payload, show="SHOW")
        if written is not None:
            s.execute(update(Job).where(Job.id == job.id).values(payload=written))
        claimed = job_repo.claim(s, worker, [job.kind], now=NOW - timedelta(days=days_ago, minutes=1))
        assert claimed is not None and claimed.id == job.id
        if state == "done":
            job_repo.complete(s, job.id, worker, {"result": "registered", "daily": 7})
        else:
            job_repo.fail(s, job.id, worker, "Permanent: frames outside the shot", retryable=False)
        when = NOW - timedelta(days=days_ago)
        s.execute(update(Job).where(Job.id == job.id).values(finished_at=when, updated_at=when))
        return job.id


def test_a_job_pruned_after_30_days_is_not_done_again_and_live_recent_and_dead_jobs_keep_everything(
    catalog: Catalog,
) -> None:
    old_ingest = ended(catalog, sequence("sh010"), "done", 40)
    old_fix = ended(catalog, FixJob(3, "denoise", "shotgrid:Task:88"), "done", 31)
    recent = ended(catalog, sequence("sh020"), "done", 29)
    dead = ended(catalog, sequence("sh030"), "dead", 90)  # `rushes jobs retry` needs its payload
    with catalog.session() as s:
        queued, _ = queue(s, sequence("sh040"), show="SHOW")
        running, _ = queue(s, FixJob(4, "regrade", "shotgrid:Task:89"), show="SHOW")
        assert job_repo.claim(s, "render-1:77:fix", ["fix"], now=NOW) is not None
        queued_id, running_id = queued.id, running.id
        before = {j.id: (j.payload, j.result) for j in job_repo.list_jobs(s, limit=None)}
        counts = job_repo.counts(s)
    assert prunable_jobs(catalog, MONTH_AGO) == 2

    with catalog.session() as s:  # one batch of one, then the rest
        assert job_repo.prune_ended(s, MONTH_AGO, limit=1, now=NOW) == 1
    assert prune_jobs(catalog, MONTH_AGO, batch=1) == 1
    assert prunable_jobs(catalog, MONTH_AGO) == 0 and prune_jobs(catalog, MONTH_AGO) == 0

    with catalog.session() as s:
        for job_id in (old_ingest, old_fix):
            job = job_repo.get_job(s, job_id)
            assert job is not None
            assert job.payload == {} and job.result is None and job.pruned_at is not None
            assert job.state == "done" and job.attempts == 1 and job.finished_at is not None
        for job_id in (recent, dead, queued_id, running_id):  # untouched
            job = job_repo.get_job(s, job_id)
            assert job is not None and job.pruned_at is None
            assert (job.payload, job.result) == before[job_id]
        assert job_repo.counts(s) == counts  # /metrics and `rushes status` count the same jobs
        # the file seen again by a rescan, the request read again: their keys still find the done jobs
        again, created = queue(s, sequence("sh010"), show="SHOW")
        assert (again.id, created) == (old_ingest, False)
        again, created = queue(s, FixJob(3, "denoise", "shotgrid:Task:88"), show="SHOW")
        assert (again.id, created) == (old_fix, False)
        assert job_repo.claim(s, "render-1:77:lane", now=NOW) is not None  # the queued ingest, nothing pruned
        assert job_repo.claim(s, "render-1:77:lane", now=NOW) is None
        assert job_repo.retry(s, dead)  # a dead job is retried with its payload
        assert IngestJob.from_json(job_repo.get_job(s, dead).payload) == sequence("sh030")  # type: ignore[union-attr]


def test_pruning_a_years_ingest_jobs_shrinks_a_sqlite_catalog(tmp_path: Path) -> None:
    catalog = Catalog(f"sqlite:///{tmp_path / 'catalog.sqlite'}")
    catalog.migrate()
    for n in range(150):
        job = sequence(f"sh{n:04d}")
        ended(catalog, job, "done", 400 - n, written=written_before(job))
    full = catalog_size(catalog)
    assert full is not None and full.incremental  # a new catalog gives freed pages back by itself
    assert prune_jobs(catalog, MONTH_AGO) == 150
    small = reclaim(catalog)
    assert small is not None and small.free_bytes == 0
    assert small.bytes < full.bytes / 4, (full, small)  # 10 kB a job, down to its key and times
    assert (tmp_path / "catalog.sqlite").stat().st_size == small.bytes
    catalog.dispose()


def test_the_prune_finds_its_jobs_through_the_index_of_unpruned_rows(tmp_path: Path) -> None:
    """A year of tombstones is not read again at every nightly prune."""
    catalog = Catalog(f"sqlite:///{tmp_path / 'catalog.sqlite'}")
    catalog.migrate()
    with catalog.session(readonly=True) as s:
        job_repo.prunable(s, MONTH_AGO)  # runs
        sql = "SELECT count(id) FROM jobs WHERE state = 'done' AND finished_at < :b AND pruned_at IS NULL"
        plan = s.execute(text("EXPLAIN QUERY PLAN " + sql), {"b": "2027-01-01"}).all()
    assert any("ix_jobs_unpruned" in str(row[-1]) for row in plan), plan
    catalog.dispose()


def test_a_catalog_of_the_release_before_is_upgraded_with_its_jobs_and_then_pruned(catalog_url: str) -> None:
    catalog = Catalog(catalog_url)
    catalog.migrate("0008")  # the release before: jobs without `pruned_at`
    job = sequence("sh050")
    with catalog.session() as s:
        s.execute(
            text(
                "INSERT INTO jobs (kind, key, show, payload, state, attempts, max_attempts, run_after, created_at,"
                " updated_at, finished_at) VALUES ('ingest', :key, 'SHOW', :payload, 'done', 1, 5, :t, :t, :t, :t)"
            ),
            {"key": job.key(), "payload": json.dumps(written_before(job)), "t": NOW - timedelta(days=400)},
        )
    assert catalog.migrate() == "0008"
    assert prunable_jobs(catalog, MONTH_AGO) == 1 and prune_jobs(catalog, MONTH_AGO) == 1
    with catalog.session() as s:
        again, created = queue(s, job, show="SHOW")
        assert not created and again.payload == {} and again.pruned_at is not None
    catalog.dispose()


def test_a_sqlite_catalog_made_before_incremental_auto_vacuum_shrinks_once_vacuumed(tmp_path: Path) -> None:
    """An earlier Rushes made its SQLite file without auto-vacuum: the pages a prune frees are reused by new rows but
    stay in the file until a VACUUM, which also turns incremental auto-vacuum on for the prunes after it."""
    path = tmp_path / "catalog.sqlite"
    made_before = sqlite3.connect(path)
    made_before.execute("CREATE TABLE made_before (x)")  # a file with tables keeps auto_vacuum = NONE
    made_before.close()
    catalog = Catalog(f"sqlite:///{path}")
    catalog.migrate()
    for n in range(60):
        job = sequence(f"sh{n:04d}")
        ended(catalog, job, "done", 400 - n, written=written_before(job))
    full = catalog_size(catalog)
    assert full is not None and not full.incremental
    prune_jobs(catalog, MONTH_AGO)
    kept = reclaim(catalog)
    assert kept is not None and kept.bytes == full.bytes and kept.free_bytes > full.bytes / 2
    small = vacuum(catalog)
    assert small is not None and small.incremental and small.bytes < full.bytes / 3, (full, small)
    assert path.stat().st_size == small.bytes
    catalog.dispose()
