"""A watch on one thread's blocking calls: pure, clock-injected, no threads and no I/O.

The Ray executor's supervisor thread is the only one that calls Ray; it stamps each call here (`begin`, with
the call's name and the time) and clears the stamp when the call returns or raises (`end`). Anyone else may
ask, with the time now, whether the call in progress is older than `limit_s` (`overdue`). Guarantees:
- one call at a time is watched (the supervisor makes one call at a time); `begin` replaces any stamp;
- a call may have a limit of its own (connecting is given longer than the calls on a live connection);
- `overdue` reports a call from its limit after it began until it ends, and marks it `first` exactly once,
  so the one who acts on a stuck call (fails the jobs in flight, logs, disconnects) acts once per call;
- `end` says whether the call was given up on while it ran (it was reported overdue): its result must not be
  trusted, since the jobs it concerned were already failed and the connection is being torn down.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Stuck:
    """A call that has not returned within the limit: its name, when it began, for how long, and whether this
    is the first report of it."""

    name: str
    started: float
    elapsed_s: float
    limit_s: float
    first: bool


@dataclass
class _Call:
    name: str
    started: float
    limit_s: float
    reported: bool = False


class CallWatch:
    def __init__(self, limit_s: float) -> None:
        if limit_s <= 0:
            raise ValueError(f"a call watch needs a positive limit (got {limit_s})")
        self.limit_s = limit_s
        self._call: _Call | None = None

    def begin(self, name: str, now: float, limit_s: float | None = None) -> None:
        """A call named `name` starts at `now` (overdue after `limit_s`, by default the watch's limit)."""
        self._call = _Call(name, now, self.limit_s if limit_s is None else limit_s)

    def end(self) -> bool:
        """The call returned or raised; True when it had been reported overdue (given up on) meanwhile."""
        call, self._call = self._call, None
        return call is not None and call.reported

    def overdue(self, now: float) -> Stuck | None:
        """The call in progress when it began its limit or more before `now`, else None."""
        call = self._call
        if call is None or now - call.started < call.limit_s:
            return None
        first = not call.reported
        call.reported = True
        return Stuck(call.name, call.started, now - call.started, call.limit_s, first)
