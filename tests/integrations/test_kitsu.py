# ruff: noqa: F811  (pytest fixtures imported from kitsu_fixtures are test arguments here)
"""The Kitsu adapter against a real zou server (tests/servers/zou.py), driven through gazu as a
coordinator and a supervisor would drive Kitsu."""

from __future__ import annotations

import http.server
import threading
import uuid
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import av
import gazu
import pytest
from gazu.client import KitsuClient
from pydantic import SecretStr

from integrations.trackers.base import Notice, RequestAnswer, TrackerError, TrackerFatal, VersionSpec
from integrations.trackers.kitsu import KitsuTracker, events
from integrations.trackers.kitsu.cursor import parse_time
from integrations.trackers.kitsu.fixes import PENDING_GRACE, utc_now
from integrations.trackers.retry import RetryPolicy
from tests.integrations.kitsu_fixtures import (  # noqa: F401  (fixtures)
    FIX_STATUS,
    KitsuShot,
    kitsu_admin,
    kitsu_options,
    kitsu_shot,
    write_movie,
    zou_server,
)
from tests.integrations.sg_fixtures import KINDS
from tests.servers.redis import free_port
from tests.servers.zou import ZouServer

pytestmark = [pytest.mark.kitsu, pytest.mark.timeout(300)]


def tracker(zou: ZouServer, **overrides: object) -> KitsuTracker:
    return KitsuTracker(
        kitsu_options(zou, **overrides), kinds=KINDS, policy=RetryPolicy(attempts=2, first=0.1)
    )


def post(admin: KitsuClient, shot: KitsuShot, status: str, text: str) -> dict[str, object]:
    found = gazu.task.get_task_status_by_short_name(status, client=admin)
    comment: dict[str, object] = gazu.task.add_comment(shot.task_id, found, text, client=admin)
    return comment


def spec_for(shot: KitsuShot, movie: Path, key: str) -> VersionSpec:
    return VersionSpec(
        idempotency_key=key,
        project=str(shot.project["code"]),
        shot_id=str(shot.shot["id"]),
        task_id=shot.task_id,
        code="SH010_interpolate_v001",
        description="interpolate frames 1012-1016 with show model v3 (PSNR 38.1 dB vs DIS 37.4 dB)",
        movie_path=movie,
        first_frame=1001,
        last_frame=1024,
    )


def test_fix_request_is_read_once_and_not_again_after_a_restart(
    zou_server: ZouServer, kitsu_admin: KitsuClient, kitsu_shot: KitsuShot
) -> None:
    first = tracker(zou_server)
    start = first.fix_requests_since(None)
    assert all(r.task_id != kitsu_shot.task_id for r in start.items)

    post(kitsu_admin, kitsu_shot, "wip", "#rushes denoise (not the fix status: not a request)")
    comment = post(
        kitsu_admin, kitsu_shot, FIX_STATUS, "Dropped frames here.\n#rushes interpolate frames=1012-1016"
    )
    batch = first.fix_requests_since(start.cursor)

    mine = [r for r in batch.items if r.task_id == kitsu_shot.task_id]
    assert len(mine) == 1
    request = mine[0]
    assert request.key == f"kitsu:comment:{comment['id']}"
    assert request.kinds == ("interpolate",)
    assert request.params == {"frames": "1012-1016"}
    assert (request.shot_id, request.shot_code) == (kitsu_shot.shot["id"], "SH010")
    assert request.qualified_codes == ("SQ01_SH010",)  # Kitsu's shot names repeat from sequence to sequence
    assert not request.shared_codes  # ... but not yet in this project
    assert request.project == kitsu_shot.project["code"]
    assert request.requested_at is not None and request.requested_at.tzinfo is not None

    assert [r for r in first.fix_requests_since(batch.cursor).items if r.task_id == kitsu_shot.task_id] == []
    restarted = tracker(zou_server)  # a new process: only the persisted cursor carries over
    again = restarted.fix_requests_since(batch.cursor)
    assert [r for r in again.items if r.task_id == kitsu_shot.task_id] == []


def test_a_request_on_a_shot_whose_name_another_sequence_repeats_says_so(
    zou_server: ZouServer, kitsu_admin: KitsuClient, kitsu_shot: KitsuShot
) -> None:
    """SH010 in SQ01 and in SQ02: the daemon asks for dailies named by the sequence rather than fixing SQ02's
    request from bare-named dailies that may be SQ01's (daemon.stages.requests)."""
    kitsu = tracker(zou_server)
    start = kitsu.fix_requests_since(None)
    sequence = gazu.shot.new_sequence(kitsu_shot.project, "SQ02", client=kitsu_admin)
    twin = gazu.shot.new_shot(kitsu_shot.project, sequence, "SH010", client=kitsu_admin)
    task = gazu.task.new_task(
        twin, gazu.task.get_task_type_by_name("Compositing", client=kitsu_admin), client=kitsu_admin
    )
    fix = gazu.task.get_task_status_by_short_name(FIX_STATUS, client=kitsu_admin)
    gazu.task.add_comment(task["id"], fix, "#rushes denoise", client=kitsu_admin)
    [request] = [r for r in kitsu.fix_requests_since(start.cursor).items if r.task_id == task["id"]]
    assert (request.shot_code, request.qualified_codes, request.shared_codes) == (
        "SH010",
        ("SQ02_SH010",),
        ("SH010",),
    )


