"""The catalog on SQLite and PostgreSQL: migrations, shows, dailies, model versions, fixes, cursors, errors."""

from __future__ import annotations

import os
import subprocess
import sys
import unicodedata
from datetime import UTC, timedelta
from fractions import Fraction
from pathlib import Path
from types import SimpleNamespace

import psycopg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from psycopg import sql
from sqlalchemy import event, inspect, select, text

from daemon.catalog import Catalog, CatalogError, Daily, FixRequest, UnknownShow, utcnow
from daemon.catalog.cursors import get_cursor, set_cursor
from daemon.catalog.dailies import (
    DailyFacts,
    NoSuchDaily,
    alias_of,
    aliases,
    current_daily,
    dailies_for_shot,
    forget_gone_quarantined,
    list_dailies,
    quarantine,
    quarantined,
    register_daily,
    remove_daily,
    requarantine,
    same_state,
    shots,
    status_counts,
)
from daemon.catalog.db import MIGRATIONS, safe_url
from daemon.catalog.fixes import (
    add_fix_request,
    add_publication,
    approved_pairs,
    list_fix_requests,
    mark_published,
    newest_request_key,
    pending_publications,
    publication_for_version,
    set_fix_state,
    set_review,
)
from daemon.catalog.models import Base
from daemon.catalog.models_repo import add_version, latest_promoted, list_versions, next_version, promote
from daemon.catalog.shows import ensure_show, get_show, set_model_stale, stale_shows
from daemon.catalog.tracker_reads import read_states, record_read
from daemon.cli import exits
from tests.servers.postgres import PostgresServer

TABLES = {
    "shows",
    "dailies",
    "daily_aliases",
    "model_versions",
    "jobs",
    "fix_requests",
    "publications",
    "tracker_cursors",
    "tracker_reads",
    "unfollowed_requests",
}


def facts(path: str = "/ingest/A010_T01.mov", **changes: object) -> DailyFacts:
    base: dict[str, object] = {
        "path": path,
        "size_bytes": 1_000_000,
        "mtime": 1_700_000_000.25,
        "content_hash": f"blake2b:{path}",  # distinct content per path unless a test says otherwise
        "root": "/ingest",
        "shot": "A010",
        "take": "T01",
        "kind": "movie",
        "first_frame": 1001,
        "last_frame": 1048,
        "frame_count": 48,
        "fps": Fraction(24000, 1001),
        "width": 1280,
        "height": 720,
        "codec": "h264",
        "pix_fmt": "yuv420p",
        "timecode": "01:00:00:00",
    }
    base.update(changes)
    return DailyFacts(**base)  # type: ignore[arg-type]


@pytest.fixture
def show(catalog: Catalog) -> str:
    with catalog.session() as s:
        ensure_show(s, "MYSHOW", "My Show", {"ingest": {"roots": ["/ingest"]}})
    return "MYSHOW"


# --- migrations and opening -------------------------------------------------------------------------------


def test_migrate_upgrades_an_empty_database_to_head_and_is_repeatable(catalog_url: str) -> None:
    cat = Catalog(catalog_url)
    try:
        with pytest.raises(CatalogError, match="no Rushes tables yet"):
            cat.check()
        cat.migrate()
        cat.migrate()  # a second daemon starting: nothing to do
        assert cat.revision() == Catalog.head()
        cat.check()
        assert set(inspect(cat.engine).get_table_names()) >= TABLES
    finally:
        cat.dispose()


def test_migrate_says_where_it_started_and_refuses_a_schema_a_newer_rushes_made(catalog_url: str) -> None:
    """An upgrade's daemon logs the revision it migrated from; a rollback (or a daemon not yet upgraded beside one
    that is) meets a schema newer than its code: one line saying so, not Alembic's "Can't locate revision"."""
    cat = Catalog(catalog_url)
    try:
        assert cat.migrate() == ""  # a new catalog
        assert cat.migrate() is None  # nothing to do
        with cat.engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
        for call in (cat.migrate, cat.check):
            with pytest.raises(CatalogError) as caught:
                call()
            message = str(caught.value)
            assert f"revision 9999, newer than this Rushes knows ({Catalog.head()})" in message
            assert (
                message.endswith("restore the catalog's backup from before the upgrade")
                and "\n" not in message
            )
        assert cat.revision() == "9999"  # left as it was
    finally:
        cat.dispose()


