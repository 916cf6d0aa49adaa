"""A studio's own ShotGrid tools (a dailies playlist builder, a status dashboard, an event-log listener, an
uploader) developed against the local server with the real shotgun_api3 client: the calls they make
answer as the hosted service answers them."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import pytest
import shotgun_api3

from tests.integrations.sg_fixtures import make_show


def _codes(found: list[dict[str, Any]]) -> list[str]:
    return sorted(str(v["code"]) for v in found)


def _todays(sg: shotgun_api3.Shotgun, project: dict[str, Any], relation: str, offset: int) -> list[str]:
    """The codes of the project's Versions a calendar filter finds, asked again if the local day turned
    between the question and the answer."""
    while True:
        before = datetime.date.today()
        found = sg.find("Version", [["project", "is", project], ["created_at", relation, offset]], ["code"])
        if datetime.date.today() == before:
            return _codes(found)


def test_the_days_versions_are_found_by_calendar_day_and_a_playlist_shows_on_each_version(
    sg: shotgun_api3.Shotgun,
) -> None:
    show = make_show(sg, shots=2)
    versions = [
        sg.create("Version", {"code": f"v{n}", "project": show.project, "entity": shot, "sg_task": task})
        for n, (shot, task) in enumerate(zip(show.shots, show.tasks, strict=True))
    ]

    # the dailies of today, this week, month and year; none yesterday or tomorrow
    for relation in ("in_calendar_day", "in_calendar_week", "in_calendar_month", "in_calendar_year"):
        assert _todays(sg, show.project, relation, 0) == ["v0", "v1"], relation
    assert _todays(sg, show.project, "in_calendar_day", -1) == []
    assert _todays(sg, show.project, "in_calendar_day", 1) == []

    playlist = sg.create("Playlist", {"code": "dailies", "project": show.project, "versions": versions})
    on_first = sg.find_one("Version", [["id", "is", versions[0]["id"]]], ["playlists"])
    assert on_first["playlists"] == [{"type": "Playlist", "id": playlist["id"], "name": "dailies"}]
    # an event-log listener sees the version join the playlist: what joined, not the whole list
    joined = sg.find_one(
        "EventLogEntry",
        [["event_type", "is", "Shotgun_Version_Change"], ["attribute_name", "is", "playlists"]],
        ["entity", "meta"],
        order=[{"field_name": "id", "direction": "desc"}],
    )
    assert joined["entity"]["id"] == versions[1]["id"]
    assert [p["id"] for p in joined["meta"]["added"]] == [playlist["id"]]
    assert joined["meta"]["removed"] == [] and "new_value" not in joined["meta"]
    in_playlist = sg.find("Version", [["playlists", "is", playlist]], ["code"])
    assert _codes(in_playlist) == ["v0", "v1"]

    sg.update(
        "Playlist",
        playlist["id"],
        {"versions": [versions[0]]},
        multi_entity_update_modes={"versions": "remove"},
    )
    assert _codes(sg.find("Version", [["playlists", "is", playlist]], ["code"])) == ["v1"]
    # the other side written: the playlist follows
    sg.update("Version", versions[0]["id"], {"playlists": [playlist]})
    again = sg.find_one("Playlist", [["id", "is", playlist["id"]]], ["versions"])
    assert sorted(v["id"] for v in again["versions"]) == sorted(v["id"] for v in versions)


def test_a_shot_moved_to_another_sequence_leaves_the_old_ones_shots_and_notes_show_on_what_they_link(
    sg: shotgun_api3.Shotgun,
) -> None:
    show = make_show(sg, shots=2)
    sequence = sg.find_one("Sequence", [["id", "is", show.sequence["id"]]], ["shots"])
    assert sorted(s["id"] for s in sequence["shots"]) == sorted(s["id"] for s in show.shots)

    other = sg.create("Sequence", {"code": "SQ020", "project": show.project})
    sg.update("Shot", show.shots[0]["id"], {"sg_sequence": other})
    old = sg.find_one("Sequence", [["id", "is", show.sequence["id"]]], ["shots"])
    new = sg.find_one("Sequence", [["id", "is", other["id"]]], ["shots"])
    assert [s["id"] for s in old["shots"]] == [show.shots[1]["id"]]
    assert [s["id"] for s in new["shots"]] == [show.shots[0]["id"]]
    assert sg.find("Sequence", [["shots", "is", show.shots[0]]], ["code"])[0]["code"] == "SQ020"

    version = sg.create("Version", {"code": "v1", "project": show.project, "entity": show.shots[1]})
    note = sg.create(
        "Note",
        {
            "project": show.project,
            "subject": "edge",
            "content": "soften the edge",
            "note_links": [version, show.shots[1]],
            "tasks": [show.tasks[1]],
        },
    )
    for entity in (version, show.shots[1], show.tasks[1]):
        found = sg.find_one(entity["type"], [["id", "is", entity["id"]]], ["notes"])
        assert [n["id"] for n in found["notes"]] == [note["id"]], entity["type"]


def test_a_retired_entity_answers_its_retirement_date_and_links_to_it_read_empty_until_revived(
    sg: shotgun_api3.Shotgun,
) -> None:
    show = make_show(sg, shots=1)
    shot, task = show.shots[0], show.tasks[0]
    before = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    assert sg.delete("Shot", shot["id"]) is True
    assert sg.find("Shot", [["id", "is", shot["id"]]]) == []

    # an event-log listener meets the retirement with no entity: the shot is named only in its meta
    event = sg.find_one(
        "EventLogEntry",
        [["event_type", "is", "Shotgun_Shot_Retirement"]],
        ["entity", "meta"],
        order=[{"field_name": "id", "direction": "desc"}],
    )
    assert event["entity"] is None
    assert (event["meta"]["entity_type"], event["meta"]["entity_id"]) == ("Shot", shot["id"])
    linked = sg.find_one("Task", [["id", "is", task["id"]]], ["entity"])
    assert linked["entity"] is None
    in_sequence = sg.find_one("Sequence", [["id", "is", show.sequence["id"]]], ["shots"])
    assert in_sequence["shots"] == []

    retired = sg.find("Shot", [["id", "is", shot["id"]]], ["code", "retirement_date"], retired_only=True)
    assert [r["code"] for r in retired] == [shot["code"]]
    assert isinstance(retired[0]["retirement_date"], datetime.datetime)
    assert retired[0]["retirement_date"] >= before

    assert sg.revive("Shot", shot["id"]) is True
    revived = sg.find_one("Shot", [["id", "is", shot["id"]]], ["retirement_date"])
    assert revived["retirement_date"] is None
    linked = sg.find_one("Task", [["id", "is", task["id"]]], ["entity"])
    assert linked["entity"] == {"type": "Shot", "id": shot["id"], "name": shot["code"]}


def test_a_bad_date_span_or_field_type_is_refused_in_one_sentence_and_nothing_is_kept(
    sg: shotgun_api3.Shotgun,
) -> None:
    show = make_show(sg, shots=1)
    task = show.tasks[0]
    with pytest.raises(shotgun_api3.Fault, match=r"Task\.start_date expects a date .*'tomorrow'"):
        sg.update("Task", task["id"], {"start_date": "tomorrow"})
    assert sg.find_one("Task", [["id", "is", task["id"]]], ["start_date"])["start_date"] is None

    # an ISO text with an offset is kept in UTC, as a datetime is
    sg.schema_field_create("Task", "date_time", "Review At")
    sg.update("Task", task["id"], {"sg_review_at": "2026-12-06T09:30:00-08:00"})
    read = sg.find_one("Task", [["id", "is", task["id"]]], ["sg_review_at"])["sg_review_at"]
    assert read == datetime.datetime(2026, 12, 6, 17, 30, tzinfo=datetime.UTC)

    with pytest.raises(shotgun_api3.Fault, match=r"in_last.*FORTNIGHT"):
        sg.find("Task", [["created_at", "in_last", 1, "FORTNIGHT"]])
    with pytest.raises(shotgun_api3.Fault, match="'numberz' is not a data type"):
        sg.schema_field_create("Task", "numberz", "Frame Count")
    assert "sg_frame_count" not in sg.schema_field_read("Task")


def test_a_status_dashboard_reads_the_share_of_final_shots_and_groups_tasks_by_shot(
    sg: shotgun_api3.Shotgun,
) -> None:
    show = make_show(sg, shots=4)
    for shot, status in zip(show.shots, ("fin", "fin", "fin", "ip"), strict=True):
        sg.update("Shot", shot["id"], {"sg_status_list": status})
    in_show = [["project", "is", show.project]]

    share = sg.summarize(
        "Shot",
        in_show,
        [
            {"field": "sg_status_list", "type": "status_percentage", "value": "fin"},
            {"field": "id", "type": "count"},
        ],
    )
    assert share["summaries"] == {"sg_status_list": 75, "id": 4}

    by_shot = sg.summarize(
        "Task", in_show, [{"field": "id", "type": "count"}], grouping=[{"field": "entity", "type": "exact"}]
    )
    first = by_shot["groups"][0]
    shot = show.shots[0]
    assert first["group_value"] == {"type": "Shot", "id": shot["id"], "name": shot["code"], "valid": "valid"}
    assert first["summaries"] == {"id": 1}

    with pytest.raises(shotgun_api3.Fault, match="grouping type 'by_status' is not one"):
        sg.summarize(
            "Shot",
            in_show,
            [{"field": "id", "type": "count"}],
            grouping=[{"field": "code", "type": "by_status"}],
        )


def test_an_uploaders_movie_comes_back_whole_and_search_wants_three_characters(
    sg: shotgun_api3.Shotgun, tmp_path: Path
) -> None:
    show = make_show(sg, shots=1)
    version = sg.create(
        "Version", {"code": "SQ010_0010_comp_v001", "project": show.project, "entity": show.shots[0]}
    )
    movie = tmp_path / "review.mov"
    movie.write_bytes(bytes(range(256)) * 64)
    attachment_id = sg.upload("Version", version["id"], str(movie), field_name="sg_uploaded_movie")
    field = sg.find_one("Version", [["id", "is", version["id"]]], ["sg_uploaded_movie"])["sg_uploaded_movie"]
    assert field["id"] == attachment_id and field["link_type"] == "upload"
    assert sg.download_attachment(field) == movie.read_bytes()

    found = sg.text_search("comp_v001", {"Version": [["project", "is", show.project]]})
    assert [(m["type"], m["id"]) for m in found["matches"]] == [("Version", version["id"])]
    with pytest.raises(shotgun_api3.Fault, match="at least three characters"):
        sg.text_search("SQ", {"Version": []})


def test_a_weekly_dashboard_groups_by_week_and_due_soon_holds_what_is_due_today(
    sg: shotgun_api3.Shotgun,
) -> None:
    show = make_show(sg, shots=1)
    for day in (
        "2024-01-01",
        "2024-01-02",
        "2024-01-03",
        "2024-01-09",
    ):  # a Monday, Tuesday, Wednesday, Tuesday
        sg.create("Task", {"content": day, "project": show.project, "due_date": day})
    weekly = sg.summarize(
        "Task",
        [["project", "is", show.project], ["due_date", "is_not", None]],
        [{"field": "id", "type": "count"}],
        grouping=[{"field": "due_date", "type": "week", "direction": "asc"}],
    )
    assert [(g["group_value"], g["summaries"]["id"]) for g in weekly["groups"]] == [
        ("2023-12-31", 3),  # weeks start on Sunday, as in_calendar_week's do
        ("2024-01-07", 1),
    ]

    today = datetime.date.today()
    for n in (0, 3, 9):
        sg.create(
            "Task",
            {"content": f"due+{n}", "project": show.project, "due_date": today + datetime.timedelta(n)},
        )
    soon = sg.find("Task", [["project", "is", show.project], ["due_date", "in_next", 7, "DAY"]], ["content"])
    if datetime.date.today() == today:  # the day did not turn during the question
        assert sorted(t["content"] for t in soon) == ["due+0", "due+3"]


def test_deep_fields_through_a_deleted_shot_read_empty_and_its_versions_leave_a_status_filter(
    sg: shotgun_api3.Shotgun,
) -> None:
    show = make_show(sg, shots=2)
    sg.update("Shot", show.shots[0]["id"], {"sg_status_list": "ip"})
    sg.update("Shot", show.shots[1]["id"], {"sg_status_list": "ip"})
    for n, shot in enumerate(show.shots):
        sg.create("Version", {"code": f"v{n}", "project": show.project, "entity": shot})
    sg.delete("Shot", show.shots[1]["id"])
    fields = ["code", "entity", "entity.Shot.code", "entity.Shot.sg_sequence.Sequence.code"]
    rows = {v["code"]: v for v in sg.find("Version", [["project", "is", show.project]], fields)}
    assert rows["v1"]["entity"] is None
    assert (
        rows["v1"]["entity.Shot.code"] is None and rows["v1"]["entity.Shot.sg_sequence.Sequence.code"] is None
    )
    assert rows["v0"]["entity.Shot.sg_sequence.Sequence.code"] == "SQ010"
    in_progress = sg.find(
        "Version", [["project", "is", show.project], ["entity.Shot.sg_status_list", "is", "ip"]], ["code"]
    )
    assert _codes(in_progress) == ["v0"]


def test_search_answers_while_a_thumbnail_is_processed_and_an_upload_keeps_its_date_and_a_person_has_a_name(
    server: Any, sg: shotgun_api3.Shotgun, tmp_path: Path
) -> None:
    server.service.thumbnail_delay = 60.0
    show = make_show(sg, shots=1)
    version = sg.create("Version", {"code": "SQ010_0010_comp_v002", "project": show.project})
    thumb = tmp_path / "t.png"
    thumb.write_bytes(b"\x89PNG\r\n\x1a\nthumb")
    sg.upload_thumbnail("Version", version["id"], str(thumb))
    found = sg.text_search("comp_v002", {"Version": [["project", "is", show.project]]})
    assert [m["id"] for m in found["matches"]] == [version["id"]]
    assert "images/status/transient" in found["matches"][0]["image"]

    movie = tmp_path / "old.mov"
    movie.write_bytes(b"movie" * 100)
    then = datetime.datetime(2021, 5, 6, 7, 8, 9)
    attachment_id = sg.upload(
        "Version", version["id"], str(movie), field_name="sg_uploaded_movie", created_at=then
    )
    stored = sg.find_one("Attachment", [["id", "is", attachment_id]], ["created_at"])["created_at"]
    assert stored.astimezone(datetime.UTC).replace(tzinfo=None) == then  # sent as written: taken as UTC

    person = sg.create("HumanUser", {"firstname": "Ann", "lastname": "Lee", "login": "ann.lee"}, ["name"])
    assert person["name"] == "Ann Lee"
    assert [m["id"] for m in sg.text_search("Ann Lee", {"HumanUser": []})["matches"]] == [person["id"]]
