"""`rushes catalog copy`: a SQLite catalog in use for a while goes whole into a new database (PostgreSQL, or
another SQLite file), ids kept, and the copy goes on numbering after them; a copy that may not be made is
refused in one line and writes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from daemon.catalog import Catalog, CatalogError, cursors, fixes, models_repo, shows, tracker_reads, utcnow
from daemon.catalog import dailies as daily_repo
from daemon.catalog import jobs as job_repo
from daemon.catalog.copy import copy_catalog
from daemon.catalog.models import Base
from daemon.cli import exits
from daemon.leader import Leadership
from tests.daemon.test_cli import clean_env
from tests.homes import rushes

__all__ = ["clean_env"]  # the CLI tests' own home for each test


def facts(shot: str) -> daily_repo.DailyFacts:
    path = f"/ingest/{shot}_T01.mov"
    return daily_repo.DailyFacts(
        path=path,
        size_bytes=1_000_000,
        mtime=1_700_000_000.25,
        content_hash=f"blake2b:{path}",
        root="/ingest",
        shot=shot,
        take="T01",
        kind="movie",
        first_frame=1001,
        last_frame=1048,
        frame_count=48,
        fps=Fraction(24000, 1001),
        width=1280,
        height=720,
        codec="h264",
        pix_fmt="yuv420p",
        timecode="01:00:00:00",
    )


@pytest.fixture
def used(tmp_path: Path) -> Iterator[Catalog]:
    """A SQLite catalog after some weeks: shows, dailies (one excluded), two model versions, a request with a
    published and approved Version, jobs in every state but running, a cursor and a tracker read."""
    catalog = Catalog(f"sqlite:///{tmp_path / 'used.sqlite'}")
    catalog.migrate()
    with catalog.session() as s:
        shows.ensure_show(s, "MARS", "Mars")
        shows.ensure_show(s, "VENUS")
        for shot in ("A010", "A020", "A030"):
            daily_repo.register_daily(s, "MARS", facts(shot))
        daily_repo.exclude_daily(s, 2, "an actor's likeness: not to be trained on")
        models_repo.add_version(s, "MARS", "/models/MARS/v1", metrics={"denoise": {"psnr": 31.2}})
        models_repo.add_version(s, "MARS", "/models/MARS/v2", parent_version=1)
        request, _ = fixes.add_fix_request(s, "MARS", "shotgrid:event:41", "A010", ["denoise"])
        publication, _ = fixes.add_publication(s, request.id, "denoise", "pub:1:denoise", "/renders/a.mov")
        fixes.mark_published(s, publication.id, 4242)
        fixes.set_review(s, publication.id, "approved")
        for n in range(3):
            job_repo.enqueue(s, "ingest", f"ingest:{n}", {"path": f"/ingest/{n}.mov"}, show="MARS")
        cursors.set_cursor(s, "shotgrid:fix_requests", "41")
        tracker_reads.record_read(s, "render-1", "shotgrid", None, utcnow())
    with catalog.session() as s:
        job = job_repo.claim(s, "gone:1", lease_s=120)
        assert job is not None
        job.lease_expires = utcnow() - timedelta(minutes=5)  # its daemon died: not one in use
    yield catalog
    catalog.dispose()


def rows(catalog: Catalog) -> dict[str, list[dict[str, Any]]]:
    with catalog.engine.connect() as conn:
        return {
            t.name: [r._asdict() for r in conn.execute(select(t).order_by(*t.primary_key.columns))]
            for t in Base.metadata.sorted_tables
        }


def test_every_row_is_copied_with_its_id_and_the_copy_numbers_on_after_them(
    used: Catalog, catalog_url: str
) -> None:
    target = Catalog(catalog_url)
    try:
        told: list[tuple[str, int]] = []
        copied = copy_catalog(used, target, lambda table, n: told.append((table, n)))
        before, after = rows(used), rows(target)
        assert after == before
        assert dict(copied.tables)["dailies"] == 3 and dict(copied.tables)["jobs"] == 3
        assert told == list(copied.tables) and copied.rows == sum(len(v) for v in before.values())
        with target.session() as s:
            job, _ = job_repo.enqueue(s, "train", "train:MARS:1", {}, show="MARS")
            request, _ = fixes.add_fix_request(s, "MARS", "shotgrid:event:42", "A020", ["upscale"])
            assert (job.id, request.id) == (4, 2)  # after the copied ids, not over them
            assert models_repo.next_version(s, "MARS") == 3
            assert daily_repo.get_daily(s, 2).excluded_reason == "an actor's likeness: not to be trained on"
    finally:
        target.dispose()


def test_a_copy_that_may_not_be_made_is_refused_in_one_line_and_writes_nothing(
    used: Catalog, tmp_path: Path
) -> None:
    target = Catalog(f"sqlite:///{tmp_path / 'new.sqlite'}")
    try:
        with pytest.raises(CatalogError, match="into itself; name a new database"):
            copy_catalog(used, Catalog(used.url))
        with used.session() as s:  # a daemon working on it now
            working = job_repo.claim(s, "render-1:77", lease_s=120)
            assert working is not None
        with pytest.raises(
            CatalogError,
            match=r"now: a daemon works on it \(jobs are running under leases of render-1:77\); stop every daemon",
        ):
            copy_catalog(used, target)
        assert target.revision() is None  # nothing made in it
        with used.session() as s:
            assert job_repo.release(s, working.id, "render-1:77")
        copy_catalog(used, target)
        with pytest.raises(
            CatalogError, match=r"it already holds rows \(dailies, .*\); copy into a new, empty database$"
        ):
            copy_catalog(used, target)
    finally:
        target.dispose()


def test_the_command_copies_the_configured_catalog_and_says_what_to_set(
    used: Catalog, tmp_path: Path, clean_env: Path
) -> None:
    to = f"sqlite:///{tmp_path / 'moved.sqlite'}"
    code, output = rushes("catalog", "copy", to, env={"RUSHES_CATALOG_URL": used.url})
    assert code == 0, output
    lines = output.splitlines()
    assert "dailies: 3 row(s)" in lines
    assert lines[-1].startswith(
        f"copied {sum(len(v) for v in rows(used).values())} row(s) from {used.url} into {to}"
    )
    code, output = rushes("catalog", "copy", to, env={"RUSHES_CATALOG_URL": used.url})
    assert code == 2 and output.count("\n") == 1 and "copy into a new, empty database" in output


def test_the_command_refuses_a_catalog_whose_daemon_is_idle_but_running(
    used: Catalog, tmp_path: Path, clean_env: Path
) -> None:
    """A daemon with no job running still holds the scheduler's lock: whatever it ingests or answers after the
    copy would be missing from the new catalog (and asked again of the tracker), so the copy waits for it."""
    to = tmp_path / "moved.sqlite"
    daemon = Leadership(used)
    try:
        assert daemon.try_acquire()
        code, output = rushes("catalog", "copy", f"sqlite:///{to}", env={"RUSHES_CATALOG_URL": used.url})
    finally:
        daemon.release()
    assert code == exits.TRY_LATER and output.count("\n") == 1, (
        output
    )  # a wrapper's retry passes once it stops
    assert "a daemon works on it (one holds the scheduler's lock); stop every daemon that uses it" in output
    assert not to.exists() or Catalog(f"sqlite:///{to}").revision() is None  # nothing made in it


def test_a_copy_that_fails_midway_keeps_nothing_and_says_so_in_one_line(
    used: Catalog, tmp_path: Path
) -> None:
    target = Catalog(f"sqlite:///{tmp_path / 'new.sqlite'}")
    try:
        target.migrate()
        with target.engine.begin() as conn:  # the disk fills as the publications go in
            conn.exec_driver_sql(
                "CREATE TRIGGER full BEFORE INSERT ON publications BEGIN SELECT RAISE(ABORT, 'database or disk is "
                "full'); END"
            )
        with pytest.raises(CatalogError) as caught:
            copy_catalog(used, target)
        message = str(caught.value)
        assert "the copy stopped and nothing of it was kept" in message and "\n" not in message
        assert message.startswith(f"cannot open the catalog at {target.url}:")  # the full one, not the source
        assert all(not r for r in rows(target).values())  # the shows and dailies written first went too
    finally:
        target.dispose()
