"""What an upgrade of the catalog's schema checks first: that no daemon still works on the catalog.

A daemon of an older Rushes cannot use a schema a newer one migrated: each of its jobs then fails on it and, an
attempt after another, is dead-lettered, while the daemon keeps claiming work. So a schema upgrade (by
`rushes migrate`, the daemon's start or any command) is refused while a daemon holds the scheduler's lock
(daemon.leader) or a running job's lease has not run out, naming them. A lease of a process of this host that
is gone (a daemon SIGKILLed here) does not count: its daemon is certainly stopped. A new catalog, one at this
Rushes' revision and one a newer Rushes migrated are left to `Catalog.migrate`.
"""

from __future__ import annotations

from daemon.catalog import Catalog, CatalogError
from daemon.catalog import jobs as job_repo

MAX_NAMED = 3  # lease holders named in the refusal


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
    at_work = daemons_at_work(catalog)
    if at_work and _older(catalog.revision(), head):  # not a daemon of this Rushes that upgraded it meanwhile
        raise UpgradeRefused(
            catalog.url,
            f"cannot upgrade the catalog at {catalog.url} from schema revision {current} to {head} while a daemon "
            f"works on it ({'; '.join(at_work)}): a daemon of the older Rushes would fail every job on the new "
            "schema; stop every daemon that uses this catalog, on every host, then run `rushes migrate`",
        )


def daemons_at_work(catalog: Catalog) -> list[str]:
    """What shows a daemon working on the catalog, one phrase each ("one holds the scheduler's lock", "jobs are
    running under leases of host:pid:lane"); empty when none is seen."""
    from daemon.jobs.runner import orphaned  # only when asked: every command opens a catalog
    from daemon.leader import daemon_running

    with catalog.session(readonly=True) as s:
        holders = [h for h in job_repo.lease_holders(s) if not orphaned(h)]
    at_work = []
    if daemon_running(catalog):
        at_work.append("one holds the scheduler's lock")
    if holders:
        named = ", ".join(holders[:MAX_NAMED]) + (
            f" and {len(holders) - MAX_NAMED} more" if len(holders) > MAX_NAMED else ""
        )
        at_work.append(f"jobs are running under leases of {named}")
    return at_work


def _older(current: str | None, head: str) -> bool:
    """Whether a catalog at `current` needs this Rushes' upgrade (a new one, None, is made, not upgraded)."""
    return current is not None and current.isdigit() and head.isdigit() and int(current) < int(head)
