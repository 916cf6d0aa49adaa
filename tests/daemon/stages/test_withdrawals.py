"""The withdrawals stage against an in-memory tracker: a request whose task the coordinator moved out of the fix
status before Rushes started on it is not rendered; one still asked for, or already started, is; the tracker
is not asked while nothing waits."""

from __future__ import annotations

import pytest

from daemon.catalog import Catalog, fixes
from daemon.catalog import jobs as job_repo
from daemon.settings import ShowConfig
from daemon.stages.requests import poll_fix_requests
from daemon.stages.withdrawals import WHY, WithdrawalCheck, drop_withdrawn, withdrawn_at_claim
from integrations.trackers.base import TrackerError
from integrations.trackers.memory import MemoryTracker
from tests.daemon.stages.conftest import SHOW

SHOWS = [ShowConfig(code=SHOW, tracker_project=SHOW)]


def states(catalog: Catalog) -> dict[str, tuple[str, list[str]]]:
    """Each request's state and its fix jobs' states, by shot."""
    with catalog.session(readonly=True) as s:
        jobs = job_repo.list_jobs(s, kind="fix", limit=None)
        return {
            r.shot: (r.state, sorted(j.state for j in jobs if j.payload["request_id"] == r.id))
            for r in fixes.list_fix_requests(s, SHOW)
        }


def test_a_request_taken_back_before_it_started_is_not_rendered(
    catalog: Catalog, tracker: MemoryTracker
) -> None:
    kept = tracker.add_task(SHOW, "sh010")
    taken_back = tracker.add_task(SHOW, "sh020")
    omitted = tracker.add_task(SHOW, "sh030")
    tracker.tag(kept, "denoise")
    tracker.tag(taken_back, "denoise", "upscale")
    tracker.tag(omitted, "regrade")
    poll_fix_requests(tracker, catalog, SHOWS)
    tracker.tasks[taken_back].status = "ip"  # the artist takes the shot on instead
    del tracker.tasks[omitted]  # the shot is cut, its task deleted

    assert drop_withdrawn(tracker, catalog) == 2
    assert states(catalog) == {
        "sh010": ("open", ["queued"]),
        "sh020": ("withdrawn", ["done", "done"]),
        "sh030": ("withdrawn", ["done"]),
    }
    with catalog.session(readonly=True) as s:
        request = next(r for r in fixes.list_fix_requests(s, SHOW) if r.shot == "sh020")
        assert request.error == WHY
        ended = [j for j in job_repo.list_jobs(s, kind="fix", limit=None) if j.state == "done"]
        assert {str(j.result) for j in ended} == {str({"withdrawn": WHY})} and all(
            j.attempts == 0 for j in ended
        )
    assert tracker.tasks[taken_back].status == "ip"  # the coordinator's status stands

    assert drop_withdrawn(tracker, catalog) == 0  # the one left is still asked for


def test_asked_again_after_taking_it_back_is_a_new_request_that_runs(
    catalog: Catalog, tracker: MemoryTracker
) -> None:
    task = tracker.add_task(SHOW, "sh010")
    tracker.tag(task, "denoise")
    poll_fix_requests(tracker, catalog, SHOWS)
    tracker.tasks[task].status = "wtg"
    assert drop_withdrawn(tracker, catalog) == 1
    tracker.tag(task, "denoise", "upscale")  # the coordinator asks again, for more
    assert poll_fix_requests(tracker, catalog, SHOWS).new == 1
    assert drop_withdrawn(tracker, catalog) == 0
    with catalog.session(readonly=True) as s:
        requests = {r.state: r.kinds for r in fixes.list_fix_requests(s, SHOW)}
        queued = job_repo.list_jobs(s, kind="fix", state="queued", limit=None)
    assert requests == {"withdrawn": ["denoise"], "open": ["denoise", "upscale"]}
    assert len(queued) == 2


