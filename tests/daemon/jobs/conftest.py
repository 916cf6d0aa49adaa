"""The lanes, yielding and progress tests run on a SQLite catalog of their own (tests/daemon/test_jobs.py covers
the queue on PostgreSQL too)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from daemon.catalog import Catalog


@pytest.fixture
def catalog(tmp_path: Path) -> Iterator[Catalog]:
    cat = Catalog(f"sqlite:///{tmp_path / 'catalog.sqlite'}")
    cat.migrate()
    yield cat
    cat.dispose()
