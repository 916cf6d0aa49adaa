"""The publish stage against an in-memory tracker: a rendered fix in the outbox becomes exactly one Version
(a repeat after a crash finds it again), the task moves on once every kind is out (unless it was taken back
meanwhile), and what cannot work is Permanent, and answered on the task, while an outage is left to the
retry."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest

from daemon.catalog import Catalog, fixes
from daemon.catalog import jobs as job_repo
from daemon.jobs.outcomes import Permanent
from daemon.jobs.payloads import AnswerJob, queue
from daemon.jobs.runner import Lane
from daemon.settings import Settings
from daemon.stages.answering import answer, job_ended
from daemon.stages.publishing import publish
from integrations.executors.spec import JobOutcome
from integrations.trackers.base import TrackerError
from integrations.trackers.memory import MemoryTracker
from tests.daemon.jobs.ended import Finished
from tests.daemon.stages.conftest import SHOW
from tests.daemon.stages.outbox import rendered_fix


def test_a_rendered_fix_becomes_one_version_and_the_task_moves_to_review(
    settings: Settings, catalog: Catalog, tracker: MemoryTracker, tmp_path: Path
) -> None:
    task = tracker.add_task(SHOW, "sh010", status=tracker.options.fix_status)
    [job] = rendered_fix(catalog, tmp_path / "renders", SHOW, task)
    first = publish(settings, catalog, tracker, job)
    again = publish(settings, catalog, tracker, job)  # the job repeated after a crash
    assert first["created"] is True and again == {"version_id": first["version_id"], "created": False}
    [version] = tracker.versions.values()
    spec = version.spec
    assert spec.idempotency_key == job.key() == "publish:memory:event:1:denoise"
    assert (spec.project, spec.shot_id, spec.task_id) == (SHOW, 7, task)
    assert (spec.code, spec.first_frame, spec.last_frame) == ("sh010_rushes_denoise_r1", 1001, 1010)
    assert spec.description == "Rushes fix: denoise on sh010\n"
    assert [p.name for p in spec.attachments] == ["denoise_before_after.mp4"]
    assert tracker.tasks[task].status == tracker.options.published_status
    with catalog.session(readonly=True) as s:
        [request] = fixes.list_fix_requests(s, SHOW)
        assert request.state == "published"
        assert request.publications[0].tracker_version_id == str(version.id)


def test_a_request_asked_on_shotgrid_is_not_sent_to_kitsu_after_the_show_moved_there(
    settings: Settings, catalog: Catalog, tmp_path: Path
) -> None:
    # its publish was retried as Kitsu "did not answer" (a ShotGrid id is no Kitsu id), nothing saying why
    kitsu = MemoryTracker(name="kitsu")
    task = kitsu.add_task(SHOW, "sh010", status=kitsu.options.fix_status)
    [job] = rendered_fix(catalog, tmp_path / "renders", SHOW, task, key="shotgrid:event:229")
    said = (
        "fix request shotgrid:event:229 was asked on shotgrid, and this daemon's tracker is now kitsu: its task "
        "is not there, so nothing is sent for it; ask for the fix again on kitsu"
    )
    with pytest.raises(Permanent, match=f"^{re.escape(said)}$"):
        publish(settings, catalog, kitsu, job)
    with catalog.session(readonly=True) as s:
        [request] = fixes.list_fix_requests(s, SHOW)
        asked = AnswerJob(request.id, "its publish ended", request.request_key)
    with pytest.raises(Permanent, match=f"^{re.escape(said)}$"):
        answer(settings, catalog, kitsu, asked)
    assert (
        kitsu.versions == {} and kitsu.answers == {} and kitsu.tasks[task].status == kitsu.options.fix_status
    )
    shotgrid = MemoryTracker(name="shotgrid")  # where it was asked, the same task
    assert shotgrid.add_task(SHOW, "sh010", status=shotgrid.options.fix_status) == task
    assert publish(settings, catalog, shotgrid, job)["created"] is True


def test_the_task_waits_until_every_kind_of_the_request_is_published(
    settings: Settings, catalog: Catalog, tracker: MemoryTracker, tmp_path: Path
) -> None:
    task = tracker.add_task(SHOW, "sh010", status=tracker.options.fix_status)
    denoise, upscale = rendered_fix(catalog, tmp_path / "renders", SHOW, task, ("denoise", "upscale"))
    publish(settings, catalog, tracker, denoise)
    assert tracker.tasks[task].status == tracker.options.fix_status
    publish(settings, catalog, tracker, upscale)
    assert tracker.tasks[task].status == tracker.options.published_status
    assert len(tracker.versions) == 2


def test_a_request_asked_again_on_the_task_while_one_rendered_holds_the_task_in_fix(
    settings: Settings, catalog: Catalog, tracker: MemoryTracker, tmp_path: Path
) -> None:
    """The coordinator asked the task for another fix while the first rendered: the first's publish moved the
    task to review while the second waited, and when the second failed its answer left the task there."""
    task = tracker.add_task(SHOW, "sh010", status=tracker.options.fix_status)
    [denoise] = rendered_fix(catalog, tmp_path / "renders", SHOW, task)
    with catalog.session() as s:
        later, _ = fixes.add_fix_request(s, SHOW, "memory:event:2", "sh010", ["interpolate"], task_id=task)
        later_id = later.id
    publish(settings, catalog, tracker, denoise)
    assert len(tracker.versions) == 1 and tracker.tasks[task].status == tracker.options.fix_status
    with catalog.session() as s:
        fixes.set_fix_state(s, later_id, "failed", error="frames outside the shot")
    publish(settings, catalog, tracker, denoise)  # again (a crash's repeat): nobody waits now
    assert tracker.tasks[task].status == tracker.options.published_status


def test_a_kind_still_rendering_holds_the_task_though_every_version_so_far_is_out(
    settings: Settings, catalog: Catalog, tracker: MemoryTracker, tmp_path: Path
) -> None:
    # a request for denoise and upscale whose upscale is still rendering: denoise's Version goes out alone, and
    # the task must not go to review yet (the supervisor would review half the fix)
    task = tracker.add_task(SHOW, "sh010", status=tracker.options.fix_status)
    [denoise] = rendered_fix(
        catalog, tmp_path / "renders", SHOW, task, ("denoise", "upscale"), rendered=("denoise",)
    )
    publish(settings, catalog, tracker, denoise)
    assert len(tracker.versions) == 1
    assert tracker.tasks[task].status == tracker.options.fix_status
    with catalog.session(readonly=True) as s:
        [request] = fixes.list_fix_requests(s, SHOW)
        assert request.state != "published"


def test_a_request_withdrawn_while_its_fix_was_made_is_published_and_the_task_keeps_the_coordinators_status(
    settings: Settings, catalog: Catalog, tracker: MemoryTracker, tmp_path: Path
) -> None:
    task = tracker.add_task(SHOW, "sh010", status=tracker.options.fix_status)
    [job] = rendered_fix(catalog, tmp_path / "renders", SHOW, task)
    tracker.tasks[task].status = "omt"  # the shot was omitted while Rushes rendered
    publish(settings, catalog, tracker, job)
    publish(settings, catalog, tracker, job)  # repeated after a crash: still one Version, status kept
    assert len(tracker.versions) == 1
    assert tracker.tasks[task].status == "omt"
    with catalog.session(readonly=True) as s:
        [request] = fixes.list_fix_requests(s, SHOW)
        assert request.state == "published"


def test_a_frame_range_written_as_text_by_an_older_version_is_published_as_numbers(
    settings: Settings, catalog: Catalog, tracker: MemoryTracker, tmp_path: Path
) -> None:
    [job] = rendered_fix(catalog, tmp_path / "renders", SHOW, tracker.add_task(SHOW, "sh010"))
    with catalog.session() as s:
        pub = fixes.get_publication(s, job.publication_id)
        assert pub is not None
        pub.extra_files = {**pub.extra_files, "first_frame": "1001", "last_frame": "1010"}
    publish(settings, catalog, tracker, job)
    [version] = tracker.versions.values()
    assert (version.spec.first_frame, version.spec.last_frame) == (1001, 1010)


def test_missing_renders_a_refusing_tracker_and_no_tracker_are_permanent(
    settings: Settings, catalog: Catalog, tracker: MemoryTracker, tmp_path: Path
) -> None:
    [job] = rendered_fix(catalog, tmp_path / "renders", SHOW, tracker.add_task(SHOW, "sh010"))
    with pytest.raises(Permanent, match="nothing to publish to"):
        publish(settings, catalog, None, job)
    with pytest.raises(Permanent, match="does not exist"):
        publish(settings, catalog, tracker, replace(job, publication_id=999))
    tracker.fail_next(fatal=True, message="the site has no field Version.sg_path_to_movie")
    with pytest.raises(Permanent, match="no field"):
        publish(settings, catalog, tracker, job)
    (tmp_path / "renders" / "denoise.mp4").unlink()
    with pytest.raises(Permanent, match=r"denoise\.mp4 is missing"):
        publish(settings, catalog, tracker, job)
    assert tracker.versions == {}


def test_an_outage_is_left_to_the_retry_and_the_retry_publishes_once(
    settings: Settings, catalog: Catalog, tracker: MemoryTracker, tmp_path: Path
) -> None:
    [job] = rendered_fix(catalog, tmp_path / "renders", SHOW, tracker.add_task(SHOW, "sh010"))
    tracker.fail_next(only="publish_version")
    with pytest.raises(TrackerError) as caught:
        publish(settings, catalog, tracker, job)
    assert not isinstance(caught.value, Permanent)
    publish(settings, catalog, tracker, job)
    assert len(tracker.versions) == 1


def test_a_login_the_tracker_refuses_leaves_the_publish_and_the_answer_to_wait_for_the_mend(
    settings: Settings, catalog: Catalog, tracker: MemoryTracker, tmp_path: Path
) -> None:
    """The script key rotated while a fix rendered: the publish was dead-lettered at once, its answer too, and
    once the key was mended the request stayed failed, nobody told. A refused login is no fault of the Version:
    it waits in the outbox as through an outage."""
    from daemon.jobs.payloads import AnswerJob
    from daemon.stages.answering import answer

    task = tracker.add_task(SHOW, "sh010", status=tracker.options.fix_status)
    [job] = rendered_fix(catalog, tmp_path / "renders", SHOW, task)
    tracker.fail_next(2, login=True, message="ShotGrid rejected script 'rushes'")
    with pytest.raises(TrackerError) as caught:
        publish(settings, catalog, tracker, job)
    assert not isinstance(caught.value, Permanent) and "until mended" in str(caught.value)
    with catalog.session(readonly=True) as s:
        [request] = fixes.list_fix_requests(s, SHOW)
        told = AnswerJob(request.id, "why", request.request_key)
    with pytest.raises(TrackerError) as answered:
        answer(settings, catalog, tracker, told)
    assert not isinstance(answered.value, Permanent)
    publish(settings, catalog, tracker, job)  # mended: published once
    assert len(tracker.versions) == 1


def test_a_version_the_tracker_refuses_for_good_is_answered_and_once_retried_moves_the_task_on(
    settings: Settings, catalog: Catalog, tracker: MemoryTracker, tmp_path: Path
) -> None:
    task = tracker.add_task(SHOW, "sh010", status=tracker.options.fix_status)
    [job] = rendered_fix(catalog, tmp_path / "renders", SHOW, task)
    with catalog.session() as s:
        queued, _ = queue(s, job, show=SHOW)
    refused = "the site has no Version field sg_path_to_frames: run `rushes tracker setup`"
    outcome = JobOutcome.failed("publish", f"Permanent: {refused}", retryable=False)
    lane = Lane(catalog, "publish", ["publish"], lambda _job: Finished(outcome), on_dead=job_ended)
    lane.tick()
    lane.tick()
    with catalog.session(readonly=True) as s:
        [request] = fixes.list_fix_requests(s, SHOW)
        assert (request.state, request.error) == ("failed", refused)
        [row] = job_repo.list_jobs(s, kind="answer", limit=None)
        said = AnswerJob.from_json(row.payload)
    assert said.publish_job == queued.id
    answer(settings, catalog, tracker, said)
    body = tracker.answers[said.key()].body
    assert body.splitlines()[:2] == [
        f"Rushes made the denoise fix of sh010 but could not publish it: {refused}.",
        "Its files are kept: once the cause is mended, your pipeline's operator can publish it with "
        f"`rushes jobs retry {queued.id}`.",
    ]
    assert tracker.tasks[task].status == tracker.options.failed_status

    publish(settings, catalog, tracker, job)  # the operator mended the site and retried the job
    assert tracker.tasks[task].status == tracker.options.published_status  # Rushes' own hold is lifted
    with catalog.session(readonly=True) as s:
        assert fixes.list_fix_requests(s, SHOW)[0].state == "published"


def test_a_fix_answered_as_not_done_then_retried_by_hand_moves_the_task_on_when_published(
    settings: Settings, catalog: Catalog, tracker: MemoryTracker, tmp_path: Path
) -> None:
    """The daily was gone, the request answered (the task on Rushes' own hold), the file put back and the fix job
    retried by hand: its render moved the request on from "failed", so its publish read the task's hold as the
    coordinator's and kept it, beside the note saying Rushes had not done the fix."""
    task = tracker.add_task(SHOW, "sh010", status=tracker.options.fix_status)
    [job] = rendered_fix(catalog, tmp_path / "renders", SHOW, task)
    gone = "the daily /in/sh010_1.mov is no longer on disk: put it back, or deliver the shot again"
    with catalog.session() as s:
        [request] = fixes.list_fix_requests(s, SHOW)
        fixes.set_fix_state(s, request.id, "failed", error=gone)
        queue(s, AnswerJob(request.id, gone, request.request_key, "denoise"), show=SHOW)
    with catalog.session() as s:
        answering = job_repo.claim(s, "w", ["answer"], 60)
        assert answering is not None and job_repo.complete(s, answering.id, "w")
    tracker.tasks[task].status = tracker.options.failed_status  # what the answer did
    with catalog.session() as s:  # the fix job retried by hand, rendered again
        fixes.set_fix_state(s, request.id, "rendered")

    publish(settings, catalog, tracker, job)
    assert tracker.tasks[task].status == tracker.options.published_status  # Rushes' own hold is lifted
