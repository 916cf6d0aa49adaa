"""The tracker poller: each round reads requests then feedback; an outage doubles the wait up to 5 minutes,
a refusal (bad key) waits at least a minute and up to 10, and a good round goes back to the interval."""

from __future__ import annotations

import re
import threading

from structlog.testing import capture_logs

from daemon.catalog.db import CatalogError
from daemon.ops.metrics import Metrics
from daemon.scheduling.polling import TrackerPoller, next_wait
from integrations.trackers.base import TrackerError, TrackerFatal
from integrations.trackers.calls import Service, guarded
from integrations.trackers.memory import MemoryTracker
from integrations.trackers.retry import RetryPolicy


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


def test_the_first_good_round_after_failed_ones_says_the_tracker_is_back_once() -> None:
    """A daemon started before the site was reachable (or through an outage) logs when requests flow again."""
    tracker = MemoryTracker()
    polling = poller(tracker)
    with capture_logs() as logs:
        assert polling.round() is None  # a good round after good ones says nothing
        tracker.fail_next()
        assert isinstance(polling.round(), TrackerError)
        tracker.fail_next(fatal=True)
        assert isinstance(polling.round(), TrackerFatal)
        assert polling.round() is None
        assert polling.round() is None
    events = [entry["event"] for entry in logs]
    assert events == ["tracker.unavailable", "tracker.fatal", "tracker.back"]
    back = logs[-1]
    assert back["tracker"] == "memory" and back["after_s"] >= 0


def test_why_the_reads_fail_is_said_for_readyz_and_reported_after_each_round_until_one_goes_through() -> None:
    tracker = MemoryTracker()
    reported: list[str | None] = []
    polls = [lambda: tracker.fix_requests_since(None)]
    polling = TrackerPoller(
        tracker.name, polls, 10.0, Metrics(process=False), threading.Event(), reported.append
    )
    assert polling.problem() is None  # no round yet: nothing known to be wrong
    tracker.fail_next(fatal=True)
    polling.round()
    problem = polling.problem()
    assert problem is not None and problem.startswith("cannot read the memory tracker: ")
    assert re.search(r" \(for \d+ s\)$", problem)
    assert "\n" not in problem and reported[-1] is not None and reported[-1] in problem
    assert polling.round() is None
    assert polling.problem() is None and reported[-1] is None
    assert len(reported) == 2


def test_a_catalog_outage_is_not_reported_as_the_trackers() -> None:
    reported: list[str | None] = []

    def catalog_down() -> None:
        raise CatalogError("sqlite:///x", "database is locked")

    polling = TrackerPoller(
        "memory", [catalog_down], 10.0, Metrics(process=False), threading.Event(), reported.append
    )
    assert isinstance(polling.round(), CatalogError)
    assert polling.problem() is None and reported == []


def test_a_bug_in_a_poll_is_not_called_the_trackers_and_a_failed_report_never_ends_the_thread() -> None:
    def bug() -> None:
        raise KeyError("shot")

    def report(problem: str | None) -> None:
        raise RuntimeError("the row could not be written")

    polling = TrackerPoller("memory", [bug], 10.0, Metrics(process=False), threading.Event(), report)
    with capture_logs() as logs:
        assert isinstance(polling.round(), KeyError)  # returned, not raised: the loop goes on
    problem = polling.problem()
    assert problem is not None and problem.startswith("a poll of the memory tracker failed in Rushes itself")
    assert "tracker.read_not_recorded" in [entry["event"] for entry in logs]


