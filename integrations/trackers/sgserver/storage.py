"""SQLite storage of the local server: entities as JSON rows, custom fields, uploaded file bytes.

One connection guarded by a re-entrant lock; `transaction()` nests, so a `batch` request runs every
create/update/delete and their event log rows in one SQLite transaction.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS entities (
    type TEXT NOT NULL, id INTEGER NOT NULL, retired INTEGER NOT NULL DEFAULT 0, data TEXT NOT NULL,
    PRIMARY KEY (type, id)
);
CREATE TABLE IF NOT EXISTS counters (type TEXT PRIMARY KEY, last INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS fields (
    entity_type TEXT NOT NULL, field_name TEXT NOT NULL, data_type TEXT NOT NULL, properties TEXT NOT NULL,
    PRIMARY KEY (entity_type, field_name)
);
CREATE TABLE IF NOT EXISTS files (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL, content_type TEXT NOT NULL, content BLOB NOT NULL
);
"""


@dataclass
class Row:
    type: str
    id: int
    retired: bool
    data: dict[str, Any]


class Storage:
    def __init__(self, path: Path | str) -> None:
        self._lock = threading.RLock()
        self._depth = 0
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self._lock:
            outer = self._depth == 0
            if outer:
                self._db.execute("BEGIN IMMEDIATE")
            self._depth += 1
            try:
                yield
            except BaseException:
                self._depth -= 1
                if outer:
                    self._db.execute("ROLLBACK")
                raise
            self._depth -= 1
            if outer:
                self._db.execute("COMMIT")

    def next_id(self, entity_type: str) -> int:
        with self.transaction():
            row = self._db.execute("SELECT last FROM counters WHERE type = ?", (entity_type,)).fetchone()
            last = (row[0] if row else 0) + 1
            self._db.execute(
                "INSERT INTO counters (type, last) VALUES (?, ?) ON CONFLICT(type) DO UPDATE SET last = ?",
                (entity_type, last, last),
            )
            return last

    def insert(self, entity_type: str, entity_id: int, data: dict[str, Any]) -> None:
        with self.transaction():
            self._db.execute(
                "INSERT INTO entities (type, id, retired, data) VALUES (?, ?, 0, ?)",
                (entity_type, entity_id, json.dumps(data)),
            )

    def write(self, entity_type: str, entity_id: int, data: dict[str, Any]) -> None:
        with self.transaction():
            self._db.execute(
                "UPDATE entities SET data = ? WHERE type = ? AND id = ?",
                (json.dumps(data), entity_type, entity_id),
            )

    def set_retired(self, entity_type: str, entity_id: int, retired: bool) -> None:
        with self.transaction():
            self._db.execute(
                "UPDATE entities SET retired = ? WHERE type = ? AND id = ?",
                (int(retired), entity_type, entity_id),
            )

    def get(self, entity_type: str, entity_id: int) -> Row | None:
        with self._lock:
            row = self._db.execute(
                "SELECT retired, data FROM entities WHERE type = ? AND id = ?", (entity_type, entity_id)
            ).fetchone()
        if row is None:
            return None
        return Row(entity_type, entity_id, bool(row[0]), json.loads(row[1]))

    def rows(
        self,
        entity_type: str,
        retired: bool | None = False,
        min_id: int | None = None,
        ids: Iterable[int] | None = None,
    ) -> list[Row]:
        sql = "SELECT id, retired, data FROM entities WHERE type = ?"
        args: list[Any] = [entity_type]
        if retired is not None:
            sql += " AND retired = ?"
            args.append(int(retired))
        if min_id is not None:
            sql += " AND id >= ?"
            args.append(min_id)
        if ids is not None:
            id_list = [int(i) for i in ids]
            sql += f" AND id IN ({','.join('?' * len(id_list)) or 'NULL'})"
            args.extend(id_list)
        sql += " ORDER BY id"
        with self._lock:
            found = self._db.execute(sql, args).fetchall()
        return [Row(entity_type, r[0], bool(r[1]), json.loads(r[2])) for r in found]

    def last_id(self, entity_type: str) -> int:
        """The highest id stored for `entity_type` (0 when none)."""
        with self._lock:
            row = self._db.execute("SELECT MAX(id) FROM entities WHERE type = ?", (entity_type,)).fetchone()
        return int(row[0] or 0)

    def custom_fields(self) -> list[tuple[str, str, str, dict[str, Any]]]:
        with self._lock:
            found = self._db.execute(
                "SELECT entity_type, field_name, data_type, properties FROM fields"
            ).fetchall()
        return [(r[0], r[1], r[2], json.loads(r[3])) for r in found]

    def save_field(
        self, entity_type: str, field_name: str, data_type: str, properties: dict[str, Any]
    ) -> None:
        with self.transaction():
            self._db.execute(
                "INSERT INTO fields (entity_type, field_name, data_type, properties) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(entity_type, field_name) DO UPDATE SET data_type = ?, properties = ?",
                (
                    entity_type,
                    field_name,
                    data_type,
                    json.dumps(properties),
                    data_type,
                    json.dumps(properties),
                ),
            )

    def delete_field(self, entity_type: str, field_name: str) -> None:
        with self.transaction():
            self._db.execute(
                "DELETE FROM fields WHERE entity_type = ? AND field_name = ?", (entity_type, field_name)
            )

    def save_file(self, file_id: int, name: str, content_type: str, content: bytes) -> None:
        with self.transaction():
            self._db.execute(
                "INSERT INTO files (id, name, content_type, content) VALUES (?, ?, ?, ?)",
                (file_id, name, content_type, content),
            )

    def load_file(self, file_id: int) -> tuple[str, str, bytes] | None:
        with self._lock:
            row = self._db.execute(
                "SELECT name, content_type, content FROM files WHERE id = ?", (file_id,)
            ).fetchone()
        return None if row is None else (row[0], row[1], bytes(row[2]))
