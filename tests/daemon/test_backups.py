"""The catalog's backup and restore as docs/operations.md ("Backups, upgrades and logs") gives them, run as written:
a restore brings the backup back whole, also beside what a killed daemon left, and on PostgreSQL an older
backup restored into an empty database is migrated again by this Rushes."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from daemon.catalog import Catalog, CatalogError
from daemon.catalog.shows import ensure_show, list_shows
from tests.servers.postgres import PostgresServer, find_bin_dir

DOCS = Path(__file__).resolve().parents[2] / "docs" / "operations.md"


def documented(pattern: str) -> str:
    """The one shell command of docs/operations.md matching `pattern` (its line breaks joined as written)."""
    text = " ".join(DOCS.read_text().split())  # the docs wrap long lines
    commands = [
        c for c in re.findall(r"`((?:umask \d+; )?python3 -c \"[^`]*\")`", text) if re.search(pattern, c)
    ]
    assert len(commands) == 1, commands
    return commands[0]


def shows(url: str) -> list[str]:
    cat = Catalog(url)
    try:
        with cat.session(readonly=True) as s:
            return sorted(row.code for row in list_shows(s))
    finally:
        cat.dispose()


def add_show(url: str, code: str) -> None:
    cat = Catalog(url)
    try:
        with cat.session() as s:
            ensure_show(s, code)
    finally:
        cat.dispose()


def killed_daemon_writes(database: Path, code: str) -> None:
    """A daemon that adds a show and is SIGKILLed: its write stays in the `-wal` beside the catalog."""
    script = (
        "import os, signal, sqlite3\n"
        f"c = sqlite3.connect({str(database)!r}, isolation_level=None)\n"
        "c.execute('PRAGMA journal_mode=WAL'); c.execute('PRAGMA wal_autocheckpoint=0')\n"
        'c.execute("INSERT INTO shows (code, name, config, model_stale, created_at, updated_at) VALUES '
        f"('{code}', '{code}', '{{}}', 0, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)\")\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], timeout=60)
    assert done.returncode == -9
    assert database.with_name(database.name + "-wal").stat().st_size > 0


def test_the_documented_sqlite_restore_brings_the_backup_back_beside_a_killed_daemons_wal(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    database = data_dir / "catalog.sqlite"
    url = f"sqlite:///{database}"
    cat = Catalog(url)
    cat.migrate()
    cat.dispose()
    add_show(url, "KEPT")
    backup = documented(r"connect\('DATA_DIR/catalog\.sqlite'\)\.backup").replace("DATA_DIR", str(data_dir))
    subprocess.run(["bash", "-c", f"umask 022; {backup}"], cwd=tmp_path, check=True, timeout=60)
    assert (
        tmp_path / "catalog-backup.sqlite"
    ).stat().st_mode & 0o007 == 0  # never other users', as the catalog
    killed_daemon_writes(database, "SINCE")
    assert shows(url) == ["KEPT", "SINCE"]
    killed_daemon_writes(
        database, "LATER"
    )  # the WAL holds a write again, as a daemon killed before the restore

    copied = tmp_path / "copied"  # what the docs warn of: the file copied back, the -wal left beside it
    copied.mkdir()
    (copied / "catalog.sqlite").write_bytes((tmp_path / "catalog-backup.sqlite").read_bytes())
    wal = database.with_name("catalog.sqlite-wal")
    (copied / "catalog.sqlite-wal").write_bytes(wal.read_bytes())
    assert "LATER" in shows(f"sqlite:///{copied / 'catalog.sqlite'}")  # nothing was restored

    restore = documented(r"connect\('catalog-backup\.sqlite'\)\.backup").replace("DATA_DIR", str(data_dir))
    subprocess.run(["bash", "-c", restore], cwd=tmp_path, check=True, timeout=60)
    assert shows(url) == ["KEPT"]
    Catalog(url).check()


@pytest.mark.pg
def test_an_older_postgresql_backup_restored_into_an_empty_database_is_migrated_again(
    pg_server: PostgresServer,
) -> None:
    bins = find_bin_dir()
    url = pg_server.create_database("before_upgrade")
    cat = Catalog(url)
    cat.migrate("0003")  # the release before the upgrade
    with cat.engine.begin() as conn:  # as that release wrote it: the ORM of today has columns added since
        conn.execute(
            text(
                "INSERT INTO shows (code, name, config, model_stale, created_at, updated_at) "
                "VALUES ('KEPT', 'KEPT', '{}', false, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            )
        )
    dump = Path(pg_server.datadir).parent / "catalog.dump"
    dsn = pg_server.dsn("before_upgrade")
    subprocess.run([str(bins / "pg_dump"), "-Fc", "-f", str(dump), dsn], check=True, timeout=120)
    cat.migrate()  # the upgrade
    add_show(url, "SINCE")
    cat.dispose()

    subprocess.run(  # what the docs warn of: --clean onto the migrated catalog (it may or may not report errors)
        [str(bins / "pg_restore"), "--clean", "--if-exists", "-d", dsn, str(dump)],
        capture_output=True,
        timeout=120,
    )
    mixed = Catalog(url)
    assert mixed.revision() == "0003"
    with pytest.raises(CatalogError) as caught:
        mixed.migrate()
    message = str(caught.value)
    assert "its tables are ahead of the schema revision it records (0003)" in message and "\n" not in message
    assert message.endswith(
        'restore the backup into an empty database (docs/operations.md, "Backups, upgrades and logs")'
    )
    mixed.dispose()

    empty = pg_server.create_database("restored")
    subprocess.run(
        [str(bins / "pg_restore"), "-d", pg_server.dsn("restored"), str(dump)], check=True, timeout=120
    )
    restored = Catalog(empty)
    assert restored.revision() == "0003"
    assert restored.migrate() == "0003" and restored.revision() == Catalog.head()
    restored.dispose()
    assert shows(empty) == ["KEPT"]
