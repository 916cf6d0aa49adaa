"""The in-memory tracker keeps the promises of the real adapters: cursors never repeat or lose an event, a
publish is idempotent by key, statuses come from its own options, injected failures surface as ours."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from integrations.trackers.base import Tracker, TrackerError, TrackerFatal, VersionSpec
from integrations.trackers.memory import MemoryTracker
from integrations.trackers.options import TrackerOptions


def spec(key: str = "publish:memory:event:1:interpolate", task_id: int | str | None = None) -> VersionSpec:
    return VersionSpec(
        idempotency_key=key,
        project="DEMO",
        shot_id=1,
        task_id=task_id,
        code="SH010_rushes_interpolate_r1",
        description="interpolated frames 1012-1016",
        movie_path=Path("/nowhere/sh010.mov"),
        first_frame=1001,
        last_frame=1024,
    )


def test_it_implements_the_tracker_protocol() -> None:
    tracker: Tracker = MemoryTracker()
    assert tracker.name == "memory"
    assert tracker.check()[0].ok


def test_a_tagged_task_becomes_one_fix_request_and_a_passed_back_cursor_never_repeats_it() -> None:
    tracker = MemoryTracker()
    task = tracker.add_task("DEMO", "SH010")
    tracker.tag(task, "interpolate", "regrade", note="wires", frames="1012-1016")
    first = tracker.fix_requests_since(None)
    [request] = first.items
    assert (request.project, request.shot_code, request.task_id) == ("DEMO", "SH010", task)
    assert request.kinds == ("interpolate", "regrade")
    assert request.params == {"frames": "1012-1016"}
    assert request.note == "wires"
    assert tracker.tasks[task].status == "fix"
    assert tracker.fix_requests_since(first.cursor).items == []
    tracker.tag(task, "denoise")
    again = tracker.fix_requests_since(first.cursor)
    assert [r.kinds for r in again.items] == [("denoise",)]
    assert again.items[0].key != request.key


def test_a_first_poll_returns_tasks_tagged_before_the_daemon_started_and_limit_pages_the_rest() -> None:
    tracker = MemoryTracker()
    tasks = [tracker.add_task("DEMO", f"SH0{n}0") for n in range(1, 4)]
    for task in tasks:
        tracker.tag(task, "denoise")
    page = tracker.fix_requests_since(None, limit=2)
    rest = tracker.fix_requests_since(page.cursor, limit=2)
    assert [r.task_id for r in page.items + rest.items] == tasks
    assert tracker.fix_requests_since(rest.cursor).items == []


def test_unknown_kinds_pass_through_for_the_daemon_to_reject() -> None:
    tracker = MemoryTracker()
    tracker.tag(tracker.add_task("DEMO", "SH010"), "sharpen")
    assert tracker.fix_requests_since(None).items[0].kinds == ("sharpen",)


def test_a_second_publish_with_the_same_key_finds_the_first_version() -> None:
    tracker = MemoryTracker(TrackerOptions(version_status="pndg"))
    first = tracker.publish_version(spec())
    second = tracker.publish_version(spec())
    assert first.created and not second.created
    assert first.version_id == second.version_id
    assert tracker.versions[spec().idempotency_key].status == "pndg"
    assert len(tracker.versions) == 1


def test_approvals_and_rejections_come_back_with_the_key_and_note_once() -> None:
    tracker = MemoryTracker()
    a = tracker.publish_version(spec("k1"))
    b = tracker.publish_version(spec("k2"))
    tracker.approve(a.version_id)
    tracker.reject(b.version_id, "flicker at 1014")
    batch = tracker.review_statuses_since(None)
    assert [(r.version_id, r.status, r.note, r.idempotency_key) for r in batch.items] == [
        (a.version_id, "approved", None, "k1"),
        (b.version_id, "rejected", "flicker at 1014", "k2"),
    ]
    assert tracker.versions["k2"].status == "rej"
    assert tracker.review_statuses_since(batch.cursor).items == []


def test_reviewing_a_version_that_was_never_published_says_so() -> None:
    with pytest.raises(KeyError, match="no Version 99"):
        MemoryTracker().approve(99)


def test_mark_published_uses_the_trackers_own_published_status_and_moves_only_a_task_asking_for_a_fix() -> (
    None
):
    tracker = MemoryTracker(TrackerOptions(published_status="done"))
    task = tracker.add_task("DEMO", "SH010")
    tracker.tag(task, "denoise")
    assert tracker.mark_published(task) and tracker.mark_published(task)
    assert tracker.tasks[task].status == "done"
    moved_on = tracker.add_task("DEMO", "SH020", status="ip")
    assert not tracker.mark_published(moved_on)
    assert tracker.tasks[moved_on].status == "ip"
    with pytest.raises(TrackerFatal, match="no task 404"):
        tracker.mark_published(404)


def test_injected_failures_are_transient_or_fatal_and_used_up_in_order() -> None:
    tracker = MemoryTracker()
    tracker.fail_next(2)
    tracker.fail_next(fatal=True, message="bad script key")
    for _ in range(2):
        with pytest.raises(TrackerError) as transient:
            tracker.fix_requests_since(None)
        assert not isinstance(transient.value, TrackerFatal)
    with pytest.raises(TrackerFatal, match="bad script key"):
        tracker.publish_version(spec())
    assert tracker.versions == {}
    assert tracker.fix_requests_since(None).items == []
    assert tracker.calls == ["fix_requests_since"] * 2 + ["publish_version", "fix_requests_since"]


def test_a_failure_aimed_at_one_method_leaves_the_others_alone() -> None:
    tracker = MemoryTracker()
    tracker.fail_next(only="publish_version")
    tracker.review_statuses_since(None)
    with pytest.raises(TrackerError):
        tracker.publish_version(spec())
    assert tracker.publish_version(spec()).created


def test_check_reports_an_injected_outage_instead_of_raising() -> None:
    tracker = MemoryTracker()
    tracker.fail_next(message="connection refused")
    assert [(c.what, c.ok, c.detail) for c in tracker.check()] == [("connect", False, "connection refused")]


def test_a_cursor_from_another_tracker_is_refused_with_one_line() -> None:
    with pytest.raises(TrackerFatal, match="not written by the memory tracker"):
        MemoryTracker().fix_requests_since('{"last": 12}')


def test_tagging_from_many_threads_loses_no_request() -> None:
    tracker = MemoryTracker()
    task = tracker.add_task("DEMO", "SH010")
    threads = [
        threading.Thread(target=lambda: [tracker.tag(task, "denoise") for _ in range(50)]) for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    keys = [r.key for r in tracker.fix_requests_since(None, limit=1000).items]
    assert len(keys) == len(set(keys)) == 200
