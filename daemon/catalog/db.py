"""The catalog database: one engine per URL, sessions that are one transaction each, migrations to head.

SQLite (the default) runs in WAL mode with foreign keys on, a busy timeout and incremental auto-vacuum (a new file),
and every write session starts with `BEGIN IMMEDIATE`, so two processes never interleave a read-then-write. PostgreSQL is used
as-is through psycopg 3 (`postgresql+psycopg://user@host/db`).

Opening a catalog that is already at the newest schema imports no Alembic: the revision is read from Alembic's
own `alembic_version` table and the newest one is the highest `NNNN_*.py` in migrations/versions (each
migration's revision id is its file's number; tests/daemon/test_catalog.py checks that against Alembic). Only
a catalog that needs upgrading runs Alembic.
"""

from __future__ import annotations

import re
import shutil
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import (
    ArgumentError,
    DBAPIError,
    IntegrityError,
    NoSuchModuleError,
    OperationalError,
    ProgrammingError,
)
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).parent / "migrations"
VERSION_TABLE = "alembic_version"  # where Alembic keeps the revision a database is at
BUSY_TIMEOUT_S = 30.0
_MIGRATE_LOCK = 0x52555348  # "RUSH": PostgreSQL advisory lock id held while migrating
_NOT_MIGRATED = "it has no Rushes tables yet (start the daemon or run `rushes migrate` to create them)"


_NEWER = "its schema is at revision "
_AHEAD = "its tables are ahead of the schema revision it records"


def newer_schema(current: str, head: str) -> str:
    """Why a catalog upgraded by a newer Rushes cannot be used by this one."""
    return (
        f"{_NEWER}{current}, newer than this Rushes knows ({head}): a newer Rushes upgraded it; "
        "run that version here too, or restore the catalog's backup from before the upgrade"
    )


# SQLite's and PostgreSQL's words for a full disk or quota (PostgreSQL: "could not extend file ...: No space left")
_FULL_TEXTS = ("database or disk is full", "no space left on device", "disk quota exceeded")
FULL_BELOW_BYTES = 1 << 20  # a disk with less room than this is full for SQLite (its pages, journal and -shm)
# A catalog held by another process, or a database server away for now (restarting, failing over): what may pass
# by itself, so a script can try again later (`rushes` exits with its own status for it, daemon.cli.exits)
_PASSING_TEXTS = (
    "database is locked",
    "connection refused",
    "could not connect",
    "connection timeout",
    "timeout expired",
    "server closed the connection unexpectedly",
    "the database system is starting up",
    "the database system is shutting down",
    "the database system is in recovery mode",
    "terminating connection due to administrator command",
    # every connection slot taken by other clients, or a role's or a database's CONNECTION LIMIT reached: the URL
    # is right, and a slot comes free as they end (it used to say "check catalog_url" and exit 2)
    "remaining connection slots are reserved",
    "too many clients already",
    "too many connections for",
)

_Row = TypeVar("_Row")


def insert_once(s: Session, row: _Row, find: Callable[[], _Row | None]) -> tuple[_Row, bool]:
    """Insert `row` in a savepoint; if its unique key is already taken (another process inserted the same key a
    moment ago, e.g. two daemons starting at once), return that writer's row, found by `find`, instead.

    Returns (row, True) when this call inserted it, (the existing row, False) otherwise. The outer transaction
    survives the failed insert (only the savepoint rolls back); an IntegrityError with no row to find is re-raised.
    """
    try:
        with s.begin_nested():
            s.add(row)
            s.flush()
    except IntegrityError:
        existing = find()
        if existing is None:
            raise
        return existing, False
    return row, True


def utcnow() -> datetime:
    """The current time, timezone-aware UTC (what every timestamp column stores)."""
    return datetime.now(UTC)


