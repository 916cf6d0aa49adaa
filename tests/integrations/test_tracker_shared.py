"""The pieces both tracker adapters share: a request retried while it may pass and then named in one line,
cursors that refuse text they did not write, the first-start rule, and the two cursors' own windows."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from datetime import datetime, timedelta

import pytest

from integrations.trackers import cursors
from integrations.trackers.base import FixRequest, TrackerError, TrackerFatal
from integrations.trackers.calls import Service, answers_to, guarded
from integrations.trackers.kitsu.cursor import OVERLAP
from integrations.trackers.kitsu.cursor import Cursor as KitsuCursor
from integrations.trackers.retry import RetryPolicy
from integrations.trackers.shotgrid.cursor import Cursor as ShotGridCursor


class Flaky:
    """A request that fails with `errors` in turn, then answers "ok"."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


def service(waits: list[float]) -> Service:
    return Service("Studio", "http://tracker", lambda e: isinstance(e, ConnectionError), waits.append)


def never(exc: BaseException, what: str) -> TrackerError | None:
    return None


def test_a_transient_failure_is_retried_on_the_policys_schedule() -> None:
    waits: list[float] = []
    request = Flaky(ConnectionError("reset"), ConnectionError("reset"))
    assert guarded(service(waits), "shots", request, RetryPolicy(attempts=3, first=0.5), never) == "ok"
    assert waits == [0.5, 1.0]


def test_an_outage_longer_than_the_budget_is_one_retryable_line() -> None:
    request = Flaky(*[ConnectionError("refused")] * 3)
    with pytest.raises(TrackerError) as raised:
        guarded(service([]), "the event log", request, RetryPolicy(attempts=3), never)
    assert not isinstance(raised.value, TrackerFatal)
    assert str(raised.value) == (
        "Studio at http://tracker did not answer the event log after 3 attempts "
        "(ConnectionError: refused); will retry later"
    )


def test_a_permanent_failure_is_named_by_the_adapter_without_retrying() -> None:
    def explain(exc: BaseException, what: str) -> TrackerError | None:
        return TrackerFatal(f"Studio refused {what}: {exc}") if isinstance(exc, PermissionError) else None

    request = Flaky(PermissionError("script key revoked"))
    with pytest.raises(TrackerFatal, match="Studio refused a publish: script key revoked"):
        guarded(service([]), "a publish", request, RetryPolicy(attempts=5), explain)
    assert request.calls == 1


def test_our_own_errors_raised_inside_a_request_pass_unchanged() -> None:
    gone = TrackerFatal("the shot was deleted")
    with pytest.raises(TrackerFatal) as raised:
        guarded(service([]), "a publish", Flaky(gone), RetryPolicy(), never)
    assert raised.value is gone


@pytest.mark.parametrize(
    ("load", "text"),
    [
        (ShotGridCursor.load, "kitsu:2024-01-01"),
        (ShotGridCursor.load, "[1, 2]"),
        (ShotGridCursor.load, "true"),
        (KitsuCursor.load, '{"after": 5}'),
        (KitsuCursor.load, "1234"),
    ],
)
def test_a_cursor_this_adapter_did_not_write_is_refused_with_one_line(
    load: Callable[[str], object], text: str
) -> None:
    with pytest.raises(TrackerFatal, match="reset the tracker cursor"):
        load(text)


def test_a_first_start_backfills_once_and_a_stored_cursor_does_not() -> None:
    waiting = FixRequest("k:1", "DEMO", 1, "SH010", 7, ("denoise",))
    started: list[str] = []

    def start() -> ShotGridCursor:
        started.append("start")
        return ShotGridCursor(40)

    def backfill(state: ShotGridCursor) -> list[FixRequest]:
        state.waiting[39] = (7, 0.0)  # what the adapter returned is recorded in the new cursor
        return [waiting]

    state, items = cursors.open_batch(None, ShotGridCursor.load, start, backfill)
    assert (state.last, items, state.waiting) == (40, [waiting], {39: (7, 0.0)})
    again, more = cursors.open_batch(state.dump(), ShotGridCursor.load, start, backfill)
    assert (again, more, started) == (state, [], ["start"])


def test_shotgrid_ids_skipped_by_a_read_become_gaps_until_they_expire() -> None:
    cursor = ShotGridCursor(10)
    cursor.advance(13, now=100.0, max_gap=200)
    assert (cursor.last, cursor.gaps) == (13, {11: 100.0, 12: 100.0})
    cursor.advance(1000, now=101.0, max_gap=200)  # too big a jump to track id by id
    assert cursor.last == 1000 and set(cursor.gaps) == {11, 12}
    assert cursor.expire(now=350.0, timeout=300.0) == []
    assert sorted(cursor.expire(now=401.0, timeout=300.0)) == [11, 12]
    assert ShotGridCursor.load(cursor.dump()) == cursor


