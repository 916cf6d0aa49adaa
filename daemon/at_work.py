"""Whether a daemon works on a catalog now, for the commands that must not run under one (a schema upgrade, a
copy of the whole catalog): a daemon holds the scheduler's lock (daemon.leader), or a running job's lease has
not run out. A lease of a process of this host that is gone (a daemon SIGKILLed here) does not count: its
daemon is certainly stopped.
"""

from __future__ import annotations

from daemon.catalog import Catalog
from daemon.catalog import jobs as job_repo

MAX_NAMED = 3  # lease holders named in a refusal


def at_work(catalog: Catalog) -> list[str]:
    """What shows a daemon at work on the catalog, each as a clause ("one holds the scheduler's lock", "jobs
    are running under leases of host:pid:lane"); empty when none is."""
    from daemon.jobs.runner import orphaned
    from daemon.leader import daemon_running

    with catalog.session(readonly=True) as s:
        holders = [h for h in job_repo.lease_holders(s) if not orphaned(h)]
    found = []
    if daemon_running(catalog):
        found.append("one holds the scheduler's lock")
    if holders:
        named = ", ".join(holders[:MAX_NAMED]) + (
            f" and {len(holders) - MAX_NAMED} more" if len(holders) > MAX_NAMED else ""
        )
        found.append(f"jobs are running under leases of {named}")
    return found