def test_a_request_on_a_series_shot_is_qualified_by_its_episode_where_another_episode_repeats_its_sequence(
    zou_server: ZouServer, kitsu_admin: KitsuClient, kitsu_shot: KitsuShot
) -> None:
    """E01's and E02's SQ05 each with a shot SH010: the request offered SQ05_SH010, which fits both shots, as
    the shot's own name, so E01's fix could be rendered from E02's plate."""
    kitsu = tracker(zou_server)
    start = kitsu.fix_requests_since(None)
    compositing = gazu.task.get_task_type_by_name("Compositing", client=kitsu_admin)
    tasks = []
    for name in ("E01", "E02"):
        episode = gazu.shot.new_episode(kitsu_shot.project, name, client=kitsu_admin)
        sequence = gazu.shot.new_sequence(kitsu_shot.project, "SQ05", episode=episode, client=kitsu_admin)
        shot = gazu.shot.new_shot(kitsu_shot.project, sequence, "SH010", client=kitsu_admin)
        tasks.append(gazu.task.new_task(shot, compositing, client=kitsu_admin))
    fix = gazu.task.get_task_status_by_short_name(FIX_STATUS, client=kitsu_admin)
    gazu.task.add_comment(tasks[0]["id"], fix, "#rushes denoise", client=kitsu_admin)
    [request] = [r for r in kitsu.fix_requests_since(start.cursor).items if r.task_id == tasks[0]["id"]]
    assert (request.qualified_codes, request.shared_codes) == (("E01_SQ05_SH010",), ("SQ05_SH010", "SH010"))


def test_first_start_picks_up_a_task_already_waiting_in_the_fix_status(
    zou_server: ZouServer, kitsu_admin: KitsuClient, kitsu_shot: KitsuShot
) -> None:
    post(kitsu_admin, kitsu_shot, FIX_STATUS, "#rushes regrade reference=1001")

    batch = tracker(zou_server).fix_requests_since(None)
    mine = [r for r in batch.items if r.task_id == kitsu_shot.task_id]
    assert [(r.kinds, r.params) for r in mine] == [(("regrade",), {"reference": "1001"})]

    later = tracker(zou_server).fix_requests_since(batch.cursor)
    assert [r for r in later.items if r.task_id == kitsu_shot.task_id] == []


def test_a_request_withdrawn_before_it_is_read_is_dropped(
    zou_server: ZouServer, kitsu_admin: KitsuClient, kitsu_shot: KitsuShot
) -> None:
    kitsu = tracker(zou_server)
    start = kitsu.fix_requests_since(None)
    post(kitsu_admin, kitsu_shot, FIX_STATUS, "#rushes denoise")
    post(kitsu_admin, kitsu_shot, "wip", "Sorry, wrong shot.")
    assert [r for r in kitsu.fix_requests_since(start.cursor).items if r.task_id == kitsu_shot.task_id] == []


def test_a_fix_asked_on_an_assets_task_is_answered_on_it(
    zou_server: ZouServer, kitsu_admin: KitsuClient, kitsu_shot: KitsuShot
) -> None:
    kitsu = tracker(zou_server)
    start = kitsu.fix_requests_since(None)
    kind = gazu.asset.new_asset_type(f"Prop {kitsu_shot.task_id[:6]}", client=kitsu_admin)
    asset = gazu.asset.new_asset(kitsu_shot.project, kind, "robot", client=kitsu_admin)
    modeling = gazu.task.get_task_type_by_name("Modeling", client=kitsu_admin)
    task = gazu.task.new_task(asset, modeling, client=kitsu_admin)
    fix = gazu.task.get_task_status_by_short_name(FIX_STATUS, client=kitsu_admin)
    gazu.task.add_comment(task["id"], fix, "#rushes denoise", client=kitsu_admin)

    [request] = [r for r in kitsu.fix_requests_since(start.cursor).items if r.task_id == task["id"]]
    assert request.empty and request.problems == (  # it used to be dropped with a log line
        f"this task is on the {kind['name'].lower()} robot, not on a shot: Rushes fixes shots' dailies, so ask "
        "on the task of the shot",
    )
    assert not request.replaces_earlier  # each fix comment is a request of its own
    kitsu.answer_request(RequestAnswer("answer:asset", request.shot_id, request.task_id, "Rushes", "why"))
    assert "why" in str(gazu.task.all_comments_for_task(task["id"], client=kitsu_admin)[0]["text"])
    assert gazu.task.get_task(task["id"], client=kitsu_admin)["task_status"]["short_name"] == "todo"


