"""The tracker poller: each round reads requests then feedback; an outage doubles the wait up to 5 minutes,
a refusal (bad key) waits at least a minute and up to 10, and a good round goes back to the interval."""

from __future__ import annotations

import threading

from daemon.ops.metrics import Metrics
from daemon.scheduling.polling import TrackerPoller, next_wait
from integrations.trackers.base import TrackerError, TrackerFatal
from integrations.trackers.memory import MemoryTracker


def poller(tracker: MemoryTracker, stop: threading.Event | None = None) -> TrackerPoller:
    polls = [lambda: tracker.fix_requests_since(None), lambda: tracker.review_statuses_since(None)]
    return TrackerPoller(tracker.name, polls, 10.0, Metrics(process=False), stop or threading.Event())


def test_a_round_reads_requests_then_feedback_and_reports_what_stopped_it() -> None:
    tracker = MemoryTracker()
    assert poller(tracker).round() is None
    assert tracker.calls == ["fix_requests_since", "review_statuses_since"]
    tracker.fail_next(only="review_statuses_since")
    assert isinstance(poller(tracker).round(), TrackerError)
    tracker.fail_next(fatal=True)
    assert isinstance(poller(tracker).round(), TrackerFatal)


def test_the_wait_backs_off_on_outages_and_refusals_and_resets_after_a_good_round() -> None:
    down, refused = TrackerError("503"), TrackerFatal("bad key")
    assert next_wait(10, 10, down) == 20 and next_wait(200, 10, down) == 300
    assert next_wait(10, 10, refused) == 60 and next_wait(400, 10, refused) == 600
    assert next_wait(300, 10, None) == 10
    assert next_wait(40, 10, ValueError("a bug")) == 40


def test_the_poller_thread_stops_at_once_when_asked() -> None:
    stop = threading.Event()
    polled = threading.Event()
    tracker = MemoryTracker()
    running = TrackerPoller(tracker.name, [polled.set], 3600.0, Metrics(process=False), stop)
    running.start()
    assert polled.wait(10)
    stop.set()  # the thread is in its hour-long wait
    running.join(timeout=10)
    assert not running.thread.is_alive()
