"""The tracker poller: a thread that reads the tracker every `tracker.poll_interval` seconds.

Each round runs the given polls in order (the requests stage, then the feedback stage). When the tracker is
down the wait doubles up to 5 minutes; when it refuses Rushes (bad key, missing fields) it doubles from 1 up
to 10 minutes, so a fixed configuration is picked up without a restart; when the catalog cannot be reached
(PostgreSQL restarting) it doubles up to 30 s, one line each; any other error is logged and the next round
runs as usual. The first good round after failed ones logs `tracker.back` once. `problem()` says why the reads
fail (for /readyz), and `report` is told after each round (the service stores it for `rushes status`). A round
whose tracker has not answered for `slow_after` seconds (counted from the round's start or the last call the
tracker answered, whichever is later: a far or overloaded site, a proxy holding the calls) is a problem too,
said while it waits: by `problem()`, and once by `report_waiting()` (the daemon's main loop calls it, since
this thread is the one waiting). A long round of calls answered in turn (a catch-up, Kitsu's withdrawal check
reading each waiting task) is not slow. It used to be said only when the calls' whole retry budget was spent,
minutes later, with /readyz answering "ok" meanwhile.
`stop()` (or the stop event) ends the wait at once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from daemon.catalog.db import CatalogError
from daemon.logs import get_logger
from integrations.trackers.base import TrackerError, TrackerFatal
from integrations.trackers.calls import answers_to

if TYPE_CHECKING:  # `rushes status` reads this module's waits without loading prometheus_client
    from daemon.ops.metrics import Metrics

log = get_logger("rushes.daemon")

MAX_OUTAGE_WAIT_S = 300.0
MAX_FATAL_WAIT_S = 600.0
MAX_CATALOG_WAIT_S = 30.0  # the catalog down (PostgreSQL restarting): the tracker waits; catch up soon after
SLOW_ROUND_S = 60.0  # a round with no answer from the tracker this long is said to (two default timeouts)


def one_line(error: BaseException) -> str:
    """An error as one line of at most 300 characters (its message, else its type)."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return text[:300]


def next_wait(wait: float, interval: float, error: BaseException | None) -> float:
    """The pause before the next round, after one that ended with `error` (None: it went well)."""
    if isinstance(error, TrackerFatal):
        return min(MAX_FATAL_WAIT_S, max(wait * 2, 60.0))
    if isinstance(error, TrackerError):
        return min(MAX_OUTAGE_WAIT_S, wait * 2)
    if isinstance(error, CatalogError):
        return min(MAX_CATALOG_WAIT_S, wait * 2)
    return wait if error is not None else interval