def test_a_request_a_worker_has_started_is_rendered_whole(catalog: Catalog, tracker: MemoryTracker) -> None:
    task = tracker.add_task(SHOW, "sh010")
    tracker.tag(task, "denoise", "upscale")
    poll_fix_requests(tracker, catalog, SHOWS)
    with catalog.session() as s:  # a worker claims one kind between the read and the drop
        assert job_repo.claim(s, "host:1:0", ["fix"], lease_s=60) is not None
    tracker.tasks[task].status = "omt"
    assert drop_withdrawn(tracker, catalog) == 0
    assert states(catalog) == {"sh010": ("open", ["queued", "running"])}


def test_a_request_taken_back_in_the_seconds_before_its_turn_ends_as_its_first_job_is_claimed(
    catalog: Catalog, tracker: MemoryTracker
) -> None:
    # untagged between two of the poller's checks (30 s apart), just before a worker was free: it used to be
    # rendered and published all the same
    taken_back, kept, begun = (tracker.add_task(SHOW, shot) for shot in ("sh010", "sh020", "sh030"))
    for task in (taken_back, kept, begun):
        tracker.tag(task, "denoise", "upscale")
    poll_fix_requests(tracker, catalog, SHOWS)
    tracker.tasks[taken_back].status = tracker.tasks[begun].status = "ip"

    def claimed(shot: str) -> tuple[int, int]:
        with catalog.session() as s:
            request = next(r for r in fixes.list_fix_requests(s, SHOW) if r.shot == shot)
            job = next(
                j
                for j in job_repo.list_jobs(s, kind="fix", state="queued", limit=None)
                if j.payload["request_id"] == request.id
            )
            job.state = "running"
            return job.id, request.id

    assert withdrawn_at_claim(tracker, catalog, *claimed("sh010"))
    assert not withdrawn_at_claim(tracker, catalog, *claimed("sh020"))  # still asked for
    claimed("sh030")  # one kind started earlier: the request is rendered whole
    assert not withdrawn_at_claim(tracker, catalog, *claimed("sh030"))
    assert states(catalog) == {
        "sh010": ("withdrawn", ["done", "running"]),  # the lane ends the claimed one with nothing made
        "sh020": ("open", ["queued", "running"]),
        "sh030": ("open", ["running", "running"]),
    }
    tracker.fail_next(
        only="withdrawn"
    )  # the tracker away: the job runs, the poller's check has the last word
    tracker.tasks[kept].status = "ip"
    with catalog.session() as s:
        request = next(r for r in fixes.list_fix_requests(s, SHOW) if r.shot == "sh020")
        other = next(
            j
            for j in job_repo.list_jobs(s, kind="fix", state="queued", limit=None)
            if j.payload["request_id"] == request.id
        )
        other.state = "running"
    assert not withdrawn_at_claim(tracker, catalog, other.id, request.id)


def test_the_tracker_is_not_asked_while_no_request_waits_and_an_outage_changes_nothing(
    catalog: Catalog, tracker: MemoryTracker
) -> None:
    assert drop_withdrawn(tracker, catalog) == 0
    task = tracker.add_task(SHOW, "sh010")
    tracker.tag(task, "denoise")
    poll_fix_requests(tracker, catalog, SHOWS)
    tracker.tasks[task].status = "ip"
    tracker.fail_next(only="withdrawn")
    with pytest.raises(TrackerError):  # the poller logs it and tries again next round
        drop_withdrawn(tracker, catalog)
    assert states(catalog) == {"sh010": ("open", ["queued"])}
    assert drop_withdrawn(tracker, catalog) == 1
    assert drop_withdrawn(tracker, catalog) == 0
    assert tracker.calls.count("withdrawn") == 2  # the failed read and the one that took it back


def test_the_pollers_check_reads_the_tracker_at_most_every_30_seconds(
    catalog: Catalog, tracker: MemoryTracker
) -> None:
    now = [0.0]
    check = WithdrawalCheck(tracker, catalog, clock=lambda: now[0])
    task = tracker.add_task(SHOW, "sh010")
    tracker.tag(task, "denoise")
    poll_fix_requests(tracker, catalog, SHOWS)
    assert check() == 0 and tracker.calls.count("withdrawn") == 1  # still asked for
    tracker.tasks[task].status = "ip"
    now[0] = 29.0
    assert check() == 0 and tracker.calls.count("withdrawn") == 1  # not yet: every poll would load Kitsu
    now[0] = 30.0
    assert check() == 1 and states(catalog) == {"sh010": ("withdrawn", ["done"])}