def test_kitsu_remembers_ids_only_within_the_overlap_window() -> None:
    start = datetime(2026, 1, 5, 13, 23, 10)
    cursor = KitsuCursor()
    cursor.mark("a", start)
    cursor.mark("b", start + OVERLAP + timedelta(seconds=1))
    cursor.prune()
    assert list(cursor.seen) == ["b"]
    assert cursor.query_after() == start + timedelta(seconds=1)
    assert KitsuCursor.load(cursor.dump()) == cursor


def test_an_outage_names_the_systems_reason_not_the_connection_pools_message() -> None:
    # what requests raises when nothing listens: /readyz and `rushes status` showed all of it, cut mid-word
    refused = ConnectionError(
        "HTTPConnectionPool(host='127.0.0.1', port=41709): Max retries exceeded with url: "
        '/api/data/events/last?name=comment%3Anew&limit=1000 (Caused by NewConnectionError("HTTPConnection('
        "host='127.0.0.1', port=41709): Failed to establish a new connection: [Errno 111] Connection refused\"))"
    )
    with pytest.raises(TrackerError) as raised:
        guarded(service([]), "the event log", Flaky(*[refused] * 2), RetryPolicy(attempts=2), never)
    assert str(raised.value) == (
        "Studio at http://tracker did not answer the event log after 2 attempts "
        "(ConnectionError: Connection refused); will retry later"
    )


def test_a_listener_is_told_of_each_answer_but_not_of_a_call_that_never_got_one() -> None:
    """The poller times a read from the tracker's last answer: an answer or a refusal ends a wait; a call whose
    every attempt timed out does not, and a thread outside `answers_to` tells no one."""
    answers: list[str] = []

    def timed_out() -> None:
        raise ConnectionError("timed out")  # transient, as a timeout is

    def refused() -> None:
        raise TrackerFatal("no such field")

    def read() -> None:
        guarded(service([]), "read", lambda: 1, RetryPolicy(attempts=1), never)

    with answers_to(lambda: answers.append("answer")):
        other = threading.Thread(target=read)  # another thread, while this one listens: no one told
        other.start()
        other.join(timeout=10)
        assert not other.is_alive() and answers == []
        guarded(service([]), "read", lambda: 1, RetryPolicy(attempts=3, first=0.0), never)
        with pytest.raises(TrackerFatal):
            guarded(service([]), "read", refused, RetryPolicy(attempts=3, first=0.0), never)
        with pytest.raises(TrackerError):
            guarded(service([]), "read", timed_out, RetryPolicy(attempts=3, first=0.0), never)
    assert answers == ["answer", "answer"]
    read()  # after the block: no one told
    assert answers == ["answer", "answer"]


def test_a_listener_is_put_back_when_its_block_raises() -> None:
    answers: list[str] = []
    with answers_to(lambda: answers.append("outer")):
        with pytest.raises(RuntimeError), answers_to(lambda: answers.append("inner")):
            guarded(service([]), "read", lambda: 1, RetryPolicy(attempts=1), never)
            raise RuntimeError("the poll failed")
        guarded(service([]), "read", lambda: 1, RetryPolicy(attempts=1), never)  # the outer listener again
    with pytest.raises(RuntimeError), answers_to(lambda: answers.append("only")):
        raise RuntimeError("the poll failed")
    guarded(service([]), "read", lambda: 1, RetryPolicy(attempts=1), never)  # none: no one told
    assert answers == ["inner", "outer"]


def test_jitter_adds_at_most_its_fraction_of_each_capped_wait() -> None:
    # a long outage: the uncapped delay grows to days, but no wait may exceed max_delay plus its jitter
    policy = RetryPolicy(attempts=40, first=0.5, factor=2.0, max_delay=8.0, jitter=0.25)
    plain = list(RetryPolicy(attempts=40, first=0.5, factor=2.0, max_delay=8.0).delays())
    for seed in range(20):
        waits = list(policy.delays(random.Random(seed)))
        assert len(waits) == 39
        assert all(base <= wait <= base * 1.25 for base, wait in zip(plain, waits, strict=True)), seed
    assert max(list(policy.delays(random.Random(0)))[10:]) > 8.0  # the jitter is there: waits are spread