def test_the_newest_revision_read_from_the_file_names_is_alembics_head() -> None:
    """Catalog.head() reads the migration file numbers (no Alembic at start): each revision id must be its
    file's number, so both agree."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    script = ScriptDirectory.from_config(config)
    assert Catalog.head() == script.get_current_head()
    for rev in script.walk_revisions():
        assert rev.path is not None and Path(rev.path).name.startswith(f"{rev.revision}_")


def test_models_and_migrations_agree(catalog: Catalog) -> None:
    with catalog.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    assert diff == [], "models changed without a migration: add one under daemon/catalog/migrations/versions"


def test_every_downgrade_keeps_the_shows_rows_on_sqlite_and_postgresql(catalog: Catalog, show: str) -> None:
    """A downgrade that drops a column must not copy the table: on SQLite dropping the old copy deleted every row
    that refers to it (a show's dailies, requests and Versions)."""
    from alembic import command

    from daemon.catalog.db import _alembic_config

    with catalog.session() as s:
        daily, _ = register_daily(s, show, facts())
        request, _ = add_fix_request(s, show, "memory:event:1", "A010", ["denoise"])
        add_publication(s, request.id, "denoise", "publish:1", "/renders/a.mov", source_path=daily.path)
    config = _alembic_config(catalog.url)
    with catalog.engine.begin() as conn:  # down to the first revision, one step at a time
        config.attributes["connection"] = conn
        command.downgrade(config, "0001")
    with catalog.engine.connect() as conn:
        kept = {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar() for t in TABLES_OF_A_SHOW}
    assert kept == dict.fromkeys(TABLES_OF_A_SHOW, 1)
    assert catalog.migrate() == "0001"  # and up again, rows and all
    with catalog.session(readonly=True) as s:
        assert [d.path for d in list_dailies(s, show)] == [daily.path]


TABLES_OF_A_SHOW = ("shows", "dailies", "fix_requests", "publications")


def test_session_on_an_unmigrated_database_says_what_to_do(catalog_url: str) -> None:
    cat = Catalog(catalog_url)
    try:
        with pytest.raises(CatalogError) as caught, cat.session() as s:
            get_show(s, "X")
        message = str(caught.value)
        assert message.startswith("cannot open the catalog at ") and "migrate" in message
        assert message.endswith("check catalog_url") and "\n" not in message
    finally:
        cat.dispose()


def test_unreachable_postgres_is_one_clear_line() -> None:
    cat = Catalog("postgresql+psycopg://rushes:secret@127.0.0.1:1/rushes")
    with pytest.raises(CatalogError) as caught:
        cat.migrate()
    message = str(caught.value)
    assert "127.0.0.1:1" in message and "secret" not in message and "check catalog_url" in message


def test_a_password_given_as_a_url_parameter_is_hidden_in_every_message() -> None:
    """A unix-socket URL gives its password as libpq's `password=` parameter: `rushes migrate`, `rushes status`
    (and --json) and the daemon's journal printed it in full."""
    url = "postgresql+psycopg:///fresh?host=/run/pg&port=5432&user=rushes&password=p%40ss%3Aw&sslpassword=k3y"
    shown = safe_url(url)
    assert "p%40ss" not in shown and "k3y" not in shown
    assert "password=***" in shown and "sslpassword=***" in shown and "host=%2Frun%2Fpg" in shown
    for password in ("se?cret", "se#cret"):  # a URL the old rendering hid, the query split must not reveal
        for given in (f"postgresql+psycopg://rushes:{password}@db/rushes", f"rushes:{password}@db/rushes"):
            assert "cret" not in safe_url(given), given
    assert "p%40ss" not in Catalog(url).url


def test_a_postgresql_with_no_connection_slot_for_rushes_says_try_again_later(
    pg_server: PostgresServer, tmp_path: Path
) -> None:
    """Other clients holding every connection slot (or the role's CONNECTION LIMIT reached) read as a wrong
    catalog_url: "check catalog_url" and exit 2 for scripts, and a fix's worker dead-lettered with it on the
    coordinator's task, where the URL was right and a slot comes free as the others end."""
    url = pg_server.create_database(f"slots_{os.getpid()}")
    role = f"limited_{os.getpid()}"
    with psycopg.connect(pg_server.dsn(), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN CONNECTION LIMIT 0").format(sql.Identifier(role)))
    limited = url.replace(f"//{pg_server.user}@", f"//{role}@")
    with pytest.raises(CatalogError) as caught:
        Catalog(limited).migrate()
    assert caught.value.passing and "too many connections for role" in str(caught.value)
    assert str(caught.value).endswith(
        "; try again later (if it lasts, check catalog_url and that the database is up)"
    )
    env = {**os.environ, "RUSHES_HOME": str(tmp_path / "home"), "RUSHES_CATALOG_URL": limited}
    status = subprocess.run(
        [sys.executable, "-m", "daemon", "status"], capture_output=True, text=True, timeout=120, env=env
    )
    assert status.returncode == exits.TRY_LATER, status.stderr


def test_a_full_disk_says_to_free_space_not_to_check_catalog_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A data disk filled up: /readyz and the ingest warnings said "...database or disk is full; check
    catalog_url", sending the admin to a setting that was right."""
    full = str(CatalogError("sqlite:////data/catalog.sqlite", "database or disk is full"))
    assert full.endswith("database or disk is full; free space on the disk that holds it")
    pg = str(
        CatalogError(
            "postgresql+psycopg://db/rushes", 'could not extend file "base/1": No space left on device'
        )
    )
    assert pg.endswith("free space on the disk that holds it") and "catalog_url" not in pg
    io = f"sqlite:///{tmp_path / 'catalog.sqlite'}"  # SQLite says I/O, not full, with no byte left at all
    monkeypatch.setattr("daemon.catalog.db.shutil.disk_usage", lambda _p: SimpleNamespace(free=0))
    assert str(CatalogError(io, "disk I/O error")).endswith(
        "disk I/O error; free space on the disk that holds it"
    )
    monkeypatch.setattr("daemon.catalog.db.shutil.disk_usage", lambda _p: SimpleNamespace(free=1 << 30))
    assert str(CatalogError(io, "disk I/O error")).endswith(
        "disk I/O error; check catalog_url"
    )  # room: not full
    locked = CatalogError("sqlite:////x", "the database is locked by another process (waited 30 s)")
    assert locked.passing and str(locked).endswith(
        "; try again later (if it lasts, check catalog_url and that the database is up)"
    )


def test_sqlite_runs_in_wal_mode_with_foreign_keys_and_busy_timeout(tmp_path: Path) -> None:
    cat = Catalog(f"sqlite:///{tmp_path}/sub/dir/catalog.sqlite")  # missing folders are created
    try:
        with cat.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert (conn.exec_driver_sql("PRAGMA busy_timeout").scalar() or 0) >= 1000
    finally:
        cat.dispose()


def test_timestamps_come_back_as_utc(catalog: Catalog, show: str) -> None:
    before = utcnow()
    with catalog.session() as s:
        daily, _ = register_daily(s, show, facts())
        daily_id = daily.id
    with catalog.session() as s:
        row = s.get(Daily, daily_id)
        assert row is not None and row.created_at.tzinfo is not None
        assert row.created_at.utcoffset() == timedelta(0)
        assert before - timedelta(seconds=5) <= row.created_at <= utcnow() + timedelta(seconds=5)
        assert row.created_at.tzinfo == UTC


# --- shows ---------------------------------------------------------------------------------------------------


def test_ensure_show_is_idempotent_and_keeps_config(catalog: Catalog, show: str) -> None:
    with catalog.session() as s:
        again, created = ensure_show(s, show)
        assert not created and again.name == "My Show"
        assert again.config == {"ingest": {"roots": ["/ingest"]}}
        set_model_stale(s, show)
    with catalog.session() as s:
        assert [x.code for x in stale_shows(s)] == [show]
        with pytest.raises(UnknownShow, match="'NOPE' is not in the catalog"):
            register_daily(s, "NOPE", facts())


def test_a_show_created_by_another_process_meanwhile_is_taken_not_an_error(
    catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two daemons starting at once both find the show missing; the one whose insert loses gets the row."""
    from daemon.catalog import shows as show_repo

    with catalog.session() as s:
        ensure_show(s, "RACE", "Race")  # the other daemon's insert, committed first
    real_get = show_repo.get_show
    looks = iter([None])  # this process read before that commit
    monkeypatch.setattr(show_repo, "get_show", lambda s, code: next(looks, real_get(s, code)))
    with catalog.session() as s:
        row, created = ensure_show(s, "RACE")
        assert not created and row.name == "Race"
    with catalog.session(readonly=True) as s:
        assert [x.code for x in show_repo.list_shows(s)].count("RACE") == 1


# --- dailies -------------------------------------------------------------------------------------------------


def test_register_daily_twice_keeps_one_row(catalog: Catalog, show: str) -> None:
    with catalog.session() as s:
        first, created = register_daily(s, show, facts())
        assert created
    with catalog.session() as s:
        second, created_again = register_daily(s, show, facts())
        assert not created_again and second.id == first.id
        assert second.fps == "24000/1001" and second.kind == "movie" and second.shot == "A010"
        assert len(list_dailies(s, show, status=None)) == 1


def test_changed_content_at_the_same_path_supersedes_the_old_row(catalog: Catalog, show: str) -> None:
    with catalog.session() as s:
        old, _ = register_daily(s, show, facts())
    with catalog.session() as s:
        new, created = register_daily(s, show, facts(size_bytes=2_000_000, content_hash="blake2b:bbb"))
        assert created and new.id != old.id
    with catalog.session() as s:
        rows = {d.id: d.status for d in list_dailies(s, show, status=None)}
        assert rows == {old.id: "superseded", new.id: "registered"}
        current = current_daily(s, show, facts().path)
        assert current is not None and current.content_hash == "blake2b:bbb"
        # Going back to the first content is new content again, not the superseded row.
        back, created = register_daily(s, show, facts())
        assert created and back.id not in rows


def test_a_quarantined_file_that_is_gone_is_no_longer_listed(
    catalog: Catalog, show: str, tmp_path: Path
) -> None:
    here = tmp_path / "cups.mp4"
    here.write_bytes(b"not a movie")
    with catalog.session() as s:
        quarantine(s, show, str(here), 11, 1.0, "not a movie")
        quarantine(s, show, str(tmp_path / "renamed-away.mp4"), 11, 1.0, "not a movie")
    with catalog.session() as s:
        assert forget_gone_quarantined(s, show) == [(str(tmp_path / "renamed-away.mp4"), "file gone")]
    with catalog.session() as s:
        assert [d.path for d in quarantined(s, show)] == [str(here)]
        assert forget_gone_quarantined(s) == []  # nothing more to forget


def test_a_sequence_read_under_another_frame_token_clears_its_old_quarantine(
    catalog: Catalog, show: str
) -> None:
    with catalog.session() as s:  # an older ingest spelled unpadded frames sh030.1.png ... with a lone #
        quarantine(s, show, "/ingest/sh030/sh030.#.png", 10, 1.5, "no frames found for this sequence")
        quarantine(s, show, "/ingest/sh031/sh031.#.png", 10, 1.5, "no frames found for this sequence")
    with catalog.session() as s:
        register_daily(s, show, facts("/ingest/sh030/sh030.@.png", kind="sequence", shot="sh030"))
    with catalog.session() as s:
        assert [d.path for d in quarantined(s, show)] == ["/ingest/sh031/sh031.#.png"]


def test_a_trackers_shot_code_finds_the_dailies_named_in_another_case(catalog: Catalog, show: str) -> None:
    with catalog.session() as s:
        register_daily(s, show, facts("/ingest/sh010_1.mov", shot="sh010"))
        register_daily(s, show, facts("/ingest/sh010_2.mov", shot="sh010"))
        register_daily(s, show, facts("/ingest/SH020_1.mov", shot="SH020"))
        register_daily(s, show, facts("/ingest/sh020_1.mov", shot="sh020"))
    with catalog.session() as s:
        assert [d.path for d in dailies_for_shot(s, show, "SH010")] == [
            "/ingest/sh010_1.mov",
            "/ingest/sh010_2.mov",
        ]
        assert [d.path for d in dailies_for_shot(s, show, "SH020")] == ["/ingest/SH020_1.mov"]  # exact first
        assert dailies_for_shot(s, show, "SH030") == []


def test_a_trackers_composed_shot_code_finds_dailies_a_mac_named_decomposed(
    catalog: Catalog, show: str
) -> None:
    """A Mac writes café as e + combining accent (NFD); the tracker's code is composed (NFC): the fix was refused as
    'no readable daily' while `rushes status` listed the daily under the same-looking shot."""
    decomposed = unicodedata.normalize("NFD", "café010")
    with catalog.session() as s:
        register_daily(s, show, facts(f"/ingest/{decomposed}_1.mov", shot=decomposed))
    with catalog.session() as s:
        found = dailies_for_shot(s, show, unicodedata.normalize("NFC", "CAFÉ010"))
        assert [d.path for d in found] == [f"/ingest/{decomposed}_1.mov"]


def test_quarantine_is_idempotent_and_a_readable_file_replaces_it(catalog: Catalog, show: str) -> None:
    path = "/ingest/B020_T02.mov"
    with catalog.session() as s:
        q1, created = quarantine(s, show, path, 10, 1.5, "moov atom not found\n(truncated upload)")
        assert created and q1.error == "moov atom not found (truncated upload)"
    with catalog.session() as s:
        q2, created = quarantine(s, show, path, 10, 1.5, "moov atom not found")
        assert not created and q2.id == q1.id
        assert [d.path for d in quarantined(s, show)] == [path]
        assert [d.path for d in quarantined(s)] == [path]
    with catalog.session() as s:
        _, created = register_daily(s, show, facts(path, size_bytes=20, mtime=2.5, shot="B020"))
        assert created
        assert quarantined(s, show) == []
        assert status_counts(s, show) == {(show, "registered"): 1, (show, "superseded"): 1}


def test_a_byte_identical_copy_under_another_name_is_an_alias_not_a_second_daily(
    catalog: Catalog, show: str
) -> None:
    twin = "/ingest/copies/A010_T01_copy.mov"
    with catalog.session() as s:
        first, _ = register_daily(s, show, facts(content_hash="blake2b:same"))
    with catalog.session() as s:
        again, created = register_daily(s, show, facts(twin, content_hash="blake2b:same", mtime=5.0))
        assert not created and again.id == first.id
        assert [d.path for d in list_dailies(s, show)] == [facts().path]
        assert [(a.path, a.mtime) for a in aliases(s, first.id)] == [(twin, 5.0)]
        assert alias_of(s, show, twin) is not None and alias_of(s, show, twin).id == first.id  # type: ignore[union-attr]
        # Seen again (a restart's reconcile scan): still one daily, one alias.
        register_daily(s, show, facts(twin, content_hash="blake2b:same", mtime=5.0))
        assert len(aliases(s, first.id)) == 1 and len(list_dailies(s, show, status=None)) == 1
    with catalog.session() as s:
        # The copy is edited: it is its own daily now, and no longer an alias.
        mine, created = register_daily(s, show, facts(twin, content_hash="blake2b:edited"))
        assert created and mine.id != first.id and aliases(s, first.id) == []


def test_content_rewritten_with_size_and_mtime_kept_is_seen_by_its_change_stamp(
    catalog: Catalog, show: str
) -> None:
    with catalog.session() as s:
        row, _ = register_daily(s, show, facts(change_stamp="11:100"))
        assert same_state(row, row.size_bytes, row.mtime, "11:100")
        assert not same_state(row, row.size_bytes, row.mtime, "11:200")  # rewritten: probe and hash again
        assert same_state(row, row.size_bytes, row.mtime, None)  # a caller without stamps: size and mtime
        # chmod moved the ctime but the content hashes the same: the row stays, its stamp is refreshed.
        same, created = register_daily(s, show, facts(change_stamp="11:200"))
        assert not created and same.id == row.id and same.change_stamp == "11:200"
        # Content really changed: the new hash supersedes the row.
        new, created = register_daily(s, show, facts(change_stamp="11:300", content_hash="blake2b:new"))
        assert created and new.id != row.id


def test_remove_and_requarantine_take_a_daily_out_and_keep_it_out(catalog: Catalog, show: str) -> None:
    with catalog.session() as s:
        a, _ = register_daily(s, show, facts("/ingest/A010_T01.mov"))
        b, _ = register_daily(s, show, facts("/ingest/A010_T02.mov"))
        a_id, b_id = a.id, b.id
    with catalog.session() as s:
        removed = remove_daily(s, a_id, "shot on the wrong show")
        assert (removed.status, removed.error) == ("removed", "shot on the wrong show")
        requarantine(s, b_id, "training: cannot be decoded\n(frame 12)")
    with catalog.session() as s:
        assert list_dailies(s, show) == []  # training and hold-out see neither
        assert [d.error for d in quarantined(s, show)] == ["training: cannot be decoded (frame 12)"]
        # Ingest meeting the unchanged file again keeps it out (same content, same row, same status).
        again, created = register_daily(s, show, facts("/ingest/A010_T01.mov", mtime=9.0))
        assert not created and again.id == a_id and again.status == "removed"
        with pytest.raises(NoSuchDaily, match="there is no daily 999"):
            remove_daily(s, 999)


def _catalog_at_0001(url: str, dailies: list[tuple[str, str | None, str]]) -> Catalog:
    """A catalog at revision 0001 (before content identity) holding show OLD's `dailies` (path, shot, content
    hash), registered as that Rushes registered them."""
    cat = Catalog(url)
    cat.migrate("0001")
    with cat.engine.begin() as conn:  # as that Rushes wrote it: the ORM of today has columns added since
        conn.execute(
            text(
                "INSERT INTO shows (code, name, config, model_stale, created_at, updated_at) "
                "VALUES ('OLD', 'OLD', '{}', false, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            )
        )
        for i, (path, shot, content_hash) in enumerate(dailies):
            conn.execute(
                text(
                    "INSERT INTO dailies (show_id, path, root, shot, missing_frames, size_bytes, mtime, content_hash, "
                    "status, created_at, updated_at) VALUES ((SELECT id FROM shows WHERE code = 'OLD'), :path, '', :shot, "
                    "'[]', 10, :mtime, :hash, 'registered', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
                ),
                {"path": path, "shot": shot, "mtime": i, "hash": content_hash},
            )
    return cat


def test_duplicates_registered_before_revision_0002_are_folded_into_aliases(catalog_url: str) -> None:
    cat = _catalog_at_0001(
        catalog_url,
        [("/in/a.mov", None, "h-a"), ("/in/copy_of_a.mov", None, "h-a"), ("/in/b.mov", None, "h-b")],
    )
    try:
        cat.migrate()
        with cat.session() as s:
            assert [d.path for d in list_dailies(s, "OLD")] == ["/in/a.mov", "/in/b.mov"]
            first = current_daily(s, "OLD", "/in/a.mov")
            assert first is not None and [a.path for a in aliases(s, first.id)] == ["/in/copy_of_a.mov"]
    finally:
        cat.dispose()


def test_a_shot_delivered_as_a_copy_of_another_shots_file_before_revision_0002_keeps_a_daily_to_fix(
    catalog_url: str,
) -> None:
    """An older Rushes catalogued the copy as the shot's own daily; the upgrade folds it into the first as an
    alias, and a fix of that shot used to be answered that its file had not reached an ingest folder yet."""
    cat = _catalog_at_0001(
        catalog_url, [("/in/sh060_1.mov", "sh060", "h-same"), ("/in/sh090_1.mov", "sh090", "h-same")]
    )
    try:
        cat.migrate()
        with cat.session(readonly=True) as s:
            assert [d.path for d in list_dailies(s, "OLD")] == ["/in/sh060_1.mov"]
            assert [d.path for d in dailies_for_shot(s, "OLD", "sh060")] == ["/in/sh060_1.mov"]
            assert [d.path for d in dailies_for_shot(s, "OLD", "SH090")] == ["/in/sh060_1.mov"]
            assert dailies_for_shot(s, "OLD", "sh070") == []
    finally:
        cat.dispose()


def test_dailies_by_shot_and_sequence_fields(catalog: Catalog, show: str) -> None:
    with catalog.session() as s:
        register_daily(s, show, facts("/ingest/A010_T01.mov"))
        register_daily(s, show, facts("/ingest/A010_T02.mov", take="T02"))
        register_daily(
            s,
            show,
            facts(
                "/ingest/C030/C030.####.exr",
                shot="C030",
                kind="sequence",
                fps="25",
                codec="exr",
                missing_frames=[1005, 1003],
            ),
        )
    with catalog.session() as s:
        assert [d.take for d in dailies_for_shot(s, show, "A010")] == ["T01", "T02"]
        assert shots(s, show) == ["A010", "C030"]
        row = current_daily(s, show, "/ingest/C030/C030.####.exr")
        assert row is not None and row.kind == "sequence" and row.fps == "25"
        assert row.missing_frames == [1003, 1005]
        assert row.mtime == facts().mtime and row.size_bytes == 1_000_000


def test_the_same_path_in_two_shows_is_two_dailies(catalog: Catalog, show: str) -> None:
    with catalog.session() as s:
        ensure_show(s, "OTHER")
        _, a = register_daily(s, show, facts())
        _, b = register_daily(s, "OTHER", facts())
        assert a and b
        assert len(list_dailies(s, "OTHER")) == 1


# --- model versions ------------------------------------------------------------------------------------------


def test_model_versions_number_per_show_and_promotion(catalog: Catalog, show: str) -> None:
    with catalog.session() as s:
        ensure_show(s, "OTHER")
        assert next_version(s, show) == 1
        v1 = add_version(s, show, "/models/MYSHOW/v1", metrics={"interpolate": {"psnr": 31.2}})
        v2 = add_version(s, show, "/models/MYSHOW/v2", parent_version=1)
        other = add_version(s, "OTHER", "/models/OTHER/v1")
        assert (v1.version, v2.version, other.version) == (1, 2, 1)
        assert next_version(s, show) == 3
        assert latest_promoted(s, show) is None
        promote(s, show, 1)
    with catalog.session() as s:
        current = latest_promoted(s, show)
        assert current is not None and current.version == 1 and current.metrics["interpolate"]["psnr"] == 31.2
        promote(s, show, 2)
        current = latest_promoted(s, show)
        assert current is not None and current.version == 2 and current.parent_version == 1
        promote(s, show, 1)  # roll back to the older one
        current = latest_promoted(s, show)
        assert current is not None and current.version == 1
        assert [v.promoted for v in list_versions(s, show)] == [True, True]
        assert latest_promoted(s, "OTHER") is None
        with pytest.raises(LookupError, match="no model version 9"):
            promote(s, show, 9)


# --- fix requests and publications ---------------------------------------------------------------------------


def test_fix_requests_and_publications_are_idempotent_and_approved_ones_are_pairs(
    catalog: Catalog, show: str
) -> None:
    with catalog.session() as s:
        request, created = add_fix_request(
            s,
            show,
            "shotgrid:event:1234",
            "A010",
            ["interpolate", "regrade"],
            {"frames": "1012-1016"},
            task_id=77,
        )
        assert created and request.task_id == "77" and request.state == "open"
        again, created = add_fix_request(s, show, "shotgrid:event:1234", "A010", ["interpolate"])
        assert not created and again.id == request.id and again.kinds == ["interpolate", "regrade"]
        pub, created = add_publication(
            s,
            request.id,
            "interpolate",
            "pub:1234:interpolate",
            "/renders/A010_fix.mov",
            source_path="/ingest/x.mov",
        )
        assert created
        pub2, created = add_publication(s, request.id, "interpolate", "pub:1234:interpolate", "/other.mov")
        assert not created and pub2.id == pub.id and pub2.movie_path == "/renders/A010_fix.mov"
        regrade, _ = add_publication(s, request.id, "regrade", "pub:1234:regrade", "/renders/A010_grade.mov")
        set_fix_state(s, request.id, "rendered")
        assert [p.key for p in pending_publications(s)] == ["pub:1234:interpolate", "pub:1234:regrade"]
    with catalog.session() as s:
        mark_published(s, pub.id, 5001)
        mark_published(s, regrade.id, 5002)
        assert pending_publications(s) == []
        found = publication_for_version(s, 5001)
        assert found is not None and found.id == pub.id
        set_review(s, pub.id, "approved", "looks right")
        set_review(s, regrade.id, "rejected", "too warm")
        with pytest.raises(ValueError, match="review status"):
            set_review(s, pub.id, "maybe")
    with catalog.session() as s:
        pairs = approved_pairs(s, show)
        assert [(p.fix_kind, p.source_path, p.movie_path) for p in pairs] == [
            ("interpolate", "/ingest/x.mov", "/renders/A010_fix.mov")
        ]
        assert approved_pairs(s, show, "regrade") == []
        assert pairs[0].fix_request.shot == "A010"


# --- tracker cursors -----------------------------------------------------------------------------------------


def test_cursor_commits_with_its_work_and_rolls_back_with_it(catalog: Catalog, show: str) -> None:
    with catalog.session() as s:
        assert get_cursor(s, "shotgrid:fix_requests") is None
        set_cursor(s, "shotgrid:fix_requests", "100")
        add_fix_request(s, show, "shotgrid:event:100", "A010", ["denoise"])
    with pytest.raises(RuntimeError, match="crash"), catalog.session() as s:
        set_cursor(s, "shotgrid:fix_requests", "101")
        add_fix_request(s, show, "shotgrid:event:101", "A010", ["denoise"])
        raise RuntimeError("crash while handling the batch")
    with catalog.session() as s:
        assert get_cursor(s, "shotgrid:fix_requests") == "100"
        keys = {r.request_key for r in s.scalars(select(FixRequest))}
        assert keys == {"shotgrid:event:100"}
        set_cursor(s, "shotgrid:fix_requests", "101")
    with catalog.session(readonly=True) as s:
        assert get_cursor(s, "shotgrid:fix_requests") == "101"


# --- tracker reads --------------------------------------------------------------------------------------------


def test_a_daemons_tracker_reads_keep_since_when_they_fail_and_refresh_little_while_nothing_changes(
    catalog: Catalog,
) -> None:
    t0 = utcnow()
    with catalog.session() as s:
        assert record_read(s, "render-1", "shotgrid", None, t0)
        assert not record_read(s, "render-1", "shotgrid", None, t0 + timedelta(seconds=10))  # nothing to say
        refused = "ShotGrid rejected script 'rushes'"
        assert record_read(s, "render-1", "shotgrid", refused, t0 + timedelta(minutes=2))
        assert not record_read(s, "render-1", "shotgrid", refused, t0 + timedelta(minutes=2, seconds=30))
        # another reason, the same outage: the reason is kept up to date, `since` is when it began
        assert record_read(s, "render-1", "shotgrid", "connection refused", t0 + timedelta(minutes=3))
        assert record_read(
            s, "render-1", "shotgrid", "connection refused", t0 + timedelta(minutes=4)
        )  # a minute on
        record_read(s, "render-2", "shotgrid", None, t0 - timedelta(days=2))
    with catalog.session(readonly=True) as s:
        one, two = read_states(s)
        assert [r.host for r in read_states(s, checked_after=t0 - timedelta(days=1))] == ["render-1"]
    assert (one.host, one.problem, one.since, one.read_at, one.checked_at) == (
        "render-1",
        "connection refused",
        t0 + timedelta(minutes=2),
        t0,
        t0 + timedelta(minutes=4),
    )
    assert two.host == "render-2" and two.problem is None
    with catalog.session() as s:
        assert record_read(s, "render-1", "shotgrid", None, t0 + timedelta(minutes=5))
        assert record_read(
            s, "render-1", "shotgrid", None, t0 + timedelta(minutes=6, seconds=1)
        )  # a minute on
        (back, _) = read_states(s)
    assert back.problem is None and back.since == t0 + timedelta(minutes=5)
    assert back.read_at == back.checked_at == t0 + timedelta(minutes=6, seconds=1)


def test_requests_on_an_unfollowed_project_are_kept_once_each_grouped_by_project_and_forgotten_after_30_days(
    catalog: Catalog,
) -> None:
    from daemon.catalog.unfollowed import UnfollowedProject, record_unfollowed, unfollowed_projects

    t0 = utcnow()
    with catalog.session() as s:
        assert record_unfollowed(s, "kitsu", "kitsu:comment:1", "MRS", ("MRS", "Mars"), "SH010", t0)
        assert not record_unfollowed(s, "kitsu", "kitsu:comment:1", "MRS", ("MRS", "Mars"), "SH010", t0)
        assert record_unfollowed(
            s, "kitsu", "kitsu:comment:2", "MRS", ("MRS", "Mars"), "SH020", t0 + timedelta(1)
        )
        assert record_unfollowed(s, "kitsu", "kitsu:comment:3", "VEN", ("VEN",), "SH010", t0 + timedelta(2))
    with catalog.session(readonly=True) as s:
        assert unfollowed_projects(s) == [
            UnfollowedProject("kitsu", "MRS", ("MRS", "Mars"), 2, t0, t0 + timedelta(1), ("SH010", "SH020")),
            UnfollowedProject("kitsu", "VEN", ("VEN",), 1, t0 + timedelta(2), t0 + timedelta(2), ("SH010",)),
        ]
    with catalog.session() as s:  # a month on, the first is forgotten as a new one comes
        record_unfollowed(
            s, "kitsu", "kitsu:comment:4", "VEN", ("VEN",), "SH030", t0 + timedelta(days=30, hours=1)
        )
        assert [(p.project, p.requests, p.since) for p in unfollowed_projects(s)] == [
            ("MRS", 1, t0 + timedelta(1)),
            ("VEN", 2, t0 + timedelta(2)),
        ]
    with catalog.session(readonly=True) as s:  # with no new one to prune them, old lines go by themselves
        later = unfollowed_projects(s, t0 + timedelta(days=32, hours=1))
        assert [(p.project, p.requests) for p in later] == [("VEN", 1)]


def test_the_newest_request_recorded_on_a_task_is_named_for_the_tracker(catalog: Catalog, show: str) -> None:
    # asked again while the first rendered, the second published first: the first's publish named its own event, so
    # ShotGrid kept the task in fix, for a request that was already done, for good
    with catalog.session() as s:
        first, _ = add_fix_request(s, show, "shotgrid:event:10", "sh010", ["denoise"], task_id=7)
        second, _ = add_fix_request(s, show, "shotgrid:event:14", "sh010", ["upscale"], task_id=7)
        other, _ = add_fix_request(s, show, "shotgrid:event:20", "sh020", ["denoise"], task_id=8)
        untracked, _ = add_fix_request(s, show, "cli:1", "sh030", ["denoise"])
        assert newest_request_key(s, first) == newest_request_key(s, second) == "shotgrid:event:14"
        assert newest_request_key(s, other) == "shotgrid:event:20"
        assert newest_request_key(s, untracked) == "cli:1"


def test_listing_fix_requests_reads_their_publications_in_one_query(catalog: Catalog, show: str) -> None:
    """`rushes status` lists each show's 50 newest requests with their Versions: each request's publications were
    read in a query of their own, 1,000 round trips to the catalog for 20 shows (bench/catalog_scale.py)."""
    with catalog.session() as s:
        for n in range(30):
            request, _ = add_fix_request(s, show, f"req-{n}", f"sh{n:03d}", ["denoise"])
            add_publication(s, request.id, "denoise", f"publish:{n}", f"/renders/sh{n:03d}/v1.mp4")
    statements: list[str] = []

    def remember(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        statements.append(statement)

    event.listen(catalog.engine, "before_cursor_execute", remember)
    try:
        with catalog.session(readonly=True) as s:
            requests = list_fix_requests(s, show, limit=50)
            assert sorted(len(r.publications) for r in requests) == [1] * 30
    finally:
        event.remove(catalog.engine, "before_cursor_execute", remember)
    assert sum("FROM publications" in sql for sql in statements) == 1, statements


def test_the_catalog_check_reads_while_another_process_holds_the_sqlite_write_lock(tmp_path: Path) -> None:
    """A readiness probe asked for the write lock to read the schema's revision: under a stuck sqlite3 shell's
    `BEGIN EXCLUSIVE` it answered after 30 s, past every monitor's timeout."""
    import sqlite3

    catalog = Catalog(f"sqlite:///{tmp_path / 'catalog.sqlite'}")
    catalog.migrate()
    holder = sqlite3.connect(str(tmp_path / "catalog.sqlite"))
    try:
        holder.execute("BEGIN EXCLUSIVE")
        catalog.check()  # a read: at once
    finally:
        holder.close()
        catalog.dispose()


def test_a_new_connection_reads_at_once_while_another_process_holds_the_sqlite_write_lock(
    tmp_path: Path,
) -> None:
    """Each new connection set the file's auto-vacuum mode, which takes the write lock: a /readyz probe on a
    fresh pooled connection waited out a stuck writer for 30 s, and readiness flapped between 200 and 503."""
    import sqlite3
    import time

    url = f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    made = Catalog(url)
    made.migrate()
    made.dispose()
    holder = sqlite3.connect(str(tmp_path / "catalog.sqlite"), isolation_level=None)
    catalog = Catalog(url)  # its first connection is made under the lock
    try:
        holder.execute("BEGIN IMMEDIATE")
        started = time.monotonic()
        catalog.check()
        assert time.monotonic() - started < 10  # not the 30 s busy timeout
    finally:
        holder.close()
    try:
        with catalog.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA auto_vacuum").scalar() == 2  # still incremental, as made
    finally:
        catalog.dispose()