def test_asked_again_before_the_first_started_replaces_it(catalog: Catalog, tracker: MemoryTracker) -> None:
    """Taken back and asked again within one check (or a second fix comment on Kitsu): the newer request is the
    one rendered; before, both were."""
    task = tracker.add_task(SHOW, "sh010")
    other = tracker.add_task(SHOW, "sh020")
    tracker.tag(task, "denoise")
    tracker.tag(other, "upscale")
    poll_fix_requests(tracker, catalog, SHOWS)
    tracker.tasks[task].status = "ip"
    tracker.tag(task, "regrade", reference="1001")  # the coordinator changed their mind
    assert poll_fix_requests(tracker, catalog, SHOWS).new == 1
    with catalog.session(readonly=True) as s:
        requests = {r.id: (r.shot, r.kinds, r.state, r.error) for r in fixes.list_fix_requests(s, SHOW)}
        queued = sorted(
            j.key.rsplit(":", 1)[-1] for j in job_repo.list_jobs(s, kind="fix", state="queued", limit=None)
        )
    assert requests == {
        1: ("sh010", ["denoise"], "withdrawn", "replaced by request 3, asked since"),
        2: ("sh020", ["upscale"], "open", None),  # another task's: untouched
        3: ("sh010", ["regrade"], "open", None),
    }
    assert queued == ["regrade", "upscale"]
    assert drop_withdrawn(tracker, catalog) == 0


def test_on_kitsu_a_fix_comment_replaces_only_the_unstarted_requests_it_repeats(catalog: Catalog) -> None:
    """Each Kitsu fix comment is a request, and a second may add to the first: taken back and asked again the
    same within one check, the fix is rendered once (before, twice); asked for more, both are rendered."""
    tracker = MemoryTracker(comments=True)
    task, other = tracker.add_task(SHOW, "sh010"), tracker.add_task(SHOW, "sh020")
    tracker.tag(task, "interpolate", frames="1001")
    tracker.tag(other, "regrade")
    poll_fix_requests(tracker, catalog, SHOWS)
    tracker.tag(task, "interpolate", frames="1003")  # more frames: adds to the first
    tracker.tag(
        other, "regrade", "upscale", quality="best"
    )  # the first again (regrade reads no quality), and more
    tracker.tag(task, "interpolate", frames="1003")  # the second again, word for word
    assert poll_fix_requests(tracker, catalog, SHOWS).new == 3
    with catalog.session(readonly=True) as s:
        requests = {r.id: (r.shot, r.params, r.state, r.error) for r in fixes.list_fix_requests(s, SHOW)}
    assert requests == {
        1: ("sh010", {"frames": "1001"}, "open", None),
        2: ("sh020", {}, "withdrawn", "replaced by request 4, asked since"),
        3: ("sh010", {"frames": "1003"}, "withdrawn", "replaced by request 5, asked since"),
        4: ("sh020", {"quality": "best"}, "open", None),
        5: ("sh010", {"frames": "1003"}, "open", None),
    }
    with catalog.session(readonly=True) as s:
        queued = sorted(
            (j.payload["request_id"], j.payload["kind"])
            for j in job_repo.list_jobs(s, kind="fix", state="queued", limit=None)
        )
    assert queued == [(1, "interpolate"), (4, "regrade"), (4, "upscale"), (5, "interpolate")]


def test_a_check_the_tracker_refuses_stops_none_of_the_polls_other_reads(
    catalog: Catalog, tracker: MemoryTracker
) -> None:
    """A refusal that will not pass as configured (a status the site lacks) is logged; the poller's round goes
    on to read the supervisors' reviews (an outage, which may pass, is left to the poller's backoff)."""
    task = tracker.add_task(SHOW, "sh010")
    tracker.tag(task, "denoise")
    poll_fix_requests(tracker, catalog, SHOWS)
    tracker.fail_next(fatal=True, message="Kitsu has no task status wfa", only="withdrawn")
    assert WithdrawalCheck(tracker, catalog)() == 0
    assert states(catalog) == {"sh010": ("open", ["queued"])}