def test_a_fix_comment_read_before_zou_moves_its_task_waits_for_the_move(
    zou_server: ZouServer, kitsu_admin: KitsuClient, kitsu_shot: KitsuShot
) -> None:
    """zou writes a comment and its event before it moves the task to the comment's status; a request read
    in between waits for the move rather than being taken for withdrawn."""
    fix = gazu.task.get_task_status_by_short_name(FIX_STATUS, client=kitsu_admin)
    person = gazu.client.get_current_user(client=kitsu_admin)
    # the comment as zou first writes it: recorded, its task not yet moved (the data route moves nothing)
    fields = {"object_id": kitsu_shot.task_id, "object_type": "Task", "task_status_id": fix["id"]}
    comment = gazu.client.post(
        "data/comments", {**fields, "person_id": person["id"], "text": "#rushes denoise"}, client=kitsu_admin
    )
    at = parse_time(comment["created_at"])
    kitsu = tracker(zou_server)
    with pytest.raises(events.NotYet):
        kitsu.fixes.request(str(comment["id"]), at)
    late = KitsuTracker(
        kitsu_options(zou_server), kinds=KINDS, clock=lambda: utc_now() + PENDING_GRACE + timedelta(seconds=1)
    )
    assert late.fixes.request(str(comment["id"]), at) is None  # never moved within the grace: dropped

    # zou's move: the task takes the comment's status and date
    moved = {"task_status_id": fix["id"], "last_comment_date": comment["created_at"]}
    gazu.client.put(f"data/tasks/{kitsu_shot.task_id}", moved, client=kitsu_admin)
    request = kitsu.fixes.request(str(comment["id"]), at)
    assert request is not None and request.kinds == ("denoise",)

    post(kitsu_admin, kitsu_shot, "wip", "Sorry, wrong shot.")  # a later comment moves it on: withdrawn
    assert kitsu.fixes.request(str(comment["id"]), at) is None


def test_a_poll_stops_before_an_event_not_readable_yet_and_reads_it_next_time(
    zou_server: ZouServer, kitsu_admin: KitsuClient, kitsu_shot: KitsuShot
) -> None:
    kitsu = tracker(zou_server)
    cursor = events.start_cursor(kitsu.conn)
    first = post(kitsu_admin, kitsu_shot, "wip", "one")
    second = post(kitsu_admin, kitsu_shot, "wip", "two")
    ready: set[str] = set()

    def handle(event: dict[str, object]) -> str | None:
        data = event.get("data") or {}
        assert isinstance(data, dict)
        if data.get("task_id") != kitsu_shot.task_id:
            return None
        if data["comment_id"] == first["id"] and first["id"] not in ready:
            raise events.NotYet("the first comment is not ready")
        return str(data["comment_id"])

    assert events.poll(kitsu.conn, cursor, 10, handle) == []  # the second waits behind the first
    ready.add(str(first["id"]))
    assert events.poll(kitsu.conn, cursor, 10, handle) == [first["id"], second["id"]]
    assert events.poll(kitsu.conn, cursor, 10, handle) == []


def test_a_note_from_rushes_on_a_task_in_fix_is_not_read_as_a_request(
    zou_server: ZouServer, kitsu_admin: KitsuClient, kitsu_shot: KitsuShot
) -> None:
    kitsu = tracker(zou_server)
    post(kitsu_admin, kitsu_shot, FIX_STATUS, "#rushes interpolate frames=1012-1016")
    start = kitsu.fix_requests_since(None)

    kitsu.add_note(
        kitsu_shot.shot["id"], kitsu_shot.task_id, "Rushes could not fix", "#rushes interpolate failed"
    )

    assert [r for r in kitsu.fix_requests_since(start.cursor).items if r.task_id == kitsu_shot.task_id] == []
    newest = gazu.task.all_comments_for_task(kitsu_shot.task_id, client=kitsu_admin)[0]
    assert "Rushes could not fix" in newest["text"]
    assert newest["task_status"]["short_name"] == FIX_STATUS  # a note keeps the task's status


def test_a_fix_asked_on_a_shot_removed_from_the_cut_is_a_request_answered_that_it_is_cancelled(
    zou_server: ZouServer, kitsu_admin: KitsuClient, kitsu_shot: KitsuShot
) -> None:
    kitsu = tracker(zou_server)
    start = kitsu.fix_requests_since(None)
    gazu.shot.remove_shot(kitsu_shot.shot, client=kitsu_admin)  # a shot with tasks: Kitsu cancels it
    post(kitsu_admin, kitsu_shot, FIX_STATUS, "#rushes denoise")  # its task was still asked a fix
    [request] = [r for r in kitsu.fix_requests_since(start.cursor).items if r.task_id == kitsu_shot.task_id]
    name = kitsu_shot.shot["name"]
    assert request.kinds == () and request.problems == (
        f"the shot {name} is cancelled in Kitsu, so Rushes does not fix it: if it is back in the cut, restore "
        "it, then ask again",
    )


def test_a_notice_is_one_comment_that_keeps_the_tasks_status(
    zou_server: ZouServer, kitsu_admin: KitsuClient, kitsu_shot: KitsuShot
) -> None:
    kitsu = tracker(zou_server)
    post(kitsu_admin, kitsu_shot, FIX_STATUS, "#rushes denoise")  # asked again: a notice must not answer it
    notice = Notice("notice:plate:1:abc", kitsu_shot.shot["id"], kitsu_shot.task_id, "Rushes: plate", "again")
    kitsu.notify(notice)
    kitsu.notify(notice)  # a retry after a lost reply: not posted twice
    comments = gazu.task.all_comments_for_task(kitsu_shot.task_id, client=kitsu_admin)
    told = [c for c in comments if "Rushes: plate" in str(c["text"])]
    assert len(told) == 1 and "again" in str(told[0]["text"])
    assert told[0]["task_status"]["short_name"] == FIX_STATUS


