"""What an upgrade of the catalog's schema checks first: that no daemon still works on the catalog.

A daemon of an older Rushes cannot use a schema a newer one migrated: each of its jobs then fails on it and, an
attempt after another, is dead-lettered, while the daemon keeps claiming work. So a schema upgrade (by
`rushes migrate`, the daemon's start or any command) is refused while a daemon works on the catalog
(daemon.at_work: the scheduler's lock, or a running job's lease), naming what shows it. A new catalog, one at this
Rushes' revision and one a newer Rushes migrated are left to `Catalog.migrate`.
"""

from __future__ import annotations

from daemon.catalog import Catalog, CatalogError


class UpgradeRefused(CatalogError):
    """A schema upgrade refused while a daemon works on the catalog: one line saying what to stop."""

    def __init__(self, url: str, reason: str) -> None:
        Exception.__init__(self, reason)
        self.url = url
        self.reason = reason


def refuse_upgrade_in_use(catalog: Catalog) -> None:
    """Raise UpgradeRefused when the catalog's schema needs upgrading while a daemon works on it."""
    current, head = catalog.revision(), catalog.head()
    if not _older(current, head):
        return
    from daemon.at_work import at_work  # only when an upgrade is due: every command opens a catalog

    working = at_work(catalog)
    if working and _older(catalog.revision(), head):  # not a daemon of this Rushes that upgraded it meanwhile
        raise UpgradeRefused(
            catalog.url,
            f"cannot upgrade the catalog at {catalog.url} from schema revision {current} to {head} while a daemon "
            f"works on it ({'; '.join(working)}): a daemon of the older Rushes would fail every job on the new "
            "schema; stop every daemon that uses this catalog, on every host, then run `rushes migrate`",
        )


def _older(current: str | None, head: str) -> bool:
    """Whether a catalog at `current` needs this Rushes' upgrade (a new one, None, is made, not upgraded)."""
    return current is not None and current.isdigit() and head.isdigit() and int(current) < int(head)