def test_a_round_waiting_on_a_tracker_that_holds_its_calls_is_said_while_it_waits() -> None:
    """A far or overloaded site whose every call times out and is tried again: /readyz used to say "ok", and
    `rushes status` nothing, until the calls' whole retry budget was spent (minutes)."""
    now = [100.0]
    answering, started = threading.Event(), threading.Event()
    reported: list[str | None] = []

    def held_read() -> None:
        started.set()
        answering.wait(20)

    polling = TrackerPoller(
        "shotgrid",
        [held_read],
        10.0,
        Metrics(process=False),
        threading.Event(),
        reported.append,
        slow_after=60.0,
        clock=lambda: now[0],
    )
    waiting = threading.Thread(target=polling.round)
    waiting.start()
    assert started.wait(10)
    now[0] += 59.0
    polling.report_waiting()
    assert polling.problem() is None and reported == []  # within two timeouts: nothing to say yet
    now[0] += 16.0
    said = polling.problem()
    assert said is not None and said.startswith("cannot read the shotgrid tracker: a read has waited 75 s")
    polling.report_waiting()
    polling.report_waiting()
    assert reported == [said]  # stored once for `rushes status`
    answering.set()
    waiting.join(10)
    assert polling.problem() is None and reported == [said, None]  # it went through: all is well again


def answered_call(now: list[float], took: float) -> None:
    """One tracker call through the shared call path, answered `took` seconds of the test's clock later."""
    service = Service("Kitsu", "https://kitsu.example.com/api", lambda exc: False)

    def request() -> None:
        now[0] += took

    guarded(service, "task", request, RetryPolicy(attempts=1), lambda exc, what: None)


def test_a_long_round_of_quick_answers_is_not_slow_but_a_call_held_past_slow_after_is() -> None:
    """Kitsu's withdrawal check reads once per waiting task: 300 tasks at 0.2 s make a 60 s round of a healthy
    tracker, which used to be said slow (/readyz 503, `tracker.slow`)."""
    now = [100.0]
    reported: list[str | None] = []
    said_while: list[str | None] = []

    def many_quick_reads() -> None:
        for _ in range(300):
            answered_call(now, 0.2)
            polling.report_waiting()  # the main loop asking meanwhile
        said_while.append(polling.problem())

    def one_held_read() -> None:
        answered_call(now, 29.0)
        polling.report_waiting()
        said_while.append(polling.problem())
        now[0] += 32.0  # the next call held: no answer for 32 s
        said_while.append(polling.problem())
        polling.report_waiting()

    polling = TrackerPoller(
        "kitsu",
        [many_quick_reads, one_held_read],
        10.0,
        Metrics(process=False),
        threading.Event(),
        reported.append,
        slow_after=30.0,
        clock=lambda: now[0],
    )
    assert polling.round() is None
    assert now[0] - 100.0 > 120.0  # the round was four times slow_after
    held = said_while[2]
    assert said_while[:2] == [None, None]
    assert held == (
        "cannot read the kitsu tracker: a read has waited 32 s for the tracker's answer: "
        "the tracker, or the network to it, is slow or holds the calls"
    )
    assert reported == [held, None]  # said while it waited, and cleared when the round ended


def test_a_waiting_line_is_never_told_after_the_round_it_is_about_has_ended() -> None:
    """The main loop read the round as waiting, and the poller's thread ended the round (telling None) before
    the main loop told its line: `rushes status` showed the stale line until the next round ended."""
    now = [100.0]
    release, started = threading.Event(), threading.Event()
    reported: list[str | None] = []
    race = [False]

    def held_read() -> None:
        started.set()
        release.wait(20)

    def clock() -> float:
        if race[0]:  # the main loop has just read the clock: the round ends now, on its own thread
            race[0] = False
            release.set()
            waiting.join(20)
        return now[0]

    polling = TrackerPoller(
        "shotgrid",
        [held_read],
        10.0,
        Metrics(process=False),
        threading.Event(),
        reported.append,
        slow_after=60.0,
        clock=clock,
    )
    waiting = threading.Thread(target=polling.round)
    waiting.start()
    assert started.wait(10)
    now[0] += 61.0
    race[0] = True
    polling.report_waiting()
    assert not waiting.is_alive()
    assert reported == [None] and polling.problem() is None