def test_a_fix_comment_naming_no_fix_is_answered_with_one_comment_that_takes_the_task_to_todo(
    zou_server: ZouServer, kitsu_admin: KitsuClient, kitsu_shot: KitsuShot
) -> None:
    kitsu = tracker(zou_server)
    start = kitsu.fix_requests_since(None)
    post(kitsu_admin, kitsu_shot, FIX_STATUS, "")  # the status changed from Kitsu's menu, no text
    batch = kitsu.fix_requests_since(start.cursor)
    [request] = [r for r in batch.items if r.task_id == kitsu_shot.task_id]
    assert request.empty and request.problems == (
        "the comment that set the fix status names no fix: write one of interpolate, regrade, denoise, "
        "upscale, cleanup in it (e.g. '#rushes denoise')",
    )
    answer = RequestAnswer(f"answer:{request.key}:request", request.shot_id, request.task_id, "Rushes", "why")
    kitsu.answer_request(answer)
    kitsu.answer_request(answer)  # a retry after a lost reply: not posted twice
    comments = gazu.task.all_comments_for_task(kitsu_shot.task_id, client=kitsu_admin)
    assert ["why" in str(c["text"]) for c in comments] == [True, False]
    assert gazu.task.get_task(kitsu_shot.task_id, client=kitsu_admin)["task_status"]["short_name"] == "todo"
    assert [r for r in kitsu.fix_requests_since(batch.cursor).items if r.task_id == kitsu_shot.task_id] == []

    post(
        kitsu_admin, kitsu_shot, FIX_STATUS, "#rushes sharpen"
    )  # a failed_status Kitsu lacks: the comment alone
    lacking = tracker(zou_server, failed_status="parked")
    assert not {c.what: c for c in lacking.check()}["status failed_status"].ok
    lacking.answer_request(RequestAnswer("answer:2", request.shot_id, request.task_id, "Rushes", "again"))
    newest = gazu.task.all_comments_for_task(kitsu_shot.task_id, client=kitsu_admin)[0]
    assert "again" in newest["text"] and newest["task_status"]["short_name"] == FIX_STATUS


def test_publish_uploads_the_movie_as_a_preview_once_per_key(
    zou_server: ZouServer, kitsu_admin: KitsuClient, kitsu_shot: KitsuShot, tmp_path: Path
) -> None:
    movie = write_movie(tmp_path / "SH010_interpolate_v001.mp4")
    kitsu = tracker(zou_server)
    post(kitsu_admin, kitsu_shot, FIX_STATUS, "#rushes interpolate")

    published = kitsu.publish_version(spec_for(kitsu_shot, movie, "job-41:publish"))

    assert published.created
    preview = gazu.files.get_preview_file(published.version_id, client=kitsu_admin)
    assert (preview["status"], preview["extension"], preview["task_id"]) == (
        "ready",
        "mp4",
        kitsu_shot.task_id,
    )
    stored = list((zou_server.preview_folder / "movies" / "previews").rglob(str(published.version_id)))
    assert len(stored) == 1 and stored[0].stat().st_size > 0
    downloaded = tmp_path / "downloaded.mp4"
    gazu.files.download_preview_movie(preview, str(downloaded), client=kitsu_admin)
    with av.open(str(downloaded)) as container:
        assert container.streams.video[0].codec_context.name == "h264"
        assert sum(1 for _ in container.decode(video=0)) >= 20
    task = gazu.task.get_task(kitsu_shot.task_id, client=kitsu_admin)
    assert task["task_status"]["short_name"] == "wfa"
    comments = gazu.task.all_comments_for_task(kitsu_shot.task_id, client=kitsu_admin)
    assert "rushes-key: job-41:publish" in comments[0]["text"]

    again = tracker(zou_server).publish_version(spec_for(kitsu_shot, movie, "job-41:publish"))

    assert (again.version_id, again.created) == (published.version_id, False)
    assert len(gazu.task.all_comments_for_task(kitsu_shot.task_id, client=kitsu_admin)) == len(comments)
    assert len(gazu.files.get_all_preview_files_for_task(kitsu_shot.task_id, client=kitsu_admin)) == 1


def test_a_request_withdrawn_while_rushes_worked_is_published_in_the_status_the_coordinator_gave(
    zou_server: ZouServer, kitsu_admin: KitsuClient, kitsu_shot: KitsuShot, tmp_path: Path
) -> None:
    def status() -> str:
        return str(gazu.task.get_task(kitsu_shot.task_id, client=kitsu_admin)["task_status"]["short_name"])

    kitsu = tracker(zou_server)
    post(kitsu_admin, kitsu_shot, FIX_STATUS, "#rushes interpolate")
    post(kitsu_admin, kitsu_shot, "todo", "not this one after all")  # taken back while Rushes rendered
    published = kitsu.publish_version(spec_for(kitsu_shot, write_movie(tmp_path / "m.mp4"), "job-7:publish"))
    assert published.created and not kitsu.mark_published(kitsu_shot.task_id)
    newest = gazu.task.all_comments_for_task(kitsu_shot.task_id, client=kitsu_admin)[0]
    assert "rushes-key: job-7:publish" in newest["text"] and newest["task_status"]["short_name"] == "todo"
    assert status() == "todo"

    # answered as not done before (failed_status is Kitsu's stock todo here), then a job retried by hand
    assert kitsu.mark_published(kitsu_shot.task_id, answered=True) and status() == "wfa"


