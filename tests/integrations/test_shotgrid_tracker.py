"""ShotGridTracker against the local server, through the real shotgun_api3 client over HTTP."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import shotgun_api3

from integrations.trackers.base import Notice, RequestAnswer, TrackerError, TrackerFatal, VersionSpec
from integrations.trackers.retry import RetryPolicy
from integrations.trackers.sgserver import SGServer
from integrations.trackers.shotgrid import ShotGridTracker
from tests.integrations.sg_fixtures import FAST, KINDS, Show, client, options, running_server


def tracker(server: SGServer, **kwargs: Any) -> ShotGridTracker:
    overrides = {
        k: kwargs.pop(k)
        for k in list(kwargs)
        if k not in ("policy", "backfill", "clock", "gap_timeout", "sleep")
    }
    kwargs.setdefault("policy", FAST)
    return ShotGridTracker(options(server, **overrides), kinds=KINDS, **kwargs)


def spec(tmp_path: Path, show: Show, key: str = "fix-1") -> VersionSpec:
    movie = tmp_path / "SQ010_0010_fix_v001.mp4"
    movie.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(200)))
    return VersionSpec(
        idempotency_key=key,
        project="DEMO",
        shot_id=show.shots[0]["id"],
        task_id=show.tasks[0]["id"],
        code="SQ010_0010_rushes_v001",
        description="interpolate frames 1012-1016 with model v3",
        movie_path=movie,
        first_frame=1001,
        last_frame=1048,
        frames_path="/renders/SQ010_0010/v001/SQ010_0010.####.exr",
    )


def test_fix_request_round_trip_restart_and_idempotent_publish(
    server: SGServer, sg: shotgun_api3.Shotgun, show: Show, tmp_path: Path
) -> None:
    first = tracker(server).fix_requests_since(None)
    assert first.items == []
    review_cursor = tracker(server).review_statuses_since(None).cursor

    task = show.tasks[0]
    sg.update("Task", show.tasks[1]["id"], {"sg_status_list": "ip"})  # noise
    sg.update("Task", task["id"], {"sg_rushes_fixes": "interpolate frames=1012-1016; regrade reference=1001"})
    sg.update("Task", task["id"], {"sg_status_list": "fix"})

    batch = tracker(server).fix_requests_since(first.cursor)
    assert len(batch.items) == 1
    request = batch.items[0]
    assert request.kinds == ("interpolate", "regrade")
    assert request.params == {"frames": "1012-1016", "reference": "1001"}
    assert (request.project, request.shot_code, request.shot_id, request.task_id) == (
        "DEMO",
        "SQ010_0010",
        show.shots[0]["id"],
        task["id"],
    )
    assert request.project_names == ("DEMO", "DEMO show")  # a show may follow it by its code or its name
    assert request.key.startswith("shotgrid:event:")

    restarted = tracker(server)  # a new adapter with the persisted cursor: nothing is repeated
    assert restarted.fix_requests_since(batch.cursor).items == []

    published = restarted.publish_version(spec(tmp_path, show))
    assert published.created is True
    version = sg.find_one(
        "Version",
        [["id", "is", published.version_id]],
        [
            "sg_uploaded_movie",
            "sg_rushes_key",
            "entity",
            "sg_task",
            "sg_status_list",
            "sg_first_frame",
            "sg_path_to_frames",
        ],
    )
    assert version["sg_rushes_key"] == "fix-1" and version["sg_status_list"] == "rev"
    assert version["entity"]["id"] == show.shots[0]["id"] and version["sg_task"]["id"] == task["id"]
    assert version["sg_first_frame"] == 1001
    assert (
        sg.download_attachment(version["sg_uploaded_movie"]) == spec(tmp_path, show).movie_path.read_bytes()
    )

    again = tracker(server).publish_version(spec(tmp_path, show))
    assert again.created is False and again.version_id == published.version_id
    assert len(sg.find("Version", [["sg_rushes_key", "is", "fix-1"]])) == 1

    restarted.set_task_status(task["id"], "rev")
    restarted.add_note(show.shots[0]["id"], task["id"], "Rushes: fixed", "interpolate done, model v3")
    assert sg.find_one("Task", [["id", "is", task["id"]]], ["sg_status_list"])["sg_status_list"] == "rev"
    assert sg.find_one("Note", [["tasks", "is", task]], ["subject"])["subject"] == "Rushes: fixed"

    sg.create(
        "Note",
        {
            "project": show.project,
            "subject": "review",
            "content": "lovely, approved",
            "note_links": [{"type": "Version", "id": published.version_id}],
        },
    )
    sg.update("Version", published.version_id, {"sg_status_list": "apr"})
    reviews = restarted.review_statuses_since(review_cursor)
    assert [(r.version_id, r.status, r.note, r.idempotency_key) for r in reviews.items] == [
        (published.version_id, "approved", "lovely, approved", "fix-1")
    ]
    assert restarted.review_statuses_since(reviews.cursor).items == []


def test_publish_finishes_a_missing_upload(
    server: SGServer, sg: shotgun_api3.Shotgun, show: Show, tmp_path: Path
) -> None:
    # a crash between create and upload: the Version exists with the key but without the movie
    half = sg.create(
        "Version",
        {"code": "half", "entity": show.shots[0], "project": show.project, "sg_rushes_key": "fix-1"},
    )
    published = tracker(server).publish_version(spec(tmp_path, show))
    assert published.created is False and published.version_id == half["id"]
    movie = sg.find_one("Version", [["id", "is", half["id"]]], ["sg_uploaded_movie"])["sg_uploaded_movie"]
    assert movie is not None and movie["name"] == "SQ010_0010_fix_v001.mp4"


def test_tasks_already_waiting_are_backfilled_once(
    server: SGServer, sg: shotgun_api3.Shotgun, show: Show
) -> None:
    sg.update("Task", show.tasks[2]["id"], {"sg_rushes_fixes": "denoise", "sg_status_list": "fix"})
    assert tracker(server, backfill=False).fix_requests_since(None).items == []
    batch = tracker(server).fix_requests_since(None)
    assert [(r.task_id, r.kinds) for r in batch.items] == [(show.tasks[2]["id"], ("denoise",))]
    assert tracker(server).fix_requests_since(batch.cursor).items == []


def test_kinds_from_the_newest_note_even_when_it_comes_later(
    server: SGServer, sg: shotgun_api3.Shotgun, show: Show
) -> None:
    start = tracker(server).fix_requests_since(None).cursor
    task = show.tasks[1]
    sg.update("Task", task["id"], {"sg_status_list": "fix"})
    waiting = tracker(server).fix_requests_since(start)
    assert waiting.items == [] and json.loads(str(waiting.cursor))["waiting"]

    body = "Shot pops at the cut.\n#rushes interpolate frames=1012-1016\nthanks"
    sg.create(
        "Note",
        {
            "project": show.project,
            "subject": "fix please",
            "content": body,
            "tasks": [task],
            "note_links": [show.shots[1]],
        },
    )
    found = tracker(server).fix_requests_since(waiting.cursor)
    assert [(r.kinds, r.params, r.note) for r in found.items] == [
        (("interpolate",), {"frames": "1012-1016"}, body)
    ]
    assert tracker(server).fix_requests_since(found.cursor).items == []


def test_a_note_that_asks_is_read_though_newer_notes_came_after_it(
    server: SGServer, sg: shotgun_api3.Shotgun, show: Show
) -> None:
    """Only the task's newest Note was read: an artist's chat, or Rushes' own answer or notice on the task (which
    ask the coordinator to set the task to fix again), hid the `#rushes` note, and the request came back naming
    no fix."""
    start = tracker(server).fix_requests_since(None).cursor
    task = show.tasks[1]

    def note(body: str) -> None:
        sg.create("Note", {"project": show.project, "subject": "s", "content": body, "tasks": [task]})

    note("Dropped frames in the pan.\n#rushes interpolate frames=1012-1016")
    note(
        "Rushes did not do the fix request on sh020: ... Correct the request, then set the task to 'fix' again."
    )
    note("on it, will check tomorrow")
    sg.update("Task", task["id"], {"sg_status_list": "fix"})
    found = tracker(server).fix_requests_since(start)
    assert [(r.kinds, r.params) for r in found.items] == [(("interpolate",), {"frames": "1012-1016"})]


def test_the_later_written_of_the_fix_field_and_a_rushes_note_is_read(
    server: SGServer, sg: shotgun_api3.Shotgun, show: Show
) -> None:
    """The fix field always won: a field left from an earlier request rendered that old fix again when the
    coordinator asked for a new one in a `#rushes` note."""
    start = tracker(server).fix_requests_since(None).cursor
    task = show.tasks[1]
    sg.update("Task", task["id"], {"sg_rushes_fixes": "denoise", "sg_status_list": "fix"})
    first = tracker(server).fix_requests_since(start)
    assert [r.kinds for r in first.items] == [("denoise",)]

    sg.update("Task", task["id"], {"sg_status_list": "rev"})
    body = "#rushes interpolate frames=1012-1016"
    sg.create("Note", {"project": show.project, "subject": "again", "content": body, "tasks": [task]})
    sg.update("Task", task["id"], {"sg_status_list": "fix"})
    second = tracker(server).fix_requests_since(first.cursor)
    assert [(r.kinds, r.params) for r in second.items] == [(("interpolate",), {"frames": "1012-1016"})]

    sg.update("Task", task["id"], {"sg_status_list": "rev"})
    sg.update("Task", task["id"], {"sg_rushes_fixes": "upscale"})  # the field written after the note
    sg.update("Task", task["id"], {"sg_status_list": "fix"})
    third = tracker(server).fix_requests_since(second.cursor)
    assert [(r.kinds, r.params) for r in third.items] == [(("upscale",), {})]


def test_an_event_naming_no_entity_is_passed_over_and_the_polls_go_on(
    server: SGServer, sg: shotgun_api3.Shotgun, show: Show
) -> None:
    """A status event whose entity is gone and whose meta holds no entity_id (a hand-made record) raised KeyError
    in both readers: every poll failed on it, and reviews were never read again."""
    first = tracker(server)
    start, reviews = first.fix_requests_since(None).cursor, first.review_statuses_since(None).cursor
    for kind, value in (("Shotgun_Task_Change", "fix"), ("Shotgun_Version_Change", "apr")):
        meta = {"type": "attribute_change", "attribute_name": "sg_status_list", "new_value": value}
        sg.create(
            "EventLogEntry",
            {"event_type": kind, "attribute_name": "sg_status_list", "meta": meta, "project": show.project},
        )
    task = show.tasks[1]
    sg.update("Task", task["id"], {"sg_status_list": "fix", "sg_rushes_fixes": "denoise"})
    found = tracker(server).fix_requests_since(start)
    assert [r.kinds for r in found.items] == [("denoise",)]
    assert tracker(server).review_statuses_since(reviews).items == []


def test_unreadable_text_is_a_request_at_once_and_its_answer_is_one_note_and_the_task_on_hold(
    server: SGServer, sg: shotgun_api3.Shotgun, show: Show
) -> None:
    start = tracker(server).fix_requests_since(None).cursor
    task = show.tasks[0]
    sg.update("Task", task["id"], {"sg_rushes_fixes": "sharpen please", "sg_status_list": "fix"})
    [request] = tracker(server).fix_requests_since(start).items  # not left waiting for kinds
    assert request.empty and request.problems == (
        "unknown fix kind 'sharpen' (use one of: interpolate, regrade, denoise, upscale, cleanup)",
    )
    answer = RequestAnswer(f"answer:{request.key}:request", request.shot_id, task["id"], "Rushes", "why")
    tracker(server).answer_request(answer)
    tracker(server).answer_request(answer)  # a retry after a lost reply
    notes = sg.find("Note", [["tasks", "is", task]], ["subject", "content", "note_links"])
    assert [(n["subject"], n["content"]) for n in notes] == [("Rushes", "why")]
    assert notes[0]["note_links"][0]["id"] == request.shot_id
    assert sg.find_one("Task", [["id", "is", task["id"]]], ["sg_status_list"])["sg_status_list"] == "hld"

    sg.update("Task", task["id"], {"sg_status_list": "ip"})  # the coordinator moved on: the status stays
    tracker(server).answer_request(RequestAnswer("answer:2", request.shot_id, task["id"], "Rushes", "again"))
    assert sg.find_one("Task", [["id", "is", task["id"]]], ["sg_status_list"])["sg_status_list"] == "ip"


def test_a_failed_status_the_site_lacks_stops_nothing_and_the_answer_is_the_note_alone(
    server: SGServer, sg: shotgun_api3.Shotgun, show: Show
) -> None:
    adapter = tracker(server, failed_status="parked")
    checks = {c.what: c for c in adapter.check()}
    assert (
        not checks["status Task.parked"].ok
        and "set tracker.failed_status" in checks["status Task.parked"].detail
    )
    start = adapter.fix_requests_since(None).cursor  # polling is not stopped by it
    task = show.tasks[0]
    sg.update("Task", task["id"], {"sg_rushes_fixes": "sharpen", "sg_status_list": "fix"})
    [request] = adapter.fix_requests_since(start).items
    adapter.answer_request(RequestAnswer("answer:1", request.shot_id, task["id"], "Rushes", "why"))
    assert [n["content"] for n in sg.find("Note", [["tasks", "is", task]], ["content"])] == ["why"]
    assert sg.find_one("Task", [["id", "is", task["id"]]], ["sg_status_list"])["sg_status_list"] == "fix"


def test_a_fix_asked_on_an_omitted_shots_task_is_a_request_answered_that_it_is_omitted(
    server: SGServer, sg: shotgun_api3.Shotgun, show: Show
) -> None:
    start = tracker(server).fix_requests_since(None).cursor
    shot, task = show.shots[0], show.tasks[0]
    sg.update("Shot", shot["id"], {"sg_status_list": "omt"})  # out of the cut; its task left as it was
    sg.update("Task", task["id"], {"sg_rushes_fixes": "denoise", "sg_status_list": "fix"})
    [request] = tracker(server).fix_requests_since(start).items
    assert request.kinds == () and request.problems == (
        f"the shot {shot['code']} is omitted (its status is 'omt'), so Rushes does not fix it: if it is back in "
        "the cut, set the shot's status back, then ask again",
    )
    [request] = tracker(server, omitted_status="").fix_requests_since(start).items  # a site that never omits
    assert request.kinds == ("denoise",) and request.problems == ()


def test_a_notice_is_one_note_on_the_task_and_leaves_its_status_even_in_the_fix_status(
    server: SGServer, sg: shotgun_api3.Shotgun, show: Show
) -> None:
    task = show.tasks[0]
    sg.update(
        "Task", task["id"], {"sg_status_list": "fix"}
    )  # asked again already: a notice must not answer it
    notice = Notice("notice:plate:1:abc", show.shots[0]["id"], task["id"], "Rushes: plate", "delivered again")
    tracker(server).notify(notice)
    tracker(server).notify(notice)  # a retry after a lost reply
    notes = sg.find("Note", [["tasks", "is", task]], ["subject", "content", "note_links"])
    assert [(n["subject"], n["content"]) for n in notes] == [("Rushes: plate", "delivered again")]
    assert notes[0]["note_links"][0]["id"] == show.shots[0]["id"]
    assert sg.find_one("Task", [["id", "is", task["id"]]], ["sg_status_list"])["sg_status_list"] == "fix"


def test_a_published_fix_moves_only_a_task_still_asking_for_it_or_on_rushes_own_hold(
    server: SGServer, sg: shotgun_api3.Shotgun, show: Show
) -> None:
    def status(task: dict[str, Any]) -> str:
        return str(sg.find_one("Task", [["id", "is", task["id"]]], ["sg_status_list"])["sg_status_list"])

    asking, withdrawn = show.tasks[0], show.tasks[1]
    sg.update("Task", asking["id"], {"sg_status_list": "fix"})
    sg.update("Task", withdrawn["id"], {"sg_status_list": "ip"})  # taken back by hand while Rushes rendered
    adapter = tracker(server)
    assert adapter.mark_published(asking["id"]) and adapter.mark_published(asking["id"])  # and its retry
    assert status(asking) == "rev"
    assert not adapter.mark_published(withdrawn["id"])
    assert status(withdrawn) == "ip"
    sg.update("Task", withdrawn["id"], {"sg_status_list": "hld"})  # Rushes' answer, then a job retried
    assert not adapter.mark_published(withdrawn["id"])
    assert adapter.mark_published(withdrawn["id"], answered=True) and status(withdrawn) == "rev"


def test_a_task_moved_on_by_hand_or_deleted_is_a_request_taken_back(
    server: SGServer, sg: shotgun_api3.Shotgun, show: Show
) -> None:
    asking, taken_back, to_review = show.tasks[:3]
    cut = sg.create("Task", {"content": "paint", "entity": show.shots[0], "project": show.project})
    shot = sg.create("Shot", {"code": "SH099", "project": show.project, "sg_sequence": show.sequence})
    on_omitted = sg.create("Task", {"content": "comp", "entity": shot, "project": show.project})
    for task, status in (
        (asking, "fix"),
        (taken_back, "ip"),
        (to_review, "rev"),
        (cut, "fix"),
        (on_omitted, "fix"),
    ):
        sg.update("Task", task["id"], {"sg_status_list": status})
    sg.delete("Task", cut["id"])  # the shot cut, its task deleted
    # out of the cut while its request waited (its task left in fix): it used to be rendered and published
    sg.update("Shot", shot["id"], {"sg_status_list": "omt"})
    adapter = tracker(server)
    ids = [t["id"] for t in (asking, taken_back, to_review, cut, on_omitted)]
    # moved to review by hand before its turn (as docs/fixes.md says: any other status): it used to be rendered
    assert adapter.withdrawn([*ids, str(asking["id"])]) == {
        str(t["id"]) for t in (taken_back, to_review, cut, on_omitted)
    }
    assert adapter.withdrawn([]) == set()


def test_a_task_asked_again_while_its_fix_rendered_stays_in_fix_for_the_new_request(
    server: SGServer, sg: shotgun_api3.Shotgun, show: Show
) -> None:
    # set out of fix and back while the first request rendered: publishing it moved the task to review before the
    # poller read the new request, which was then dropped (its task no longer in fix), the coordinator told nothing
    task = show.tasks[0]

    def asked() -> str:
        sg.update("Task", task["id"], {"sg_status_list": "fix", "sg_rushes_fixes": "denoise"})
        event = sg.find_one(
            "EventLogEntry",
            [
                ["entity", "is", {"type": "Task", "id": task["id"]}],
                ["attribute_name", "is", "sg_status_list"],
            ],
            ["id"],
            order=[{"field_name": "id", "direction": "desc"}],
        )
        return f"shotgrid:event:{event['id']}"

    first = asked()
    sg.update("Task", task["id"], {"sg_status_list": "ip"})
    again = asked()
    adapter = tracker(server)
    assert not adapter.mark_published(task["id"], request_key=first)
    assert sg.find_one("Task", [["id", "is", task["id"]]], ["sg_status_list"])["sg_status_list"] == "fix"
    assert [r.key for r in adapter.fix_requests_since(None).items] == [again]  # read, not dropped
    assert adapter.mark_published(task["id"], request_key=again)
    assert sg.find_one("Task", [["id", "is", task["id"]]], ["sg_status_list"])["sg_status_list"] == "rev"


def test_a_task_set_to_fix_that_never_names_one_is_a_request_saying_so_after_the_wait(
    server: SGServer, sg: shotgun_api3.Shotgun, show: Show
) -> None:
    now = [1000.0]
    adapter = tracker(server, clock=lambda: now[0], gap_timeout=60)
    start = adapter.fix_requests_since(None).cursor
    sg.update("Task", show.tasks[1]["id"], {"sg_status_list": "fix"})
    waiting = adapter.fix_requests_since(start)
    assert waiting.items == [] and adapter.fix_requests_since(waiting.cursor).items == []
    now[0] += 61
    [request] = adapter.fix_requests_since(waiting.cursor).items
    assert request.empty and request.task_id == show.tasks[1]["id"]
    assert request.problems == (
        "the task was set to 'fix' but its sg_rushes_fixes field is empty and no '#rushes ...' note names "
        "a fix: write one of interpolate, regrade, denoise, upscale, cleanup there",
    )


def test_a_fix_asked_on_an_assets_task_is_answered_there_and_a_plain_fix_status_is_left_alone(
    server: SGServer, sg: shotgun_api3.Shotgun, show: Show
) -> None:
    now = [1000.0]
    adapter = tracker(server, clock=lambda: now[0], gap_timeout=60)
    asset = sg.create("Asset", {"code": "robot", "project": show.project})
    asked = sg.create("Task", {"content": "model", "entity": asset, "project": show.project})
    artists = sg.create("Task", {"content": "rig", "entity": asset, "project": show.project})
    start = adapter.fix_requests_since(None).cursor
    sg.update("Task", asked["id"], {"sg_rushes_fixes": "denoise", "sg_status_list": "fix"})
    sg.update("Task", artists["id"], {"sg_status_list": "fix"})  # the studio's own "fix needed": an artist's

    first = adapter.fix_requests_since(start)
    [request] = first.items  # it used to be dropped with a log line
    assert request.empty and request.task_id == asked["id"] and request.shot_id == f"Asset:{asset['id']}"
    assert request.replaces_earlier  # the task's field is the whole request: a newer one replaces it
    assert request.problems == (
        "this task is on the Asset robot, not on a shot: Rushes fixes shots' dailies, so ask on the task of the "
        "shot",
    )
    assert adapter.fix_requests_since(first.cursor).items == []  # the artist's waits for a fix to be named
    now[0] += 61
    assert adapter.fix_requests_since(first.cursor).items == []  # and never names one: not Rushes' to answer

    adapter.answer_request(RequestAnswer("answer:asset", request.shot_id, asked["id"], "Rushes", "why"))
    [note] = sg.find("Note", [["tasks", "is", asked]], ["note_links", "project"])
    assert [(n["type"], n["id"]) for n in note["note_links"]] == [("Asset", asset["id"])]
    assert note["project"]["id"] == show.project["id"]
    status = {
        t["id"]: t["sg_status_list"] for t in sg.find("Task", [["entity", "is", asset]], ["sg_status_list"])
    }
    assert status == {asked["id"]: "hld", artists["id"]: "fix"}


def test_a_fix_asked_on_a_shot_with_no_code_is_answered_that_it_needs_one(
    server: SGServer, sg: shotgun_api3.Shotgun, show: Show
) -> None:
    """A Shot made through the API may have no code, as the real site returns it (None); its dailies are found
    by the code, so the request is answered naming what to set. It used to go on as shot '' and be answered
    "shot  of ABC has no readable daily"."""
    adapter = tracker(server)
    nameless = sg.create("Shot", {"project": show.project})
    task = sg.create("Task", {"content": "comp", "entity": nameless, "project": show.project})
    start = adapter.fix_requests_since(None).cursor
    sg.update("Task", task["id"], {"sg_rushes_fixes": "denoise", "sg_status_list": "fix"})
    [request] = adapter.fix_requests_since(start).items
    assert request.problems == (
        f"the task's shot (Shot {nameless['id']}) has no code in the tracker, and its dailies are found by it: "
        "give the shot the code its files are named by",
    )


def test_a_list_fix_field_gives_the_kind(server: SGServer, sg: shotgun_api3.Shotgun, show: Show) -> None:
    sg.schema_field_create("Task", "list", "Rushes Kind", {"valid_values": ["interpolate", "denoise"]})
    adapter = tracker(server, fix_field="sg_rushes_kind")
    start = adapter.fix_requests_since(None).cursor
    sg.update("Task", show.tasks[0]["id"], {"sg_rushes_kind": "denoise", "sg_status_list": "fix"})
    assert [r.kinds for r in adapter.fix_requests_since(start).items] == [("denoise",)]


def test_event_id_gaps_are_read_again_until_they_appear(
    server: SGServer, sg: shotgun_api3.Shotgun, show: Show
) -> None:
    now = [1000.0]
    adapter = tracker(server, clock=lambda: now[0], gap_timeout=60)
    start = adapter.fix_requests_since(None).cursor
    for task in show.tasks:
        sg.update("Task", task["id"], {"sg_rushes_fixes": "upscale factor=2"})
    late = sg.update("Task", show.tasks[0]["id"], {"sg_status_list": "fix"})
    late_event = sg.find_one(
        "EventLogEntry", [["entity", "is", late]], ["id"], order=[{"field_name": "id", "direction": "desc"}]
    )
    server.faults.hide_events([late_event["id"]])  # committed late, like a slow ShotGrid transaction
    sg.update("Task", show.tasks[1]["id"], {"sg_status_list": "fix"})

    first = adapter.fix_requests_since(start)
    assert [r.task_id for r in first.items] == [show.tasks[1]["id"]]
    assert [g[0] for g in json.loads(str(first.cursor))["gaps"]] == [late_event["id"]]

    server.faults.show_events()
    second = adapter.fix_requests_since(first.cursor)
    assert [r.task_id for r in second.items] == [show.tasks[0]["id"]]
    assert json.loads(str(second.cursor))["gaps"] == []

    # an id that never shows up is given up after gap_timeout
    sg.update("Task", show.tasks[2]["id"], {"sg_status_list": "ip"})
    lost = sg.find_one("EventLogEntry", [], ["id"], order=[{"field_name": "id", "direction": "desc"}])
    server.faults.hide_events([lost["id"]])
    sg.update("Task", show.tasks[2]["id"], {"sg_status_list": "wtg"})
    third = adapter.fix_requests_since(second.cursor)
    assert [g[0] for g in json.loads(str(third.cursor))["gaps"]] == [lost["id"]]
    now[0] += 61
    assert json.loads(str(adapter.fix_requests_since(third.cursor).cursor))["gaps"] == []


def test_outage_backs_off_and_publishes_exactly_once(
    server: SGServer, sg: shotgun_api3.Shotgun, show: Show, tmp_path: Path
) -> None:
    waits: list[float] = []
    adapter = tracker(server, sleep=waits.append)
    server.faults.drop_connections(4)
    server.faults.fail_next(5, status=503)
    published = adapter.publish_version(spec(tmp_path, show))
    assert published.created is True
    assert waits == list(FAST.delays())[: len(waits)] and len(waits) >= 5  # it backed off, growing waits
    versions = sg.find("Version", [["sg_rushes_key", "is", "fix-1"]], ["sg_uploaded_movie"])
    assert len(versions) == 1 and versions[0]["sg_uploaded_movie"] is not None

    server.faults.fail_next(3, status=503)  # an outage in the middle of the next publish's writes
    second = adapter.publish_version(spec(tmp_path, show, key="fix-2"))
    assert second.created is True
    assert len(sg.find("Version", [["sg_rushes_key", "in", ["fix-1", "fix-2"]]])) == 2


def test_an_outage_longer_than_the_budget_is_a_tracker_error(server: SGServer, show: Show) -> None:
    adapter = tracker(server, policy=RetryPolicy(attempts=3, first=0.01, max_delay=0.02))
    server.faults.fail_next(50, status=503)
    with pytest.raises(TrackerError, match="did not answer") as caught:
        adapter.fix_requests_since(None)
    assert not isinstance(caught.value, TrackerFatal)


def test_a_slow_server_times_out_and_is_retried(server: SGServer, show: Show) -> None:
    waits: list[float] = []
    adapter = tracker(server, timeout=0.3, sleep=waits.append)
    server.faults.slow(0.6, requests=1)
    assert adapter.find_project("DEMO").name == "DEMO show"
    assert len(waits) == 1  # the first call timed out, the second got through


def test_configuration_problems_are_one_clear_line(server: SGServer, show: Show) -> None:
    with pytest.raises(TrackerFatal) as bad_key:
        tracker(server, script_key="wrong").fix_requests_since(None)
    assert (
        str(bad_key.value)
        == "ShotGrid rejected script 'rushes-test': check RUSHES_TRACKER__SCRIPT_NAME/SCRIPT_KEY"
    )

    with pytest.raises(TrackerFatal) as no_field:
        tracker(server, fix_field="sg_rushes_missing").fix_requests_since(None)
    assert str(no_field.value) == (
        "Task field sg_rushes_missing does not exist in ShotGrid: "
        "`rushes tracker setup` creates it (text), or set tracker.fix_field"
    )

    with pytest.raises(TrackerFatal) as bad_status:
        tracker(server, fix_status="fixme").fix_requests_since(None)
    assert str(bad_status.value) == (
        "Task status 'fixme' is not a valid Task.sg_status_list value in ShotGrid: "
        "add it to the status list or set tracker.fix_status"
    )
    with pytest.raises(TrackerFatal, match="Task status 'bogus' is not a valid"):
        tracker(server).set_task_status(show.tasks[0]["id"], "bogus")

    checks = tracker(server, fix_field="sg_rushes_missing").check()
    assert [c.what for c in checks if not c.ok] == ["field Task.sg_rushes_missing"]
    assert all(c.ok for c in tracker(server).check())
    failed = tracker(server, script_key="wrong").check()
    assert failed[-1].what == "authenticate" and "rejected script" in failed[-1].detail


def test_project_shots_and_tasks(server: SGServer, show: Show) -> None:
    adapter = tracker(server)
    project = adapter.find_project("DEMO")
    assert [s.code for s in adapter.find_shots(project)] == ["SQ010_0010", "SQ010_0020", "SQ010_0030"]
    assert [(t.name, t.status) for t in adapter.find_tasks(show.shots[0]["id"])] == [("comp", "wtg")]
    with pytest.raises(TrackerFatal, match="no Project with code or name 'NOPE'"):
        adapter.find_project("NOPE")


def test_a_field_shotgrid_made_under_another_code_is_named_by_setup_and_check_and_never_made_twice(
    tmp_path: Path,
) -> None:
    """`tracker.fix_field: sg_Rushes_Fixes`: ShotGrid made sg_rushes_fixes; setup said "created" and made another
    one on each run (sg_rushes_fixes_1, ...), and check sent the user back to setup."""
    server = running_server(tmp_path / "bare")
    try:
        adapter = tracker(server, fix_field="sg_Rushes_Fixes")
        assert adapter.ensure_fields() == ["Task.sg_rushes_fixes", "Version.sg_rushes_key"]
        for _ in range(2):
            steps = {step.what: step for step in tracker(server, fix_field="sg_Rushes_Fixes").setup([])}
            named = steps["field Task.sg_Rushes_Fixes (text)"]
            assert (named.outcome, named.detail) == (
                "missing",
                "ShotGrid has it as Task.sg_rushes_fixes: set tracker.fix_field: sg_rushes_fixes",
            )
        fields = [f for f in client(server).schema_field_read("Task") if f.startswith("sg_rushes")]
        assert fields == ["sg_rushes_fixes"]
        [check] = [c for c in adapter.check() if c.what == "field Task.sg_Rushes_Fixes"]
        assert not check.ok and check.detail.endswith(
            "ShotGrid has it as sg_rushes_fixes: set tracker.fix_field: sg_rushes_fixes"
        )
        assert all(c.ok for c in tracker(server).check() if c.what.startswith("field "))
    finally:
        server.stop()


def test_fields_can_be_created_and_an_unreachable_site_fails_the_check(tmp_path: Path) -> None:
    server = running_server(tmp_path / "bare")
    adapter = tracker(server)
    assert adapter.ensure_fields() == ["Task.sg_rushes_fixes", "Version.sg_rushes_key"]
    assert adapter.ensure_fields() == []
    assert all(c.ok for c in adapter.check())
    server.stop()
    checks = tracker(server).check()
    assert [(c.what, c.ok) for c in checks] == [("connect", False)]
    assert "did not answer" in checks[0].detail


def test_a_url_with_a_path_is_one_clear_line(server: SGServer, show: Show) -> None:
    """A TD pastes a page's URL (or the API's path) as tracker.url: the site answers 404 there, which is
    named as a configuration problem in one line, never a traceback or a retry."""
    url = f"{server.url}/page/1234"
    checks = tracker(server, url=url).check()
    assert [(c.what, c.ok) for c in checks] == [("connect", False)]
    assert checks[0].detail == (
        f"{url} answered info with HTTP 404 Not Found: it does not serve the ShotGrid API there (a path "
        "after the host, or a proxy in the way); set tracker.url to the site's address alone, e.g. "
        "https://yourstudio.shotgrid.autodesk.com"
    )
    with pytest.raises(TrackerFatal, match="to the site's address alone"):
        tracker(server, url=url).fix_requests_since(None)


class _NoEventLog:
    """The real client, for a script whose permission group may not read the Event Log (the site answers a
    Fault, as it does for a read it refuses)."""

    def __init__(self, sg: shotgun_api3.Shotgun) -> None:
        self._sg = sg

    def find_one(self, entity_type: str, *args: Any, **kwargs: Any) -> Any:
        if entity_type == "EventLogEntry":
            raise shotgun_api3.Fault("API read() CRUD ERROR #7: Read permission denied for EventLogEntry")
        return self._sg.find_one(entity_type, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sg, name)


def test_the_check_reads_the_event_log_where_rushes_hears_of_requests(server: SGServer, show: Show) -> None:
    checks = {c.what: c for c in tracker(server).check()}
    assert checks["event log"].ok and checks["event log"].detail.startswith("readable (newest event ")
    denied = ShotGridTracker(options(server), lambda: _NoEventLog(client(server)), kinds=KINDS, policy=FAST)
    checks = {c.what: c for c in denied.check()}
    assert checks["authenticate"].ok and not checks["event log"].ok
    assert checks["event log"].detail.endswith(
        "Read permission denied for EventLogEntry; give the script's permission group read access to the Event "
        "Log (EventLogEntry)"
    )


def test_an_api_call_refused_with_403_names_the_scripts_access_not_the_url(
    server: SGServer, show: Show
) -> None:
    """A site (or a proxy) that blocks the API answers 403 with an HTML page: one short line, and no advice
    to change tracker.url, which is right."""
    server.faults.fail_next(1, status=403)
    checks = tracker(server).check()
    assert [(c.what, c.ok) for c in checks] == [("connect", False)]
    detail = checks[0].detail
    assert f"{server.url} answered info with HTTP 403 " in detail and "\n" not in detail
    assert detail.endswith(
        "refused the call; check the script's API access and any proxy between this machine and the site"
    )
    assert "tracker.url" not in detail


def test_a_request_names_its_shot_qualified_by_its_sequence_and_says_when_another_shot_shares_its_code(
    server: SGServer, sg: shotgun_api3.Shotgun, show: Show
) -> None:
    """An episodic project's SQ010_0010 again in sequence SQ020: the request carried the bare code only, and the
    daemon rendered the other sequence's plate for it."""
    start = tracker(server).fix_requests_since(None).cursor
    again = sg.create("Sequence", {"code": "SQ020", "project": show.project})
    twin = sg.create("Shot", {"code": "SQ010_0010", "project": show.project, "sg_sequence": again})
    task = sg.create("Task", {"content": "comp", "entity": twin, "project": show.project})
    sg.update("Task", task["id"], {"sg_rushes_fixes": "denoise", "sg_status_list": "fix"})
    sg.update("Task", show.tasks[1]["id"], {"sg_rushes_fixes": "denoise", "sg_status_list": "fix"})
    found = {r.task_id: r for r in tracker(server).fix_requests_since(start).items}
    shared, alone = found[task["id"]], found[show.tasks[1]["id"]]
    assert (shared.shot_code, shared.qualified_codes, shared.shared_codes) == (
        "SQ010_0010",
        ("SQ020_SQ010_0010",),
        ("SQ010_0010",),
    )
    # a shot whose code is its own is named by it alone (an answer asks for files named SQ010_0020, as ever)
    assert (alone.shot_code, alone.qualified_codes, alone.shared_codes) == ("SQ010_0020", (), ())


