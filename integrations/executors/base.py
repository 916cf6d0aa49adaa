"""The one interface every executor offers (local subprocesses today, Ray across machines later)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from integrations.executors.spec import JobOutcome, JobSpec


class ExecutorError(Exception):
    """An executor cannot do what was asked; the message says what to do."""


class ExecutorUnavailable(ExecutorError):
    """The executor's backend is missing or cannot start (e.g. Ray is not installed)."""


class UnknownJob(ExecutorError):
    """A handle this executor never issued, or whose outcome was already collected and forgotten."""


class ExecutorClosed(ExecutorError):
    """`submit` after `shutdown`."""


@dataclass(frozen=True)
class Handle:
    """What `submit` returns: the job id and which executor backend owns it."""

    job_id: str
    backend: str


@runtime_checkable
class Executor(Protocol):
    """Runs `JobSpec`s somewhere else and reports a `JobOutcome` for each.

    `submit` never blocks: jobs beyond capacity wait in order until a slot frees. `poll` returns None
    while the job is waiting or running, then its outcome (again on later calls, for a while).
    `cancel` stops a job (a waiting one never starts); its outcome says "cancelled".
    """

    def submit(self, spec: JobSpec) -> Handle: ...

    def poll(self, handle: Handle) -> JobOutcome | None: ...

    def cancel(self, handle: Handle) -> None: ...

    def running(self) -> int: ...

    def capacity(self) -> int: ...

    def health(self) -> str | None:
        """None when jobs can run; otherwise one line saying why not (e.g. Ray unreachable)."""
        ...

    def shutdown(self, wait: bool = True) -> None: ...