def test_a_task_moved_on_by_a_person_deleted_or_cancelled_is_a_request_taken_back_and_rushes_own_move_is_not(
    zou_server: ZouServer, kitsu_admin: KitsuClient, kitsu_shot: KitsuShot
) -> None:
    kitsu = tracker(zou_server)
    task, missing = kitsu_shot.task_id, "00000000-0000-4000-8000-000000000000"
    post(kitsu_admin, kitsu_shot, FIX_STATUS, "#rushes denoise")
    assert kitsu.withdrawn([task, missing]) == {missing}
    # Rushes' own publish of an earlier request moved it to wfa, an artist chatted after: still asking
    post(
        kitsu_admin,
        kitsu_shot,
        "wfa",
        "**SH010_rushes_regrade_r1**\n\nrushes-key: publish:kitsu:comment:1:regrade",
    )
    post(kitsu_admin, kitsu_shot, "wfa", "looks good to me")
    assert kitsu.withdrawn([task]) == set()
    # a person sets wfa ("the plate is fine"): taken back, as any status but fix (it used to count as asking)
    post(kitsu_admin, kitsu_shot, FIX_STATUS, "#rushes denoise")
    post(kitsu_admin, kitsu_shot, "wfa", "taken back, the plate is fine")
    assert kitsu.withdrawn([task]) == {task}
    post(kitsu_admin, kitsu_shot, FIX_STATUS, "#rushes denoise")
    post(kitsu_admin, kitsu_shot, "todo", "not this one after all")
    assert kitsu.withdrawn([task]) == {task}
    post(kitsu_admin, kitsu_shot, FIX_STATUS, "#rushes denoise")
    gazu.shot.remove_shot(kitsu_shot.shot, client=kitsu_admin)  # out of the cut while its request waits
    assert kitsu.withdrawn([task]) == {task}


def test_a_fix_asked_again_while_the_first_renders_is_read_after_the_first_is_published(
    zou_server: ZouServer, kitsu_admin: KitsuClient, kitsu_shot: KitsuShot, tmp_path: Path
) -> None:
    # the first request's Version went out before the poller read the second: its comment moved the task to wfa,
    # and the second was dropped as taken back, the upscale never made, nobody told
    def status() -> str:
        return str(gazu.task.get_task(kitsu_shot.task_id, client=kitsu_admin)["task_status"]["short_name"])

    kitsu = tracker(zou_server)
    start = kitsu.fix_requests_since(None)
    post(kitsu_admin, kitsu_shot, FIX_STATUS, "#rushes denoise")
    first = kitsu.fix_requests_since(start.cursor)
    post(kitsu_admin, kitsu_shot, FIX_STATUS, "#rushes upscale")  # asked again while the denoise renders
    kitsu.publish_version(spec_for(kitsu_shot, write_movie(tmp_path / "d.mp4"), "publish:first:denoise"))
    assert status() == "wfa"
    [again] = [r for r in kitsu.fix_requests_since(first.cursor).items if r.task_id == kitsu_shot.task_id]
    assert again.kinds == ("upscale",)

    # known to Rushes before the first is published: the first's comment keeps the task in fix for it
    post(kitsu_admin, kitsu_shot, FIX_STATUS, "#rushes regrade")
    kept = replace(
        spec_for(kitsu_shot, write_movie(tmp_path / "u.mp4"), "publish:again:upscale"), keep_status=True
    )
    kitsu.publish_version(kept)
    assert status() == FIX_STATUS


def test_a_review_movie_keeps_its_sync_sound_through_kitsus_normalization(
    zou_server: ZouServer, kitsu_admin: KitsuClient, kitsu_shot: KitsuShot, tmp_path: Path
) -> None:
    from engine.media import MovieWriter, read_clip
    from engine.media.audio import SoundSpan
    from tests import footage

    daily = footage.movie_with_sound(tmp_path / "A001C003.mov", 24, clap_at=0.5, size=(160, 96))
    movie = tmp_path / "SH010_denoise_v001.mp4"
    with MovieWriter(movie, 24, 160, 96, options={"bf": "0"}, sound=SoundSpan(daily)) as writer:
        for rgb in read_clip(str(daily)):
            writer.write(rgb)

    published = tracker(zou_server).publish_version(spec_for(kitsu_shot, movie, "job-43:publish"))

    preview = gazu.files.get_preview_file(published.version_id, client=kitsu_admin)
    downloaded = tmp_path / "downloaded.mp4"
    gazu.files.download_preview_movie(preview, str(downloaded), client=kitsu_admin)
    assert abs(footage.clap_time(downloaded) - 0.5) < 0.002  # the supervisor hears the clap on its frame