def test_a_request_on_a_series_shot_is_qualified_by_its_episode_where_another_episode_repeats_its_sequence(
    server: SGServer, sg: shotgun_api3.Shotgun, show: Show
) -> None:
    """E01's and E02's SQ010 each with a shot SH010: both requests carried SQ010_SH010, which fits both shots,
    so E01's fix was rendered from E02's plate (Sequence.episode was never read)."""
    start = tracker(server).fix_requests_since(None).cursor
    tasks = []
    for code in ("E01", "E02"):
        episode = sg.create("Episode", {"code": code, "project": show.project})
        sequence = sg.create("Sequence", {"code": "SQ010", "project": show.project, "episode": episode})
        shot = sg.create("Shot", {"code": "SH010", "project": show.project, "sg_sequence": sequence})
        tasks.append(sg.create("Task", {"content": "comp", "entity": shot, "project": show.project}))
    sg.update("Task", tasks[0]["id"], {"sg_rushes_fixes": "denoise", "sg_status_list": "fix"})
    [request] = [r for r in tracker(server).fix_requests_since(start).items if r.task_id == tasks[0]["id"]]
    assert (request.qualified_codes, request.shared_codes) == (("E01_SQ010_SH010",), ("SQ010_SH010", "SH010"))


def test_a_twin_shot_omitted_from_the_cut_leaves_the_shots_names_its_own(
    server: SGServer, sg: shotgun_api3.Shotgun, show: Show
) -> None:
    """SQ030's SH040 omitted and made again (a cut re-imported): the new shot's every name was "shared" and its
    request answered with a renaming no file could meet."""
    start = tracker(server).fix_requests_since(None).cursor
    sequence = sg.create("Sequence", {"code": "SQ030", "project": show.project})
    twins = [
        sg.create(
            "Shot", {"code": "SH040", "project": show.project, "sg_sequence": sequence, "sg_status_list": s}
        )
        for s in (tracker(server).options.omitted_status, "ip")
    ]
    task = sg.create("Task", {"content": "comp", "entity": twins[1], "project": show.project})
    sg.update("Task", task["id"], {"sg_rushes_fixes": "denoise", "sg_status_list": "fix"})
    [request] = [r for r in tracker(server).fix_requests_since(start).items if r.task_id == task["id"]]
    assert (request.qualified_codes, request.shared_codes) == ((), ())


