"""Fault injection for tests: make the local server fail, stall or hang up, in-process and thread-safe.

server.faults.fail_next(3, status=503)   # the next 3 requests answer HTTP 503
server.faults.drop_connections(2)        # the next 2 requests are hung up on without an answer
server.faults.slow(2.0, requests=1)      # the next request waits 2 s before it is handled
server.faults.hide_events([41])          # event log rows 41 stay invisible (a late commit)
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Action:
    """What the HTTP layer should do with one request before (or after) handling it."""

    status: int | None = None  # answer this HTTP status instead of handling the request
    drop: bool = False  # close the connection without an answer
    drop_after: bool = False  # handle the request, then close without an answer (lost reply)
    delay: float = 0.0  # sleep this long first


class Faults:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._fail: list[int] = []
        self._drop = 0
        self._drop_after = 0
        self._delay = 0.0
        self._delay_requests: int | None = None
        self._hidden: set[int] = set()
        self.requests = 0  # every request seen, for assertions

    def fail_next(self, n: int, status: int = 503) -> None:
        with self._lock:
            self._fail.extend([status] * n)

    def drop_connections(self, n: int, after_processing: bool = False) -> None:
        with self._lock:
            if after_processing:
                self._drop_after += n
            else:
                self._drop += n

    def slow(self, seconds: float, requests: int | None = None) -> None:
        """Delay each of the next `requests` requests (all of them when None) by `seconds`."""
        with self._lock:
            self._delay = seconds
            self._delay_requests = requests

    def hide_events(self, ids: Iterable[int]) -> None:
        with self._lock:
            self._hidden.update(int(i) for i in ids)

    def show_events(self) -> None:
        with self._lock:
            self._hidden.clear()

    def event_visible(self, event_id: int) -> bool:
        with self._lock:
            return event_id not in self._hidden

    def reset(self) -> None:
        with self._lock:
            self._fail.clear()
            self._drop = self._drop_after = 0
            self._delay, self._delay_requests = 0.0, None
            self._hidden.clear()

    def next_action(self) -> Action:
        with self._lock:
            self.requests += 1
            delay = 0.0
            if self._delay and self._delay_requests != 0:
                delay = self._delay
                if self._delay_requests is not None:
                    self._delay_requests -= 1
            if self._drop:
                self._drop -= 1
                return Action(drop=True, delay=delay)
            if self._fail:
                return Action(status=self._fail.pop(0), delay=delay)
            if self._drop_after:
                self._drop_after -= 1
                return Action(drop_after=True, delay=delay)
            return Action(delay=delay)
