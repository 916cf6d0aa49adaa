"""Daemons on several hosts sharing one PostgreSQL catalog whose clocks disagree (one host's NTP broken, a VM
resumed with a stale clock): the job queue judges leases and back-offs by the catalog's clock, not theirs."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest

from daemon.catalog import Catalog
from daemon.catalog import db as catalog_db
from daemon.catalog import jobs as job_repo
from daemon.status import lease_lapsed
from tests.servers.postgres import PostgresServer

pytestmark = pytest.mark.pg


@pytest.fixture
def shared(pg_server: PostgresServer) -> Iterator[Catalog]:
    """The studio's one catalog, on PostgreSQL (the only backend daemons on several hosts share)."""
    catalog = Catalog(pg_server.create_database(f"skew_{uuid.uuid4().hex[:12]}"))
    catalog.migrate()
    yield catalog
    catalog.dispose()


@pytest.fixture
def host_clock(monkeypatch: pytest.MonkeyPatch) -> Callable[[float], None]:
    """Set this process's clock `seconds` off the true time, as a host with a bad NTP sees it (every reading of
    the time the catalog code makes for itself)."""

    def set_off(seconds: float) -> None:
        def off() -> datetime:
            return datetime.now(UTC) + timedelta(seconds=seconds)

        monkeypatch.setattr(catalog_db, "utcnow", off)
        monkeypatch.setattr(job_repo, "utcnow", off, raising=False)  # where the queue read it before

    return set_off


def queue_one(catalog: Catalog, key: str) -> int:
    with catalog.session() as s:
        job, _ = job_repo.enqueue(s, "publish", key, {})
        return job.id


def claim(catalog: Catalog, worker: str) -> int | None:
    with catalog.session() as s:
        job = job_repo.claim(s, worker, lease_s=60)
        return None if job is None else job.id


def test_a_host_90_s_fast_does_not_take_over_a_job_another_host_runs(
    shared: Catalog, host_clock: Callable[[float], None]
) -> None:
    job_id = queue_one(shared, "publish:1")
    assert claim(shared, "london:100:publish") == job_id  # London's clock is right; its lease: 60 s
    host_clock(+90)  # Vancouver's runs 90 s fast
    assert claim(shared, "vancouver:200:publish") is None  # it took the job London was publishing
    with shared.session() as s:
        job = job_repo.get_job(s, job_id)
        assert job is not None and job.lease_owner == "london:100:publish" and job.attempts == 1
        assert lease_lapsed(job) is None  # and its `rushes status` does not call London's job stalled


def test_a_host_90_s_slow_holds_its_lease_and_waits_out_its_back_off(
    shared: Catalog, host_clock: Callable[[float], None]
) -> None:
    job_id = queue_one(shared, "publish:2")
    host_clock(
        -90
    )  # this daemon's clock is 90 s slow: its leases and back-offs were written 90 s in the past
    assert claim(shared, "vancouver:200:publish") == job_id
    with shared.session() as s:
        assert job_repo.heartbeat(s, job_id, "vancouver:200:publish", 60)
    host_clock(0)
    assert claim(shared, "london:100:publish") is None  # the lease it just renewed holds
    host_clock(-90)
    with shared.session() as s:
        job_repo.fail(s, job_id, "vancouver:200:publish", "tracker busy", backoff=30)
    host_clock(0)
    assert claim(shared, "london:100:publish") is None  # the 30 s back-off is waited out, not skipped