def test_a_reply_to_rushes_note_naming_the_corrected_fix_is_read(
    server: SGServer, sg: shotgun_api3.Shotgun, show: Show
) -> None:
    """A coordinator answering Rushes' "could not do" note with the corrected request, then setting the task to
    fix again: the old field was read once more, failed again and got a second identical note."""
    start = tracker(server).fix_requests_since(None).cursor
    task = show.tasks[0]
    sg.update("Task", task["id"], {"sg_rushes_fixes": "interpolate frames=1030", "sg_status_list": "fix"})
    first = tracker(server).fix_requests_since(start)
    assert [r.params for r in first.items] == [{"frames": "1030"}]
    answer = sg.create(
        "Note",
        {
            "project": show.project,
            "subject": "Rushes could not do this fix",
            "content": "frames 1030 ...",
            "tasks": [task],
        },
    )
    sg.update("Task", task["id"], {"sg_status_list": "hld"})
    sg.create("Reply", {"entity": answer, "content": "Sorry, wrong frame.\n#rushes interpolate frames=1005"})
    sg.update("Task", task["id"], {"sg_status_list": "fix"})
    second = tracker(server).fix_requests_since(first.cursor)
    assert [(r.kinds, r.params) for r in second.items] == [(("interpolate",), {"frames": "1005"})]