class TrackerPoller:
    def __init__(
        self,
        tracker: str,
        polls: Sequence[Callable[[], object]],
        interval: float,
        metrics: Metrics,
        stop: threading.Event,
        report: Callable[[str | None], None] | None = None,
        slow_after: float = SLOW_ROUND_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.tracker = tracker
        self.report = report  # told after each round: None, or why the tracker could not be read (one line)
        self.polls = list(polls)
        self.interval = interval
        self.metrics = metrics
        self.stop_event = stop
        self.thread = threading.Thread(target=self._loop, name="rushes-tracker", daemon=True)
        self._failing_since: float | None = None  # monotonic time of the first failed round in a row
        self._error: str | None = None  # why the last round failed (None: it went through, or none ran yet)
        self.slow_after = slow_after
        self.clock = clock
        self._waiting_since: float | None = None  # the round's start, then its last answer (None: no round)
        self._round_number = 0  # of the round in progress, or the last one
        self._said_waiting = False  # whether report_waiting told `report` of the round in progress
        self._telling = threading.Lock()  # a round's end and report_waiting tell `report` one at a time

    def start(self) -> None:
        self.thread.start()

    def join(self, timeout: float) -> None:
        if self.thread.is_alive():
            self.thread.join(timeout)

    def round(self) -> BaseException | None:
        """One round of polls; returns the error that ended it (logged and counted), or None. The first good
        round after failed ones says so once (`tracker.back`), so the log tells when requests flow again."""
        with self._telling:
            self._round_number += 1
            self._waiting_since, self._said_waiting = self.clock(), False
        try:
            with answers_to(self._answered):
                error = self._round()
        finally:
            with self._telling:  # from now on report_waiting says nothing of this round
                self._waiting_since = None
        if isinstance(error, CatalogError):  # the catalog's outage, said by /readyz's catalog check; no read
            if self._said_waiting:  # its "waited" line would stay in `rushes status` until the next round
                self._tell(self._error)
            return error
        if error is None and self._failing_since is not None:
            log.info(
                "tracker.back", tracker=self.tracker, after_s=round(time.monotonic() - self._failing_since)
            )
            self._failing_since = None
        elif error is not None and self._failing_since is None:
            self._failing_since = time.monotonic()
        self._error = None if error is None else self._why(error)
        self._tell(self._error)
        return error

    def _tell(self, problem: str | None) -> None:
        if self.report is not None:
            try:  # storing it for `rushes status` must never end the poller's thread
                self.report(problem)
            except Exception as exc:
                log.warning("tracker.read_not_recorded", error=one_line(exc))

    def problem(self) -> str | None:
        """None while the tracker's reads go through; else one line: since when they fail, and why."""
        error, since = self._error, self._failing_since
        if error is None or since is None:
            return self.waiting()
        return f"{error} (for {time.monotonic() - since:.0f} s)"

    def _answered(self) -> None:
        """The tracker answered a call of the round in progress: its wait starts again from now."""
        self._waiting_since = self.clock()

    def waiting(self) -> str | None:
        """One line while the round in progress has had no answer from the tracker for `slow_after`, else None."""
        since = self._waiting_since
        waited = None if since is None else self.clock() - since
        if waited is None or waited < self.slow_after:
            return None
        return (
            f"cannot read the {self.tracker} tracker: a read has waited {waited:.0f} s for the tracker's answer: "
            "the tracker, or the network to it, is slow or holds the calls"
        )

    def report_waiting(self) -> None:
        """Tell `report` (and the log) once that the round in progress waits on the tracker, when it does. Said
        only while that round is still in progress, so its end's report is never followed by a stale line."""
        number = self._round_number
        line = self.waiting()
        if line is None:
            return
        with self._telling:
            if self._said_waiting or number != self._round_number or self._waiting_since is None:
                return
            self._said_waiting = True
            log.warning("tracker.slow", tracker=self.tracker, error=line)
            self._tell(line)

    def _why(self, error: BaseException) -> str:
        if isinstance(error, TrackerError):  # TrackerFatal too: a refusal (a wrong key, a missing field)
            return f"cannot read the {self.tracker} tracker: {one_line(error)}"
        return f"a poll of the {self.tracker} tracker failed in Rushes itself (a bug: see tracker.poll_failed in the log): {one_line(error)}"

    def _round(self) -> BaseException | None:
        try:
            for poll in self.polls:
                poll()
        except TrackerFatal as exc:
            self.metrics.tracker_error(self.tracker, "fatal")
            log.error("tracker.fatal", error=str(exc))
            return exc
        except TrackerError as exc:
            self.metrics.tracker_error(self.tracker, "poll")
            log.warning("tracker.unavailable", error=str(exc))
            return exc
        except CatalogError as exc:  # nothing read is lost: the cursor is stored with what it read
            log.warning("tracker.catalog_unreachable", error=str(exc))
            return exc
        except Exception as exc:
            log.error("tracker.poll_failed", error=str(exc), exc_info=True)
            return exc
        return None

    def _loop(self) -> None:
        wait = self.interval
        while not self.stop_event.is_set():
            wait = next_wait(wait, self.interval, self.round())
            self.stop_event.wait(wait)
