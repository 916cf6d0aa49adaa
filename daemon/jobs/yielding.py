"""Training yields to fixes: the policy, and the train lane's two questions built on it.

Fixes are urgent (a delivery waits on them); training is not (it resumes from its checkpoint). So, on top
of the claim order (fix and publish jobs are claimed before training, and training is not claimed while a
fix is runnable: daemon.catalog.jobs.claim):
- training starts only in a free executor slot (`may_start`): this daemon's train and fix jobs in hand are
  fewer than the executor's slots, so a training job never queues inside the executor ahead of a fix;
- a running training job yields (`must_yield`) when a fix is waiting and no slot is free: a fix is runnable
  in the catalog while every slot is taken, or this daemon holds more jobs than slots (a fix it claimed
  waits in the executor behind the training). The train lane then stops the job's worker (the training
  stage checkpoints on SIGTERM; on Ray the task is cancelled without force, and the stage checkpoints on
  the SIGINT that reaches it, its worker killed only if it has not ended 20 s later) and gives the job back
  to the queue without counting an attempt; it is claimed again once a slot is free and no fix waits, and
  resumes from its checkpoint in the same version folder.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from daemon.catalog import Catalog
from daemon.catalog import jobs as job_repo

FIX_KINDS = ("fix",)


@dataclass(frozen=True)
class Slots:
    """What the policy looks at: this daemon's executor jobs in hand, the executor's slots, and the fix
    jobs runnable in the catalog (queued and due, not yet claimed by anyone)."""

    in_hand: int
    capacity: int
    fixes_waiting: int


def may_start(slots: Slots) -> bool:
    """Whether a training job may be claimed now: a slot is free."""
    return slots.in_hand < slots.capacity


def must_yield(slots: Slots) -> bool:
    """Whether running training gives its slot up: a fix waits and no slot is free."""
    full = slots.in_hand >= slots.capacity
    return (slots.fixes_waiting > 0 and full) or slots.in_hand > slots.capacity


@dataclass(frozen=True)
class TrainingYields:
    """The train lane's `admit` and `yields` questions for one daemon: `in_hand()` counts the jobs its
    executor lanes hold, `capacity()` the executor's slots."""

    catalog: Catalog
    in_hand: Callable[[], int]
    capacity: Callable[[], int]

    def slots(self, with_fixes: bool) -> Slots:
        waiting = 0
        if with_fixes:
            with self.catalog.session(readonly=True) as s:
                waiting = job_repo.waiting(s, FIX_KINDS)
        return Slots(self.in_hand(), self.capacity(), waiting)

    def admit(self) -> bool:
        return may_start(self.slots(with_fixes=False))

    def yields(self) -> bool:
        return must_yield(self.slots(with_fixes=True))
