"""The bookkeeping every executor keeps: jobs waiting, jobs running, outcomes not yet read, outcomes read.

`JobLedger` holds no lock of its own: the executor calls it with its own lock held, so one lock guards
the ledger and the executor's state together. Guarantees:
- a job id is submitted once at a time (`admit` refuses an id that is waiting or running);
- an outcome is kept until it is read, then remembered for the last `keep` reads, so a second `poll` of
  the same handle (a daemon retrying after a crash of its own) gets the same answer, not "unknown";
- `check` says which ids this executor has ever been given (UnknownJob otherwise).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Generic, Protocol, TypeVar

from integrations.executors.base import ExecutorError, Handle, UnknownJob
from integrations.executors.spec import JobOutcome, JobSpec


class _HasSpec(Protocol):
    @property
    def spec(self) -> JobSpec: ...


J = TypeVar("J", bound=_HasSpec)


class JobLedger(Generic[J]):
    def __init__(self, backend: str, keep: int = 1000) -> None:
        self.backend = backend
        self.keep = keep
        self.pending: list[J] = []
        self.running: dict[str, J] = {}
        self.outcomes: dict[str, JobOutcome] = {}
        self.delivered: OrderedDict[str, JobOutcome] = OrderedDict()

    def admit(self, job: J) -> Handle:
        """Queue `job`; ExecutorError when its id is already waiting or running."""
        job_id = job.spec.id
        if job_id in self.running or any(j.spec.id == job_id for j in self.pending):
            raise ExecutorError(f"job {job_id} is already submitted; give each job its own id")
        self.outcomes.pop(job_id, None)
        self.delivered.pop(job_id, None)
        self.pending.append(job)
        return Handle(job_id=job_id, backend=self.backend)

    def check(self, handle: Handle, executor: str) -> None:
        """UnknownJob unless `handle` is one of this executor's jobs."""
        job_id = handle.job_id
        known = (
            job_id in self.running
            or job_id in self.outcomes
            or job_id in self.delivered
            or any(j.spec.id == job_id for j in self.pending)
        )
        if handle.backend != self.backend or not known:
            raise UnknownJob(f"job {job_id} is not known to this {executor}")

    def read(self, job_id: str) -> JobOutcome | None:
        """The job's outcome once it has one (the same outcome on every later read), else None."""
        if job_id in self.outcomes:
            outcome = self.outcomes.pop(job_id)
            self.delivered[job_id] = outcome
            while len(self.delivered) > self.keep:
                self.delivered.popitem(last=False)
            return outcome
        return self.delivered.get(job_id)

    def record(self, job_id: str, outcome: JobOutcome) -> None:
        """The job ended: it is no longer running and its outcome waits to be read."""
        self.running.pop(job_id, None)
        self.outcomes[job_id] = outcome

    def take_pending(self, job_id: str) -> J | None:
        """Remove and return a job still waiting to start (None when it is not waiting)."""
        for job in self.pending:
            if job.spec.id == job_id:
                self.pending.remove(job)
                return job
        return None

    def busy(self) -> bool:
        return bool(self.pending or self.running)
