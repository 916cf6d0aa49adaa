"""What every command and the daemon open first: the settings, the data directory and the catalog."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from daemon.settings import Settings

if TYPE_CHECKING:  # the catalog (SQLAlchemy) is imported when a command opens it, not to print --help
    from daemon.catalog import Catalog


class DataDirError(Exception):
    pass


@dataclass
class Context:
    settings: Settings
    catalog: Catalog
    # the schema revision an upgrade on opening started from ("" for a new catalog); None: nothing was done
    migrated_from: str | None = None

    def close(self) -> None:
        self.catalog.dispose()


PRIVATE_BITS = 0o007  # nothing for other users; the group bits stay as the studio set them
HOME_FOLDERS = ("", "models", "renders", "logs", "cache", "tmp")


def prepare_home(data_dir: Path) -> None:
    try:
        for sub in HOME_FOLDERS:
            (data_dir / sub).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataDirError(
            f"cannot create the data directory {data_dir} ({exc.strerror}); set RUSHES_HOME or data_dir"
        ) from exc
    keep_private([data_dir / sub for sub in HOME_FOLDERS])


def keep_private(paths: list[Path]) -> None:
    """Take other users' permissions from each of `paths` this user owns that still has them: a home and a
    SQLite catalog made by a Rushes before the umask was set (or by hand) stayed world-readable after an upgrade,
    and SQLite gives its -wal and -shm files the database's mode, so every change since was too. A folder closed
    to others closes what is in it (the renders, models and logs), without walking it."""
    for path in paths:
        try:
            st = path.stat()
            if st.st_uid == os.getuid() and st.st_mode & PRIVATE_BITS:
                path.chmod(st.st_mode & 0o7777 & ~PRIVATE_BITS)
        except OSError:
            continue  # gone, or not ours to change: what it was


def open_context(settings: Settings, catalog: Catalog | None = None) -> Context:
    """Create the data directory, open the catalog and bring its schema up to date (an upgrade is refused while a
    daemon works on it: daemon.upgrading). `catalog`: one this process already opened on `settings.catalog` (and
    migrated), used as it is."""
    prepare_home(settings.data_dir)
    from daemon.catalog import Catalog
    from daemon.shows import sync_config_shows
    from daemon.upgrading import refuse_upgrade_in_use

    migrated_from = None
    if catalog is None:
        catalog = Catalog(settings.catalog)
        keep_private(catalog.files())
        refuse_upgrade_in_use(catalog)  # an older daemon still at work would fail every job on the new schema
        migrated_from = catalog.migrate()
    sync_config_shows(settings, catalog)
    return Context(settings, catalog, migrated_from)
