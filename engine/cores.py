"""The CPU cores this process may compute on: its affinity, and what the machine's load leaves free.

The 1-minute load average counts the runnable processes of the whole machine, so the cores it leaves free are
counted against the machine's cores. A process pinned to some of them (taskset, a container's cpuset, a
scheduler's share of a node) is never given more threads than it may run on: extra threads only queue
behind each other, and a torch step waits for the slowest (docs/benchmarks.md: one thread ran 15x the steps of
two on oversubscribed cores).
"""

from __future__ import annotations

import os


def machine_cores() -> int:
    """Every core of the machine."""
    return os.cpu_count() or 1


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity), or the machine's where that cannot be read."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0)) or machine_cores()
    return machine_cores()


def free_cores(load: float, machine: int | None = None, usable: int | None = None) -> int:
    """Threads to compute on at this load: the machine's cores the load leaves free (rounded to the nearest),
    at most the cores this process may use, at least one. `machine` and `usable` default to this machine's
    and this process's."""
    n = machine if machine is not None else machine_cores()
    allowed = min(usable if usable is not None else usable_cores(), n)
    return max(1, min(allowed, int(n - load + 0.5)))
