"""A worker process keeps its catalog between jobs: a Ray worker runs job after job, and opening (and checking the
schema of) the catalog for each one only cost CPU beside the jobs. Another catalog URL opens that one and closes
the old one; the settings themselves are read again for every job."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from daemon.jobs import worker


@pytest.fixture(autouse=True)
def no_kept_catalog() -> Iterator[None]:
    """Each test starts without a kept catalog and leaves none (nor the job's logging set-up) behind."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:], root.level = handlers, level
    for catalog in worker._catalogs.values():
        catalog.dispose()
    worker._catalogs.clear()


def config(tmp_path: Path, name: str, log_level: str = "info") -> str:
    path = tmp_path / f"{name}.yaml"
    data_dir = tmp_path / name
    path.write_text(
        yaml.safe_dump(
            {"data_dir": str(data_dir), "catalog_url": f"sqlite:///{data_dir}.sqlite", "log_level": log_level}
        )
    )
    return str(path)


def test_jobs_in_one_worker_share_one_open_catalog_and_read_their_settings_each_time(tmp_path: Path) -> None:
    first = worker._context(config(tmp_path, "a"))
    again = worker._context(config(tmp_path, "a", log_level="debug"))
    assert again.catalog is first.catalog, "the second job reuses the open, migrated catalog"
    assert again.settings.log_level == "debug", "but reads its settings again"
    with again.catalog.session(readonly=True) as s:
        assert s.connection() is not None


def test_a_job_for_another_catalog_opens_it_and_the_old_one_is_closed(tmp_path: Path) -> None:
    first = worker._context(config(tmp_path, "a"))
    other = worker._context(config(tmp_path, "b"))
    assert other.catalog is not first.catalog
    assert list(worker._catalogs) == [other.settings.catalog], "one catalog kept: the newest"
    assert Path(tmp_path / "b.sqlite").is_file(), "the other catalog was created and migrated"