def catalog_now(s: Session) -> datetime:
    """The catalog's clock, timezone-aware UTC: on PostgreSQL the server's (read in `s`), so every daemon sharing
    the catalog judges leases, back-offs and due times by one clock, whatever its own reads (a daemon whose clock
    ran 90 s fast took over the jobs the others were running, their leases expired by its clock); on SQLite, a
    file that only this machine's daemons open, this machine's."""
    if s.get_bind().dialect.name != "postgresql":
        return utcnow()
    now = s.execute(text("SELECT clock_timestamp()")).scalar_one()
    return now if now.tzinfo is not None else now.replace(tzinfo=UTC)


class CatalogError(Exception):
    """The catalog database cannot be used as configured: one line naming the URL and what to do."""

    passing = False  # whether a later try may pass by itself (a refusal of a subclass: never)

    def __init__(self, url: str, reason: str) -> None:
        # a full disk is no fault of catalog_url: say what to do about it instead
        full = any(text_ in reason.lower() for text_ in _FULL_TEXTS) or _io_error_on_full_disk(url, reason)
        # held by another process or its server away for now: catalog_url is right, and a later try may pass
        self.passing = not full and any(text_ in reason.lower() for text_ in _PASSING_TEXTS)
        advice = "; free space on the disk that holds it" if full else "; check catalog_url"
        if self.passing:
            advice = "; try again later (if it lasts, check catalog_url and that the database is up)"
        if reason.startswith((_NEWER, _AHEAD)):  # it says what to do itself; catalog_url is right
            advice = ""
        super().__init__(f"cannot open the catalog at {url}: {reason}{advice}")
        self.url = url
        self.reason = reason


def _io_error_on_full_disk(url: str, reason: str) -> bool:
    """SQLite's "disk I/O error" where its file's disk has no room left: with nothing free at all it cannot even
    size its shared-memory file, and says I/O, not full."""
    if "disk i/o error" not in reason.lower() or not url.startswith("sqlite:///"):
        return False
    try:
        return shutil.disk_usage(Path(url.removeprefix("sqlite:///")).parent).free < FULL_BELOW_BYTES
    except OSError:
        return False


# a libpq parameter holding a secret in a URL's query (`?password=...`, `&sslpassword=...`): its value
_SECRET_PARAMETER = re.compile(r"([?&][^=&?]*password=)[^&]*", re.IGNORECASE)


def safe_url(url: str | URL) -> str:
    """The URL with any password shown as ***, for messages and logs: its `user:password@` part's, also where the
    URL does not parse as meant (an unescaped @ in the password: everything up to the host's @ is hidden), and
    that of a libpq `password=` parameter in its query (a unix-socket URL's way to give one)."""
    try:
        parsed = url if isinstance(url, URL) else make_url(url)
    except (ArgumentError, ValueError):
        parsed = None
    if parsed is not None and "@" not in f"{parsed.host or ''}{parsed.database or ''}":
        return _hidden_parameters(parsed.render_as_string(hide_password=True))
    userinfo, at, host = _hidden_parameters(str(url)).rpartition("@")
    scheme, sep, credentials = userinfo.rpartition("://")
    user, colon, _ = credentials.partition(":")
    return f"{scheme}{sep}{user}:***@{host}" if at and colon else f"{userinfo}{at}{host}"


def _hidden_parameters(text_: str) -> str:
    return _SECRET_PARAMETER.sub(lambda m: m.group(1) + "***", text_)


def _one_line(text_: str, limit: int = 300) -> str:
    line = " ".join(text_.strip().splitlines()[:1]) or "unknown error"
    return line if len(line) <= limit else line[: limit - 1] + "…"


def explain(exc: BaseException) -> str:
    """A one-line reason for a database error a user can meet (locked, unreachable, not migrated)."""
    orig = getattr(exc, "orig", None) or exc
    message = str(orig)
    if "no such table" in message or getattr(orig, "sqlstate", None) == "42P01":
        return _NOT_MIGRATED
    if "database is locked" in message:
        return f"the database is locked by another process (waited {BUSY_TIMEOUT_S:.0f} s)"
    if "unable to open database file" in message:
        return "the SQLite file or its folder cannot be opened (does the folder exist and is it writable?)"
    return _one_line(message)


