"""Leadership: of several daemons on one catalog (SQLite or PostgreSQL), exactly one leads the scheduler."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from daemon.catalog import Catalog
from daemon.leader import Leadership
from tests.servers.postgres import PostgresServer

HOLDER = """
import sys
from daemon.catalog import Catalog
from daemon.leader import Leadership
leader = Leadership(Catalog(sys.argv[1]))
print("leading" if leader.try_acquire() else "not leading", flush=True)
sys.stdin.read()  # hold the lock until the test closes our stdin or kills us
"""

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def other_daemon(catalog_url: str) -> Iterator[Catalog]:
    """The same catalog as a second daemon opens it (its own engine and connections)."""
    other = Catalog(catalog_url)
    yield other
    other.dispose()


def test_only_one_of_two_daemons_leads_and_the_other_takes_over(
    catalog: Catalog, other_daemon: Catalog
) -> None:
    first, second = Leadership(catalog), Leadership(other_daemon)
    assert first.try_acquire()
    assert first.try_acquire()  # asking again while leading keeps the lead
    assert not second.try_acquire()
    assert first.is_leader and not second.is_leader
    assert first.still_leading()

    first.release()
    assert not first.is_leader
    assert second.try_acquire()
    assert not first.try_acquire()
    second.release()


def test_sqlite_lock_file_sits_next_to_the_database(tmp_path: Path) -> None:
    catalog = Catalog(f"sqlite:///{tmp_path / 'data' / 'catalog.sqlite'}")
    try:
        with Leadership(catalog) as leader:
            assert leader.try_acquire()
            assert leader.lock_path == tmp_path / "data" / "catalog.sqlite.scheduler.leader"
            assert leader.lock_path.exists()
        assert not leader.is_leader
    finally:
        catalog.dispose()


def test_a_leader_that_dies_frees_the_lead(catalog: Catalog, catalog_url: str) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, catalog_url],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "leading"
        waiting = Leadership(catalog)
        assert not waiting.try_acquire()
        holder.kill()  # no release: the kernel or the server must free the lock
        holder.wait(timeout=30)
        # PostgreSQL frees a session's advisory lock once its backend sees the connection gone: not at the
        # same instant as the kill on a busy machine, so ask again until it is free (bounded).
        deadline = time.monotonic() + 30
        while not waiting.try_acquire():
            assert time.monotonic() < deadline, "the dead leader's lock was never freed"
            time.sleep(0.1)
        waiting.release()
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait(timeout=30)


@pytest.mark.pg
def test_a_dropped_postgres_connection_loses_the_lead(pg_server: PostgresServer) -> None:
    url = pg_server.create_database("leader_dropped")
    first, second = Catalog(url), Catalog(url)
    try:
        leader, waiting = Leadership(first), Leadership(second)
        assert leader.try_acquire()
        assert not waiting.try_acquire()
        with second.engine.connect() as conn:  # an admin ends the leader's session
            conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_locks "
                    "WHERE locktype = 'advisory' AND pid <> pg_backend_pid() "
                    "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
                )
            )
        assert not leader.still_leading()
        assert not leader.is_leader
        assert waiting.try_acquire()
        assert not leader.try_acquire()
        waiting.release()
    finally:
        first.dispose()
        second.dispose()


def test_an_unreachable_postgres_is_not_leading_yet() -> None:
    catalog = Catalog("postgresql+psycopg://rushes@127.0.0.1:1/nowhere")
    leader = Leadership(catalog)
    assert not leader.try_acquire()  # logged; the daemon tries again on its next tick
    assert not leader.is_leader
