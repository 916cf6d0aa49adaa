"""Logging a failure that repeats while something is down, without burying the log.

The job runner asks the catalog for work twice a second and the leadership check runs every 5 s; while
PostgreSQL restarts or fails over, a line per attempt would be thousands of identical lines an hour.
`OutageLog` says it once when it starts, then at most every `every_s` seconds with how long and how often,
and once when it clears. Pure apart from the logger; the clock is injected.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


class OutageLog:
    def __init__(
        self, logger: Any, event: str, every_s: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.logger = logger
        self.event = event
        self.every_s = every_s
        self.clock = clock
        self._since: float | None = None  # when the failures began (None: all is well)
        self._said = 0.0
        self._count = 0

    @property
    def down(self) -> bool:
        return self._since is not None

    def failed(self, error: str, **fields: Any) -> None:
        """One more failed attempt: logged (at error) if it is the first, or `every_s` after the last line."""
        now = self.clock()
        self._count += 1
        if self._since is None:
            self._since = self._said = now
            self.logger.error(self.event, error=error, **fields)
        elif now - self._said >= self.every_s:
            self._said = now
            self.logger.error(
                self.event, error=error, down_s=round(now - self._since), attempts=self._count, **fields
            )

    def cleared(self) -> None:
        """An attempt went through: one line saying so, if it had been failing."""
        if self._since is None:
            return
        down = round(self.clock() - self._since)
        self.logger.info(f"{self.event}.cleared", down_s=down, attempts=self._count)
        self._since, self._count = None, 0
