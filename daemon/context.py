"""What every command and the daemon open first: the settings, the data directory and the catalog."""

from __future__ import annotations

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


def prepare_home(data_dir: Path) -> None:
    try:
        for sub in ("", "models", "renders", "logs", "cache", "tmp"):
            (data_dir / sub).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataDirError(
            f"cannot create the data directory {data_dir} ({exc.strerror}); set RUSHES_HOME or data_dir"
        ) from exc


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
        refuse_upgrade_in_use(catalog)  # an older daemon still at work would fail every job on the new schema
        migrated_from = catalog.migrate()
    sync_config_shows(settings, catalog)
    return Context(settings, catalog, migrated_from)