def test_supervisor_verdicts_come_back_as_review_statuses(
    zou_server: ZouServer, kitsu_admin: KitsuClient, kitsu_shot: KitsuShot, tmp_path: Path
) -> None:
    kitsu = tracker(zou_server)
    published = kitsu.publish_version(spec_for(kitsu_shot, write_movie(tmp_path / "v1.mp4"), "job-7:publish"))
    start = kitsu.review_statuses_since(None)

    post(kitsu_admin, kitsu_shot, "approved", "Looks great, ship it.")
    batch = kitsu.review_statuses_since(start.cursor)

    mine = [r for r in batch.items if r.version_id == published.version_id]
    assert len(mine) == 1
    assert (mine[0].status, mine[0].note, mine[0].idempotency_key) == (
        "approved",
        "Looks great, ship it.",
        "job-7:publish",
    )

    post(kitsu_admin, kitsu_shot, "retake", "Edge flicker on frame 1014.")
    later = tracker(zou_server).review_statuses_since(batch.cursor)
    assert [(r.version_id, r.status) for r in later.items] == [(published.version_id, "rejected")]


def test_rushes_own_notes_and_a_verdict_on_an_artists_newer_revision_are_no_verdicts_on_its_preview(
    zou_server: ZouServer, kitsu_admin: KitsuClient, kitsu_shot: KitsuShot, tmp_path: Path
) -> None:
    """A notice keeps the task's status (approved here) and names the preview's code: it was read as the
    supervisor approving the stale fix it warns about. A retake of an artist's own revision, posted after Rushes'
    preview, was read as a retake of Rushes' preview."""
    from integrations.trackers.base import Notice

    kitsu = tracker(zou_server)
    movie = write_movie(tmp_path / "v.mp4")
    published = kitsu.publish_version(spec_for(kitsu_shot, movie, "job-1:publish"))
    start = kitsu.review_statuses_since(None)
    post(kitsu_admin, kitsu_shot, "approved", "Good.")
    approved = kitsu.review_statuses_since(start.cursor)
    assert [(r.version_id, r.status) for r in approved.items] == [(published.version_id, "approved")]

    code = "SH010_interpolate_v001"
    kitsu.notify(Notice("notice-1", kitsu_shot.shot["id"], kitsu_shot.task_id, "plate delivered again", code))
    assert kitsu.review_statuses_since(approved.cursor).items == []

    artist = post(kitsu_admin, kitsu_shot, "wfa", "my own comp, v2")
    gazu.task.add_preview(kitsu_shot.task_id, artist["id"], str(movie), client=kitsu_admin)
    later = kitsu.review_statuses_since(approved.cursor)
    post(kitsu_admin, kitsu_shot, "retake", "edge is chattering, redo")
    assert kitsu.review_statuses_since(later.cursor).items == []


def test_an_approval_on_work_rushes_did_not_publish_is_ignored(
    zou_server: ZouServer, kitsu_admin: KitsuClient, kitsu_shot: KitsuShot
) -> None:
    kitsu = tracker(zou_server)
    start = kitsu.review_statuses_since(None)
    post(kitsu_admin, kitsu_shot, "approved", "Artist's comp approved.")
    assert [r for r in kitsu.review_statuses_since(start.cursor).items] == []


def test_set_task_status_moves_the_task(
    zou_server: ZouServer, kitsu_admin: KitsuClient, kitsu_shot: KitsuShot
) -> None:
    kitsu = tracker(zou_server)
    # "rev" is the ShotGrid default of published_status: Kitsu's stock "wfa" stands in for it
    kitsu.set_task_status(kitsu_shot.task_id, "rev")
    kitsu.set_task_status(kitsu_shot.task_id, "wfa")  # already there: nothing posted
    assert gazu.task.get_task(kitsu_shot.task_id, client=kitsu_admin)["task_status"]["short_name"] == "wfa"
    assert len(gazu.task.all_comments_for_task(kitsu_shot.task_id, client=kitsu_admin)) == 1
    assert [(t.name, t.status) for t in kitsu.find_tasks(kitsu_shot.shot["id"])] == [("Compositing", "wfa")]


def test_wrong_password_is_one_fatal_line(zou_server: ZouServer) -> None:
    kitsu = tracker(zou_server, script_key="not-the-password")
    with pytest.raises(TrackerFatal) as raised:
        kitsu.fix_requests_since(None)
    message = str(raised.value)
    assert "\n" not in message and type(raised.value).__name__ == "TrackerLoginRefused"
    assert zou_server.admin_email in message and "RUSHES_TRACKER__SCRIPT_KEY" in message
    assert [(c.what, c.ok) for c in kitsu.check()] == [("login", False)]


def test_a_login_zou_refuses_for_a_reason_of_its_own_says_that_reason(
    zou_server: ZouServer, kitsu_admin: KitsuClient
) -> None:
    """A bot account made inactive: the line sent the TD to check a password that was right."""
    from integrations.trackers.base import TrackerLoginRefused

    email = f"bot-{uuid.uuid4().hex[:8]}@example.com"
    gazu.person.new_person("Rushes", "Bot", email, password="a-good-password-1", client=kitsu_admin)
    [person] = [p for p in gazu.person.all_persons(client=kitsu_admin) if p["email"] == email]
    gazu.person.update_person({"id": person["id"], "active": False}, client=kitsu_admin)
    kitsu = tracker(zou_server, script_name=email, script_key="a-good-password-1")
    with pytest.raises(TrackerLoginRefused) as raised:
        kitsu.fix_requests_since(None)
    assert "unactive" in str(raised.value) and "RUSHES_TRACKER__SCRIPT_KEY" not in str(raised.value)


