"""A job that has already ended, as a lane's `start` hands it back: for tests of what a lane does with an
outcome (retry, dead-letter, the hook on a dead job) without running anything."""

from __future__ import annotations

from integrations.executors.spec import JobOutcome


class Finished:
    def __init__(self, outcome: JobOutcome) -> None:
        self.outcome = outcome

    def poll(self) -> JobOutcome:
        return self.outcome

    def cancel(self) -> None:
        pass