def _sqlite_connect(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
    # Take transaction control away from pysqlite; the "begin" hook below emits BEGIN itself.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        # a new file only (an existing one keeps its mode until VACUUM): pages freed by `rushes prune` can be given
        # back to the file system a few at a time, while daemons run (daemon.ops.retention.reclaim). Asked of an
        # existing file it takes the write lock: every new connection (a /readyz probe's) waited out another
        # process holding it, 30 s, where a read goes through at once
        if cursor.execute("PRAGMA page_count").fetchone()[0] == 0:
            cursor.execute("PRAGMA auto_vacuum = INCREMENTAL")
        cursor.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()


def _sqlite_begin(conn: Connection) -> None:
    mode = "DEFERRED" if conn.get_execution_options().get("rushes_readonly") else "IMMEDIATE"
    conn.exec_driver_sql(f"BEGIN {mode}")


def make_engine(url: str | URL) -> Engine:
    """An engine for `url` with the catalog's SQLite pragmas, or a PostgreSQL engine with pre-ping."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed, connect_args={"timeout": BUSY_TIMEOUT_S})
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(parsed, pool_pre_ping=True, connect_args=_pg_args(parsed))


def _pg_args(url: URL) -> dict[str, Any]:
    if url.get_backend_name() == "postgresql" and "connect_timeout" not in url.query:
        return {"connect_timeout": 10}
    return {}


class Catalog:
    """The catalog database at one URL.

    `with catalog.session() as s:` is one transaction: committed when the block ends, rolled back when it
    raises. Errors reaching the database (unreachable, locked, not migrated) become `CatalogError`.
    """

    def __init__(self, url: str | URL) -> None:
        self.url = safe_url(url)
        try:
            self.engine = make_engine(url)
        except (ArgumentError, NoSuchModuleError, ImportError) as exc:
            raise CatalogError(self.url, f"not a usable database URL ({_one_line(str(exc))})") from exc
        except OSError as exc:
            raise CatalogError(self.url, f"cannot create its folder {exc.filename} ({exc.strerror})") from exc
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._readonly = sessionmaker(
            self.engine.execution_options(rushes_readonly=True), expire_on_commit=False
        )

    def files(self) -> list[Path]:
        """The files of a SQLite catalog (the database, its -wal and -shm); none for a server's."""
        database = self.engine.url.database if self.dialect == "sqlite" else None
        if not database or database == ":memory:" or database.startswith("file:"):
            return []
        path = Path(database).expanduser()
        return [path, path.with_name(f"{path.name}-wal"), path.with_name(f"{path.name}-shm")]

    @property
    def dialect(self) -> str:
        """'sqlite' or 'postgresql'."""
        return self.engine.dialect.name

    @contextmanager
    def session(self, readonly: bool = False) -> Iterator[Session]:
        """One transaction. `readonly=True` takes no write lock on SQLite and never commits."""
        maker = self._readonly if readonly else self._sessions
        session = maker()
        try:
            yield session
            if readonly:
                session.rollback()
            else:
                session.commit()
        except (OperationalError, ProgrammingError) as exc:
            session.rollback()
            if isinstance(exc, ProgrammingError) and explain(exc) != _NOT_MIGRATED:
                raise
            raise CatalogError(self.url, explain(exc)) from exc
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def migrate(self, revision: str = "head") -> str | None:
        """Upgrade the schema to `revision` (default: the newest this code ships). Safe to run twice,
        and from several daemons at once (SQLite's write lock or a PostgreSQL advisory lock serialises them).
        A catalog already at the newest revision is left alone without starting Alembic. Returns the revision
        the catalog was at before an upgrade ("" for a new one), or None when nothing was done.

        A catalog a newer Rushes has upgraded (a rollback, or a daemon not yet upgraded beside one that is) is
        refused in one line instead of Alembic's "Can't locate revision"."""
        current, head = self.revision(), self.head()
        if revision == "head" and current == head:
            return None
        if current is not None and current.isdigit() and head.isdigit() and int(current) > int(head):
            raise CatalogError(self.url, newer_schema(current, head))
        from alembic import command

        try:
            with self._migrating() as conn, conn.begin():
                if self.dialect == "postgresql":
                    conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _MIGRATE_LOCK})
                config = _alembic_config(self.url)
                config.attributes["connection"] = conn
                command.upgrade(config, revision)
                self._check_references(conn)
        except DBAPIError as exc:
            reason = explain(exc)
            if "already exists" in reason:  # a migration's table or column is there already
                reason = (
                    f"{_AHEAD} ({current}): {reason}; an older backup restored over a newer catalog leaves it so: "
                    'restore the backup into an empty database (docs/operations.md, "Backups, upgrades and logs")'
                )
            raise CatalogError(self.url, reason) from exc
        return current or ""

    @contextmanager
    def _migrating(self) -> Iterator[Connection]:
        """A connection for migrations. On SQLite a migration alters a table by copying it and dropping the old
        one, and with foreign keys on, dropping it deletes every row that refers to it (`ON DELETE CASCADE`: a
        show's dailies, requests and Versions); so foreign keys are off while it runs, as SQLite's own steps for
        altering a table ask (`_check_references` checks them before it commits), and back on after it."""
        with self.engine.connect() as conn:
            if self.dialect != "sqlite":
                yield conn
                return
            raw = conn.connection.driver_connection
            assert raw is not None
            raw.execute("PRAGMA foreign_keys = OFF")  # outside a transaction: inside one SQLite ignores it
            try:
                yield conn
            finally:
                raw.execute("PRAGMA foreign_keys = ON")

    def _check_references(self, conn: Connection) -> None:
        """SQLite, before a migration commits: every reference still finds its row (foreign keys were off)."""
        if self.dialect != "sqlite":
            return
        broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
        if broken:
            tables = ", ".join(sorted({str(row[0]) for row in broken}))
            raise CatalogError(
                self.url,
                f"the schema upgrade would leave {len(broken)} row(s) of {tables} referring to rows that are gone, "
                "so it was not made; report it, and keep using this Rushes' previous release meanwhile",
            )

    def revision(self) -> str | None:
        """The schema revision the database is at (None when it was never migrated)."""
        try:  # a read: it waits on no other process's write (a readiness probe read it under the write lock)
            with self.engine.connect().execution_options(rushes_readonly=True) as conn:
                if not inspect(conn).has_table(VERSION_TABLE):
                    return None
                row = conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).first()
                return None if row is None else str(row[0])
        except DBAPIError as exc:
            raise CatalogError(self.url, explain(exc)) from exc

    @staticmethod
    def head() -> str:
        """The newest schema revision this code ships: the highest migration file number."""
        return max(
            p.name.split("_", 1)[0] for p in (MIGRATIONS / "versions").glob("[0-9][0-9][0-9][0-9]_*.py")
        )

    def check(self) -> None:
        """Raise CatalogError unless the database is reachable and migrated to head."""
        current, head = self.revision(), self.head()
        if current is None:
            raise CatalogError(self.url, _NOT_MIGRATED)
        if current.isdigit() and head.isdigit() and int(current) > int(head):
            raise CatalogError(self.url, newer_schema(current, head))
        if current != head:
            raise CatalogError(
                self.url,
                f"its schema is at revision {current} but this Rushes needs {head} "
                "(run `rushes migrate`, or upgrade Rushes if the database is newer)",
            )

    def dispose(self) -> None:
        """Close every pooled connection (call at shutdown and in tests)."""
        self.engine.dispose()


def _alembic_config(url: str) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config
