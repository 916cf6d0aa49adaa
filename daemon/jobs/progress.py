"""A running job's progress, written to its catalog row by the process doing the work, for `rushes status`,
`rushes jobs list` and the daemon's log (the fix lane logs it as it renews the job's lease).

A fix of a 300-frame shot takes minutes on two cores; without this, all anyone saw was "rendering". The line
is written at most every `every_s` seconds (one small UPDATE), and the time left is estimated from the pace so
far. A catalog that cannot be reached leaves the line as it was: progress never stops the work. The clock is
injected.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from daemon.catalog import Catalog, CatalogError
from daemon.catalog import jobs as job_repo
from daemon.logs import get_logger

if TYPE_CHECKING:  # torch: only where a training runs
    from engine.train.loop import Stage

log = get_logger("rushes.jobs")

EVERY_S = 5.0


def progress_line(done: int, total: int, elapsed_s: float, unit: str = "frame") -> str:
    """ "frame 120 of 289, about 2 min left": how far, and the time left at the pace so far."""
    line = f"{unit} {done} of {total}"
    if 0 < done < total and elapsed_s > 0:
        left = elapsed_s / done * (total - done)
        line += f", about {_duration(left)} left"
    return line


def _duration(seconds: float) -> str:
    s = round(seconds)
    if s < 60:
        return f"{max(s, 1)} s"
    if s < 3600:
        return f"{s // 60} min {s % 60} s" if s < 600 and s % 60 else f"{round(s / 60)} min"
    return f"{s // 3600} h {s % 3600 // 60} min"


class JobProgress:
    """Called with (done, total) as the work goes; writes the job's progress line at most every `every_s`
    seconds, and at the last unit."""

    def __init__(
        self,
        catalog: Catalog,
        job_id: int,
        unit: str = "frame",
        every_s: float = EVERY_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.catalog, self.job_id, self.unit, self.every_s, self.clock = catalog, job_id, unit, every_s, clock
        self.started = clock()
        self.written: float | None = None

    def __call__(self, done: int, total: int) -> None:
        now = self.clock()
        if done < total and self.written is not None and now - self.written < self.every_s:
            return
        self.written = now
        self.say(progress_line(done, total, now - self.started, self.unit))

    def on_stage(self, stage: Stage) -> None:
        """A training run's stage as it starts: "train denoise, about 6 min left"."""
        what = " ".join(part for part in (stage.name, stage.head) if part)
        self.say(what if stage.left_s is None else f"{what}, about {_duration(stage.left_s)} left")

    def say(self, line: str) -> None:
        """Write `line` now."""
        try:
            with self.catalog.session() as s:
                job_repo.set_progress(s, self.job_id, line)
        except CatalogError as exc:
            log.warning("job.progress_not_written", job=self.job_id, error=str(exc))


__all__ = ["EVERY_S", "JobProgress", "progress_line"]
