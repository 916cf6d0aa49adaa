"""Leadership: of several daemons sharing one catalog, only one runs the scheduler.

PostgreSQL: a session-level `pg_try_advisory_lock` taken on a connection of its own, held open for as long
as this daemon leads; if the daemon dies or its connection drops, the server frees the lock. SQLite: an
exclusive, non-blocking `flock` on `<database file>.leader` next to the database (the kernel frees it when
the process dies). Neither ever blocks: a daemon that is not leader calls `try_acquire()` again every few
seconds, and the leader calls `still_leading()` now and then to notice a lost PostgreSQL connection.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
from pathlib import Path

from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError

from daemon.catalog import Catalog
from daemon.logs import get_logger
from daemon.ops.outages import OutageLog

log = get_logger("rushes.leader")


def lock_key(name: str) -> int:
    """A stable signed 64-bit advisory-lock key for a name ("scheduler" -> the same key in every daemon)."""
    digest = hashlib.sha256(f"rushes.leader.{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def daemon_running(catalog: Catalog) -> bool:
    """True when a daemon runs on this catalog: one of them holds the scheduler's lock (a look that takes the
    lock and gives it back at once, for commands that change what a running daemon read at its start)."""
    probe = Leadership(catalog)
    try:
        return not probe.try_acquire()
    finally:
        probe.release()


class LeaderError(Exception):
    """The leadership lock cannot be used at all (e.g. its lock file cannot be created): one line with the fix."""


class Leadership:
    """Who runs the scheduler. `try_acquire()` -> True when this object leads (now or already),
    `release()` gives it up, `is_leader` says whether it holds it (no I/O)."""

    def __init__(self, catalog: Catalog, name: str = "scheduler") -> None:
        self.catalog = catalog
        self.name = name
        self.key = lock_key(name)
        self._conn: Connection | None = None
        self._fd: int | None = None
        self._memory = False
        self._unreachable = OutageLog(log, "leader.unreachable")  # PostgreSQL down: once, then once a minute

    @property
    def is_leader(self) -> bool:
        return self._conn is not None or self._fd is not None or self._memory

    @property
    def lock_path(self) -> Path | None:
        """The lock file of a SQLite catalog (None on PostgreSQL or an in-memory SQLite database)."""
        if self.catalog.dialect != "sqlite":
            return None
        database = self.catalog.engine.url.database or ""
        if not database or database == ":memory:" or database.startswith("file:"):
            return None
        return Path(database).expanduser().with_name(Path(database).name + f".{self.name}.leader")

    def try_acquire(self) -> bool:
        """Take the lock without waiting -> True when this object leads. A database that cannot be reached
        is logged and answers False (the caller tries again later)."""
        if self.is_leader:
            return True
        if self.catalog.dialect == "postgresql":
            return self._acquire_pg()
        path = self.lock_path
        if path is None:  # an in-memory database lives in this process only: nobody else can lead it
            self._memory = True
            return True
        return self._acquire_file(path)

    def still_leading(self) -> bool:
        """Check that the lock is still held: on PostgreSQL, that its connection is alive (a dropped
        connection lost the lock; this object then stops leading). Call it every few seconds."""
        if self._conn is None:
            return self.is_leader
        try:
            self._conn.execute(text("SELECT 1"))
            self._conn.commit()
        except DBAPIError as exc:
            log.warning("leader.lost", lock=self.name, error=str(exc.orig or exc))
            self._drop_connection()
            return False
        return True

    def release(self) -> None:
        """Give up the lock (a no-op when not leading)."""
        if self._conn is not None:
            try:
                self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self.key})
                self._conn.commit()
                self._conn.close()
                self._conn = None
            except DBAPIError:
                self._drop_connection()  # closing the session frees the lock
        if self._fd is not None:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            finally:
                os.close(self._fd)
                self._fd = None
        self._memory = False

    def __enter__(self) -> Leadership:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.release()

    def _acquire_pg(self) -> bool:
        try:
            conn = self.catalog.engine.connect()
        except DBAPIError as exc:
            self._unreachable.failed(str(exc.orig or exc), lock=self.name)
            return False
        try:
            got = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": self.key}).scalar())
            conn.commit()
        except DBAPIError as exc:
            self._unreachable.failed(str(exc.orig or exc), lock=self.name)
            conn.invalidate()
            conn.close()
            return False
        self._unreachable.cleared()
        if not got:
            conn.close()
            return False
        self._conn = conn
        return True

    def _acquire_file(self, path: Path) -> bool:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise LeaderError(
                f"cannot create the leader lock file {path} ({exc.strerror}); make its folder writable"
            ) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # another process (or another Leadership here) holds it
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return True

    def _drop_connection(self) -> None:
        if self._conn is None:
            return
        try:
            self._conn.invalidate()
            self._conn.close()
        except DBAPIError:
            pass
        self._conn = None
