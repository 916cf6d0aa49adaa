"""Shared fixtures: a real PostgreSQL server for the session, and a migrated catalog on SQLite and PostgreSQL."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from daemon.catalog import Catalog
from tests.servers.postgres import INSTALL_HINT, PostgresServer, PostgresUnavailable, find_bin_dir

_db_numbers = itertools.count(1)


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    """A throw-away PostgreSQL server. RUSHES_TEST_PG=off skips the tests that need it; missing PostgreSQL
    programs fail them, because every catalog test must also pass on PostgreSQL."""
    if os.environ.get("RUSHES_TEST_PG", "").lower() in ("off", "0", "no", "false"):
        pytest.skip("PostgreSQL tests are off (RUSHES_TEST_PG=off)")
    try:
        find_bin_dir()
    except PostgresUnavailable:
        pytest.fail(f"PostgreSQL server programs not found: {INSTALL_HINT}", pytrace=False)
    server = PostgresServer.start(tmp_path_factory.mktemp("postgres"))
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.pg)])
def catalog_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database: a SQLite file in tmp_path, or a fresh database on the session's PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    server: PostgresServer = request.getfixturevalue("pg_server")
    return server.create_database(f"catalog_{os.getpid()}_{next(_db_numbers)}")


@pytest.fixture
def catalog(catalog_url: str) -> Iterator[Catalog]:
    """A catalog migrated to head, on each backend in turn."""
    cat = Catalog(catalog_url)
    cat.migrate()
    yield cat
    cat.dispose()
