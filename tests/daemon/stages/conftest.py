"""What the stage tests share: a migrated SQLite catalog with one show, the daemon's settings for it, and an
in-memory tracker (integrations.trackers.memory) with a task on each of two shots."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from daemon.catalog import Catalog
from daemon.catalog import shows as show_repo
from daemon.context import prepare_home
from daemon.settings import Settings, ShowConfig
from daemon.stages.ingest import Ingestor
from integrations.ingest.candidates import Candidate
from integrations.trackers.memory import MemoryTracker

SHOW = "DEMO"


@pytest.fixture
def home(tmp_path: Path) -> Path:
    prepare_home(tmp_path / "home")
    return tmp_path / "home"


@pytest.fixture
def settings(home: Path) -> Settings:
    return Settings(data_dir=home, shows=[ShowConfig(code=SHOW, tracker_project=SHOW)])


@pytest.fixture
def catalog(settings: Settings) -> Iterator[Catalog]:
    """SQLite only: these tests are about the stages; tests/daemon/test_catalog.py covers PostgreSQL."""
    cat = Catalog(settings.catalog)
    cat.migrate()
    with cat.session() as s:
        show_repo.ensure_show(s, SHOW)
    yield cat
    cat.dispose()


@pytest.fixture
def tracker() -> MemoryTracker:
    return MemoryTracker()


def movie_candidate(path: Path, shot: str) -> Candidate:
    """One movie of SHOW as the watcher hands it to the ingest stage, once it held still."""
    st = path.stat()
    return Candidate(
        root=path.parent,
        kind="movie",
        path=path,
        files=(path,),
        size=st.st_size,
        mtime=st.st_mtime,
        shot=shot,
    )


def ingest_movie(catalog: Catalog, path: Path, shot: str) -> int:
    """Catalogue one movie of SHOW as the ingest stage does; returns the new daily's id."""
    outcome = Ingestor(catalog).handle(SHOW, movie_candidate(path, shot))
    assert outcome.result == "registered" and outcome.daily_id is not None
    return outcome.daily_id