def test_check_says_which_status_is_missing(zou_server: ZouServer, kitsu_admin: KitsuClient) -> None:
    assert all(c.ok for c in tracker(zou_server).check())

    results = {c.what: c for c in tracker(zou_server, fix_status="needs-rushes").check()}
    assert results["login"].ok and results["event log"].ok
    assert not results["status fix_status"].ok
    assert "'needs-rushes'" in results["status fix_status"].detail


def test_setup_creates_a_missing_fix_status_once_and_reports_a_missing_project(
    zou_server: ZouServer, kitsu_admin: KitsuClient, kitsu_shot: KitsuShot
) -> None:
    from integrations.trackers.setup import SetupPlan

    kitsu = tracker(zou_server, fix_status="rsx")
    assert not {c.what: c for c in kitsu.check()}["status fix_status"].ok
    plans = [SetupPlan(str(kitsu_shot.project["code"]), "x"), SetupPlan("NO_SUCH_SHOW", "y")]

    first = {s.what: s for s in kitsu.setup(plans)}

    assert first["task status rsx (fix_status)"].outcome == "created"
    assert first["task status wfa (version_status)"].outcome == "existed"
    assert first[f"project {kitsu_shot.project['code']}"].outcome == "existed"
    assert first["project NO_SUCH_SHOW"].outcome == "missing"
    assert gazu.task.get_task_status_by_short_name("rsx", client=kitsu_admin) is not None
    assert all(c.ok for c in tracker(zou_server, fix_status="rsx").check())
    again = tracker(zou_server, fix_status="rsx").setup(plans[:1])
    assert {s.outcome for s in again} == {"existed"}


def test_setup_adds_the_fix_status_to_a_project_that_keeps_a_status_list_of_its_own(
    zou_server: ZouServer, kitsu_admin: KitsuClient, kitsu_shot: KitsuShot
) -> None:
    """Such a production's coordinators could not set a task to fix, while check and setup said ok."""
    from integrations.trackers.setup import SetupPlan

    project, code = kitsu_shot.project, str(kitsu_shot.project["code"])
    todo = gazu.task.get_task_status_by_short_name("todo", client=kitsu_admin)
    gazu.project.add_task_status(project, todo, client=kitsu_admin)  # the production's own list: todo alone
    kitsu = tracker(zou_server)
    fix = kitsu.statuses.of("fix_status")

    steps = {s.what: s.outcome for s in kitsu.setup([SetupPlan(code, "x")])}

    assert steps[f"task status {fix['short_name']} in project {code}'s own list"] == "created"
    listed = gazu.project.get_project_task_statuses(project, client=kitsu_admin)
    assert {row["id"] for row in listed} == {todo["id"], fix["id"]}
    again = tracker(zou_server).setup([SetupPlan(code, "x")])
    assert [s.what for s in again if "own list" in s.what] == []  # there now


def test_a_manager_is_told_that_a_missing_status_takes_an_admin_and_which_projects_it_cannot_see(
    zou_server: ZouServer, kitsu_admin: KitsuClient, kitsu_shot: KitsuShot
) -> None:
    email, password = f"rushes-{kitsu_shot.task_id[:8]}@example.com", "manager-password"
    gazu.person.new_person("Rushes", "Bot", email, role="manager", password=password, client=kitsu_admin)
    manager = tracker(zou_server, script_name=email, script_key=SecretStr(password), fix_status="rsm")

    [step] = [s for s in manager.setup([]) if s.what == "task status rsm (fix_status)"]

    assert step.outcome == "missing" and step.detail == (
        f"only a Kitsu admin may create task statuses, and {email} is not one: run `rushes tracker setup` once "
        "with an admin's login (RUSHES_TRACKER__SCRIPT_NAME and RUSHES_TRACKER__SCRIPT_KEY), or create it in "
        "Kitsu (Settings > Task Statuses: name Rsm, short name rsm)"
    )
    with pytest.raises(TrackerFatal, match=f"that {email} can see: create it, fix tracker_project, or add"):
        manager.find_project(str(kitsu_shot.project["code"]))  # not on its team


def test_a_url_without_api_is_said_to_lack_it(zou_server: ZouServer) -> None:
    root = zou_server.url.rstrip("/").removesuffix("/api")
    [login] = tracker(zou_server, url=root).check()
    assert not login.ok and login.detail.endswith(
        f"tracker.url {root} does not end in /api, as Kitsu's API URL does (https://kitsu.example.com/api)"
    )


def test_finds_the_project_and_its_shots(
    zou_server: ZouServer, kitsu_admin: KitsuClient, kitsu_shot: KitsuShot
) -> None:
    kitsu = tracker(zou_server)
    project = kitsu.find_project(str(kitsu_shot.project["code"]))
    assert project.id == kitsu_shot.project["id"]
    assert [s.code for s in kitsu.find_shots(project)] == ["SH010"]
    with pytest.raises(TrackerFatal, match="no open project"):
        kitsu.find_project("NO_SUCH_SHOW")


