"""The tracker poller: a thread that reads the tracker every `tracker.poll_interval` seconds.

Each round runs the given polls in order (the requests stage, then the feedback stage). When the tracker is
down the wait doubles up to 5 minutes; when it refuses Rushes (bad key, missing fields) it doubles from 1 up
to 10 minutes, so a fixed configuration is picked up without a restart; when the catalog cannot be reached
(PostgreSQL restarting) it doubles up to 30 s, one line each; any other error is logged and the next round
runs as usual. `stop()` (or the stop event) ends the wait at once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

from daemon.catalog.db import CatalogError
from daemon.logs import get_logger
from daemon.ops.metrics import Metrics
from integrations.trackers.base import TrackerError, TrackerFatal

log = get_logger("rushes.daemon")

MAX_OUTAGE_WAIT_S = 300.0
MAX_FATAL_WAIT_S = 600.0
MAX_CATALOG_WAIT_S = 30.0  # the catalog down (PostgreSQL restarting): the tracker waits; catch up soon after


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
    ) -> None:
        self.tracker = tracker
        self.polls = list(polls)
        self.interval = interval
        self.metrics = metrics
        self.stop_event = stop
        self.thread = threading.Thread(target=self._loop, name="rushes-tracker", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def join(self, timeout: float) -> None:
        if self.thread.is_alive():
            self.thread.join(timeout)

    def round(self) -> BaseException | None:
        """One round of polls; returns the error that ended it (logged and counted), or None."""
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
