"""Copying a whole catalog into another database: the move from SQLite to PostgreSQL (`rushes catalog copy`).

Guarantees:
- all or nothing: every row goes in one transaction on the target, which is left empty when anything fails;
- the rows keep their ids, so model versions, job logs (`job-N.log`), request and publication links and the
  tracker's keys stay as they were; on PostgreSQL each id sequence then continues after the largest id copied;
- the target must be empty (migrated here if it is new) and at the source's schema revision, and no daemon may
  be working on the source (`rushes catalog copy` asks daemon.at_work: the scheduler's lock held, or a running
  job's lease not yet run out): a copy of a catalog in use would miss what happens after it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, func, select, text
from sqlalchemy.exc import DBAPIError

from daemon.catalog import jobs as job_repo
from daemon.catalog.db import Catalog, CatalogError, explain
from daemon.catalog.models import Base

BATCH = 2000  # rows read and written at a time (a show of 20,000 dailies fits in memory either way)


class CopyRefused(CatalogError):
    """A copy that may not be made (into itself, from a catalog in use, into one that holds rows): one line."""

    def __init__(self, url: str, reason: str, passing: bool = False) -> None:
        Exception.__init__(self, reason)
        self.url = url
        self.reason = reason
        self.passing = passing  # a catalog in use: the same copy goes through once its daemons stop


@dataclass(frozen=True)
class Copied:
    """What `copy_catalog` copied: rows by table, in the order they were written."""

    tables: tuple[tuple[str, int], ...]

    @property
    def rows(self) -> int:
        return sum(n for _, n in self.tables)


def copy_catalog(
    source: Catalog,
    target: Catalog,
    on_table: Callable[[str, int], None] | None = None,
    *,
    at_work: Callable[[Catalog], Sequence[str]] | None = None,
) -> Copied:
    """Copy every row of `source` into the empty `target` (see the module's guarantees); `on_table(name, rows)`
    is told as each table is done. `at_work(source)`: what shows a daemon working on it (daemon.at_work, which
    also sees the scheduler's lock); by default its running jobs' leases. Raises CatalogError, with what to do,
    when the copy may not be made."""
    if source.url == target.url:
        raise CopyRefused(
            target.url, f"cannot copy the catalog at {source.url} into itself; name a new database"
        )
    _refuse_in_use(source, at_work or _leases)
    target.migrate()  # a schema newer than this Rushes' is refused here, in one line
    if source.revision() != target.revision():
        raise CopyRefused(
            source.url,
            f"cannot copy the catalog at {source.url}: its schema is at revision {source.revision()}, the new "
            f"one's at {target.revision()}; run `rushes migrate` on it first",
        )
    done: list[tuple[str, int]] = []
    at = source  # the catalog the next step works on, named when it fails (a locked source, a full target)
    try:
        with source.engine.connect() as read:
            at = target
            with target.engine.begin() as write:
                _refuse_filled(target, write)
                for table in Base.metadata.sorted_tables:  # parents before the rows that point at them
                    count = 0
                    at = source
                    rows = read.execute(select(table).order_by(*table.primary_key.columns))
                    while batch := rows.fetchmany(BATCH):
                        at = target
                        write.execute(table.insert(), [row._asdict() for row in batch])
                        count += len(batch)
                        at = source
                    done.append((table.name, count))
                    if on_table is not None:
                        on_table(table.name, count)
                at = target
                if target.dialect == "postgresql":
                    _continue_sequences(write)
    except DBAPIError as exc:  # a database gone or full mid-copy: nothing was written (one transaction)
        raise CatalogError(at.url, f"the copy stopped and nothing of it was kept: {explain(exc)}") from exc
    return Copied(tuple(done))


def _refuse_in_use(source: Catalog, at_work: Callable[[Catalog], Sequence[str]]) -> None:
    working = at_work(source)
    if working:
        raise CopyRefused(
            source.url,
            f"cannot copy the catalog at {source.url} now: a daemon works on it ({'; '.join(working)}); stop "
            "every daemon that uses it (their jobs go back to the queue and are copied with it), then copy",
            passing=True,
        )


def _leases(source: Catalog) -> list[str]:
    with source.session(readonly=True) as s:
        holders = job_repo.lease_holders(s)
    return [f"jobs are running under leases of {', '.join(holders)}"] if holders else []


def _refuse_filled(target: Catalog, conn: Connection) -> None:
    tables = Base.metadata.sorted_tables
    filled = sorted(t.name for t in tables if conn.execute(select(func.count()).select_from(t)).scalar())
    if filled:
        raise CopyRefused(
            target.url,
            f"cannot copy the catalog into {target.url}: it already holds rows ({', '.join(filled)}); "
            "copy into a new, empty database",
        )


def _continue_sequences(conn: Connection) -> None:
    """PostgreSQL: each serial id's sequence goes on after the largest id copied (else the next insert of a
    job or a request would collide with a copied one)."""
    for table in Base.metadata.sorted_tables:
        for column in table.primary_key.columns:
            if not column.autoincrement or column.type.python_type is not int:
                continue
            conn.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence('{table.name}', '{column.name}'), "
                    f"COALESCE(MAX({column.name}), 1), MAX({column.name}) IS NOT NULL) FROM {table.name}"
                )
            )