def test_unreachable_server_is_a_retryable_error(tmp_path: Path) -> None:
    from integrations.trackers.options import TrackerOptions

    options = TrackerOptions(
        kind="kitsu",
        url=f"http://127.0.0.1:{free_port()}/api",
        script_name="a@b.c",
        script_key="x",
        timeout=2,
    )
    kitsu = KitsuTracker(options, kinds=KINDS, policy=RetryPolicy(attempts=2, first=0.01))
    with pytest.raises(TrackerError) as raised:
        kitsu.fix_requests_since(None)
    assert not isinstance(raised.value, TrackerFatal)
    assert "did not answer" in str(raised.value)


def test_requests_come_in_order_a_batch_at_a_time(
    zou_server: ZouServer, kitsu_admin: KitsuClient, kitsu_shot: KitsuShot
) -> None:
    kitsu = tracker(zou_server)
    cursor = kitsu.fix_requests_since(None).cursor
    frames = ["1001-1002", "1010-1012", "1020-1024"]
    for value in frames:
        post(kitsu_admin, kitsu_shot, FIX_STATUS, f"#rushes interpolate frames={value}")

    seen = []
    for _ in range(len(frames) + 1):
        batch = tracker(zou_server).fix_requests_since(cursor, limit=1)
        assert len(batch.items) <= 1
        seen += [r.params["frames"] for r in batch.items if r.task_id == kitsu_shot.task_id]
        cursor = batch.cursor
    assert seen == frames


class _Unavailable(http.server.BaseHTTPRequestHandler):
    calls = 0

    def do_POST(self) -> None:
        type(self).calls += 1
        self.send_response(503)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_POST

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_a_kitsu_answering_503_is_retried_then_a_retryable_error() -> None:
    from integrations.trackers.options import TrackerOptions

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Unavailable)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/api"
        options = TrackerOptions(kind="kitsu", url=url, script_name="a@b.c", script_key="x", timeout=2)
        kitsu = KitsuTracker(options, kinds=KINDS, policy=RetryPolicy(attempts=3, first=0.01))
        with pytest.raises(TrackerError) as raised:
            kitsu.find_project("SHOW")
    finally:
        server.shutdown()
    assert not isinstance(raised.value, TrackerFatal)
    assert "503" in str(raised.value) and "after 3 attempts" in str(raised.value)
    assert _Unavailable.calls == 3


def test_a_shot_of_an_episode_is_qualified_by_its_episode_and_sequence_most_specific_first() -> None:
    from integrations.trackers.kitsu.fixes import shot_place

    task = {"entity": {"name": "SH0010"}, "sequence": {"name": "SQ02"}, "episode": {"name": "EP03"}}

    assert shot_place(task).qualified() == ("EP03_SQ02_SH0010", "SQ02_SH0010")
    assert (
        shot_place({"entity": {"name": "SH0010"}}).qualified() == ()
    )  # outside any sequence: its name alone


def test_a_session_token_zou_no_longer_accepts_logs_in_again(
    zou_server: ZouServer, kitsu_admin: KitsuClient, kitsu_shot: KitsuShot
) -> None:
    # zou answers 422 "Signature verification failed" (not 401) to a token signed with another SECRET_KEY, as
    # every session is after a redeploy that changed it: the daemon stayed refused until it was restarted.
    kitsu = tracker(zou_server)
    cursor = kitsu.fix_requests_since(None).cursor
    header, payload, signature = str(kitsu.conn.client.access_token).split(".")
    kitsu.conn.client.access_token = f"{header}.{payload}.{signature[::-1]}"
    post(kitsu_admin, kitsu_shot, FIX_STATUS, "#rushes denoise")

    [request] = kitsu.fix_requests_since(cursor).items

    assert request.kinds == ("denoise",)


@pytest.mark.parametrize("shot", ["SQ01_SH010", "SQ01 SH010"])
def test_a_verdict_naming_an_older_rushes_preview_of_the_task_is_on_that_one(
    zou_server: ZouServer, kitsu_admin: KitsuClient, kitsu_shot: KitsuShot, tmp_path: Path, shot: str
) -> None:
    # A request of two fixes leaves two previews on one task; Kitsu's verdict is on the task, so it went to the
    # newest whatever the supervisor meant, and the other could never be approved. A shot named with a space
    # (Kitsu allows it) gave a code the comment's marker did not read back.
    kitsu = tracker(zou_server)
    movie = write_movie(tmp_path / "v.mp4")
    regrade = replace(spec_for(kitsu_shot, movie, "job-1:publish"), code=f"{shot}_rushes_regrade_r1")
    upscale = replace(spec_for(kitsu_shot, movie, "job-2:publish"), code=f"{shot}_rushes_upscale_r1")
    older, newer = kitsu.publish_version(regrade), kitsu.publish_version(upscale)
    start = kitsu.review_statuses_since(None)

    post(kitsu_admin, kitsu_shot, "approved", f"{shot}_rushes_regrade_r1: the grade matches now.")
    post(kitsu_admin, kitsu_shot, "retake", "Soft edges.")
    batch = kitsu.review_statuses_since(start.cursor)

    assert [(r.version_id, r.status, r.idempotency_key) for r in batch.items] == [
        (older.version_id, "approved", "job-1:publish"),
        (newer.version_id, "rejected", "job-2:publish"),
    ]
