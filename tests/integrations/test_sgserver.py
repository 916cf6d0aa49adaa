"""The local ShotGrid-compatible server, driven by the real, unmodified shotgun_api3 client over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import shotgun_api3

from integrations.trackers.sgserver import SGServer
from tests.integrations.sg_fixtures import client, make_show, running_server


@pytest.fixture
def server(tmp_path: Path) -> Iterator[SGServer]:
    """Pages of 4 (the shared fixture's are 500), so paging is seen on a few records; `sg` logs in to it."""
    srv = running_server(tmp_path / "sg", page_size=4)
    yield srv
    srv.stop()


def test_client_builds_a_show_and_reads_it_back_with_filters_paging_and_dotted_fields(
    sg: shotgun_api3.Shotgun,
) -> None:
    show = make_show(sg, shots=6)
    assert sg.server_caps.version >= (8, 0, 0)

    # paging: the server answers at most 4 per page, the client walks every page
    codes = [
        s["code"]
        for s in sg.find("Shot", [["project", "is", show.project]], ["code"], order=[{"field_name": "code"}])
    ]
    assert codes == [f"SQ010_{n:04d}" for n in (10, 20, 30, 40, 50, 60)]
    page2 = sg.find(
        "Shot", [], ["code"], order=[{"field_name": "code", "direction": "desc"}], limit=2, page=2
    )
    assert [s["code"] for s in page2] == ["SQ010_0040", "SQ010_0030"]

    # dotted fields, in return fields and in filters
    task = sg.find_one(
        "Task",
        [["entity.Shot.sg_sequence.Sequence.code", "is", "SQ010"], ["entity.Shot.code", "ends_with", "0030"]],
        ["entity.Shot.code", "project.Project.name", "entity", "sg_status_list"],
    )
    assert task["entity.Shot.code"] == "SQ010_0030"
    assert task["project.Project.name"] == "DEMO show"
    assert task["entity"] == {"type": "Shot", "id": show.shots[2]["id"], "name": "SQ010_0030"}
    assert task["sg_status_list"] == "wtg"

    # operators and nested groups
    either = sg.find(
        "Shot",
        [
            {
                "filter_operator": "any",
                "filters": [["code", "starts_with", "sq010_001"], ["code", "contains", "0050"]],
            },
            ["code", "not_in", ["SQ010_0050"]],
        ],
        ["code"],
    )
    assert [s["code"] for s in either] == ["SQ010_0010"]
    assert len(sg.find("Task", [["entity", "type_is", "Shot"], ["entity", "name_contains", "0020"]])) == 1
    assert len(sg.find("Shot", [["id", "between", [show.shots[1]["id"], show.shots[3]["id"]]]])) == 3
    assert len(sg.find("Shot", [["id", "greater_than", show.shots[4]["id"]]])) == 1
    assert sg.find("Shot", [["sg_sequence", "is", None]]) == []
    with pytest.raises(shotgun_api3.Fault, match="doesn't exist"):
        sg.find("Shot", [["no_such_field", "is", 1]])


def test_batch_is_one_transaction_and_updates_modes_delete_revive(sg: shotgun_api3.Shotgun) -> None:
    show = make_show(sg, shots=2)
    made = sg.batch(
        [
            {
                "request_type": "create",
                "entity_type": "Shot",
                "data": {"code": "B1", "project": show.project},
            },
            {
                "request_type": "update",
                "entity_type": "Shot",
                "entity_id": show.shots[0]["id"],
                "data": {"code": "R1"},
            },
        ]
    )
    assert made[0]["code"] == "B1" and made[1]["code"] == "R1"

    with pytest.raises(shotgun_api3.Fault, match="not a valid status"):
        sg.batch(
            [
                {
                    "request_type": "create",
                    "entity_type": "Shot",
                    "data": {"code": "B2", "project": show.project},
                },
                {
                    "request_type": "update",
                    "entity_type": "Shot",
                    "entity_id": made[0]["id"],
                    "data": {"sg_status_list": "bogus"},
                },
            ]
        )
    assert sg.find("Shot", [["code", "is", "B2"]]) == []  # the whole batch rolled back

    playlist = sg.create("Playlist", {"code": "dailies", "project": show.project, "versions": []})
    v1 = sg.create("Version", {"code": "v1", "entity": show.shots[0], "project": show.project})
    v2 = sg.create("Version", {"code": "v2", "entity": show.shots[0], "project": show.project})
    sg.update(
        "Playlist", playlist["id"], {"versions": [v1, v2]}, multi_entity_update_modes={"versions": "add"}
    )
    sg.update(
        "Playlist", playlist["id"], {"versions": [v1]}, multi_entity_update_modes={"versions": "remove"}
    )
    assert [
        v["id"] for v in sg.find_one("Playlist", [["id", "is", playlist["id"]]], ["versions"])["versions"]
    ] == [v2["id"]]

    assert sg.delete("Version", v1["id"]) is True
    assert sg.find("Version", [["id", "is", v1["id"]]]) == []
    assert [v["id"] for v in sg.find("Version", [], retired_only=True)] == [v1["id"]]
    assert sg.revive("Version", v1["id"]) is True
    assert len(sg.find("Version", [])) == 2


def test_every_write_lands_in_the_event_log(sg: shotgun_api3.Shotgun) -> None:
    show = make_show(sg, shots=1)
    task = show.tasks[0]
    sg.update("Task", task["id"], {"sg_status_list": "fix"})
    sg.delete("Task", task["id"])
    events = sg.find(
        "EventLogEntry",
        [["entity", "is", {"type": "Task", "id": task["id"]}]],
        ["event_type", "attribute_name", "meta", "project", "user"],
        order=[{"field_name": "id", "direction": "asc"}],
    )
    kinds = [(e["event_type"], e["attribute_name"]) for e in events]
    assert kinds[0] == ("Shotgun_Task_New", None)
    assert ("Shotgun_Task_Change", "sg_status_list") in kinds
    assert kinds[-1] == ("Shotgun_Task_Retirement", None)
    change = next(
        e for e in events if e["attribute_name"] == "sg_status_list" and not e["meta"].get("in_create")
    )
    assert change["meta"]["old_value"] == "wtg" and change["meta"]["new_value"] == "fix"
    assert change["project"]["id"] == show.project["id"]
    assert change["user"]["type"] == "ApiUser"
    ids = [e["id"] for e in events]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)


def test_schema_reads_and_custom_fields(sg: shotgun_api3.Shotgun) -> None:
    assert sg.schema_field_create("Task", "text", "Rushes Fixes") == "sg_rushes_fixes"
    assert sg.schema_field_create("Task", "text", "Rushes Fixes") == "sg_rushes_fixes_1"
    field = sg.schema_field_read("Task", "sg_rushes_fixes")["sg_rushes_fixes"]
    assert field["data_type"]["value"] == "text" and field["name"]["value"] == "Rushes Fixes"
    statuses = sg.schema_field_read("Task", "sg_status_list")["sg_status_list"]["properties"]["valid_values"][
        "value"
    ]
    assert "fix" in statuses
    assert "Version" in sg.schema_entity_read()
    assert "sg_uploaded_movie" in sg.schema_read()["Version"]
    with pytest.raises(shotgun_api3.Fault):
        sg.schema_field_read("Task", "sg_nope")


def test_upload_and_download_round_trip(server: SGServer, sg: shotgun_api3.Shotgun, tmp_path: Path) -> None:
    show = make_show(sg, shots=1)
    movie = tmp_path / "SQ010_0010_v001.mp4"
    movie.write_bytes(bytes(range(256)) * 40)
    version = sg.create("Version", {"code": "v001", "entity": show.shots[0], "project": show.project})
    attachment_id = sg.upload("Version", version["id"], str(movie), field_name="sg_uploaded_movie")
    thumb = tmp_path / "thumb.png"
    thumb.write_bytes(b"\x89PNG\r\n\x1a\nnot-really-a-png")
    sg.upload_thumbnail("Version", version["id"], str(thumb))

    found = sg.find_one("Version", [["id", "is", version["id"]]], ["sg_uploaded_movie", "image"])
    assert found["sg_uploaded_movie"]["id"] == attachment_id
    assert found["sg_uploaded_movie"]["name"] == movie.name
    assert sg.download_attachment(found["sg_uploaded_movie"]) == movie.read_bytes()
    assert sg.download_attachment({"url": found["image"]}) == thumb.read_bytes()
    saved = tmp_path / "back.mp4"
    sg.download_attachment(found["sg_uploaded_movie"], file_path=str(saved))
    assert saved.read_bytes() == movie.read_bytes()
    # download_attachment(id) sends no usable cookie (the client scopes it to "host:port"), so a server
    # bound to loopback serves it; one bound elsewhere wants a signature or a session.
    assert sg.download_attachment(attachment_id) == movie.read_bytes()
    unsigned = found["sg_uploaded_movie"]["url"].split("?")[0]
    server.open_downloads = False
    with pytest.raises(shotgun_api3.ShotgunFileDownloadError):
        sg.download_attachment({"url": unsigned})  # no signature, no session: refused


def test_a_movie_is_served_in_the_byte_ranges_a_browsers_player_asks_to_seek(
    server: SGServer, sg: shotgun_api3.Shotgun, tmp_path: Path
) -> None:
    """Chromium seeks in a movie only where its server answers byte ranges (tests/daemon/stages/
    test_review_in_browser.py plays one); the local tracker used to answer every request with the whole file."""
    import urllib.error
    import urllib.request

    show = make_show(sg, shots=1)
    movie = tmp_path / "sh010.mp4"
    movie.write_bytes(bytes(range(256)) * 4)
    version = sg.create("Version", {"code": "v001", "entity": show.shots[0], "project": show.project})
    sg.upload("Version", version["id"], str(movie), field_name="sg_uploaded_movie")
    url = sg.find_one("Version", [["id", "is", version["id"]]], ["sg_uploaded_movie"])["sg_uploaded_movie"][
        "url"
    ]

    def fetch(asked: str | None) -> tuple[int, bytes, dict[str, str]]:
        headers = {"Range": asked} if asked else {}
        try:
            with urllib.request.urlopen(urllib.request.Request(url, headers=headers)) as answer:
                return answer.status, answer.read(), dict(answer.headers)
        except urllib.error.HTTPError as refused:
            return refused.code, refused.read(), dict(refused.headers)

    whole = movie.read_bytes()
    status, body, headers = fetch(None)
    assert (status, body, headers["Accept-Ranges"]) == (200, whole, "bytes")
    status, body, headers = fetch("bytes=100-199")
    assert (status, body, headers["Content-Range"]) == (206, whole[100:200], "bytes 100-199/1024")
    assert fetch("bytes=1000-")[1] == whole[1000:] and fetch("bytes=-24")[1] == whole[-24:]
    assert fetch("bytes=5000-")[0] == 416  # past the end
    assert fetch("bytes=0-1, 5-6")[:2] == (200, whole)  # several ranges: the whole file, as RFC 9110 allows


def test_bad_key_is_an_authentication_fault(server: SGServer) -> None:
    with pytest.raises(shotgun_api3.AuthenticationFault):
        client(server, key="wrong").find("Project", [])


def test_injected_faults(server: SGServer, sg: shotgun_api3.Shotgun) -> None:
    server.faults.fail_next(1, status=503)
    with pytest.raises(shotgun_api3.ProtocolError) as caught:
        sg.find("Project", [])
    assert caught.value.errcode == 503
    server.faults.drop_connections(2)  # the client's HTTP layer retries a hang-up once by itself
    with pytest.raises(ConnectionError):
        sg.find("Project", [])
    assert sg.find("Project", []) == []


def test_the_versions_page_lists_versions_newest_first_with_their_movie_link(
    server: SGServer, sg: shotgun_api3.Shotgun, tmp_path: Path
) -> None:
    import urllib.request

    def page() -> str:
        with urllib.request.urlopen(f"{server.url}/versions", timeout=10) as answer:
            assert answer.headers["Content-Type"].startswith("text/html")
            return str(answer.read().decode("utf-8"))

    assert "no Versions yet" in page()
    show = make_show(sg, shots=1)
    shot, task = show.shots[0], show.tasks[0]
    base = {"project": show.project, "entity": shot, "sg_task": task}
    sg.create("Version", {**base, "code": "first", "description": "a <b>bold</b> note"})
    second = sg.create("Version", {**base, "code": "second", "sg_path_to_movie": "/renders/second.mov"})
    movie = tmp_path / "second.mov"
    movie.write_bytes(b"not really a movie")
    sg.upload("Version", second["id"], str(movie), field_name="sg_uploaded_movie")

    text = page()

    assert text.index("second") < text.index("first")  # newest first
    assert "a &lt;b&gt;bold&lt;/b&gt; note" in text and "<b>bold" not in text
    assert "/renders/second.mov" in text and "SQ010_0010" in text
    assert "Notes on tasks" not in text

    sg.create(
        "Note", {"project": show.project, "subject": "hello", "content": "no task", "note_links": [shot]}
    )
    sg.create(
        "Note",
        {
            "project": show.project,
            "subject": "Rushes could not do this fix",
            "content": "Rushes did not do the fix request on SQ010_0010: <why>.",
            "note_links": [shot],
            "tasks": [task],
        },
    )
    sg.update("Task", task["id"], {"sg_status_list": "hld"})
    notes = page().split("Notes on tasks", 1)[1]
    assert "Rushes did not do the fix request on SQ010_0010: &lt;why&gt;." in notes and "no task" not in notes
    assert "<td>hld</td>" in notes  # the task's status now
    link = text.split("<a href='", 1)[1].split("'", 1)[0].replace("&amp;", "&")
    with urllib.request.urlopen(link, timeout=10) as answer:  # the signed link plays without a session
        assert answer.read() == b"not really a movie"

    # a url any API user may store: shown as text, never a link that runs in the browser of whoever clicks it
    script = "javascript:fetch('/versions').then(r=>r.text()).then(alert)"
    sg.create("Version", {**base, "code": "third", "sg_uploaded_movie": {"url": script, "link_type": "web"}})
    third = page().split("third", 1)[1].split("</tr>", 1)[0]
    assert "href=" not in third and "javascript:fetch(&#x27;/versions&#x27;)" in third


def test_bound_beyond_loopback_the_versions_page_wants_a_session(
    server: SGServer, sg: shotgun_api3.Shotgun, tmp_path: Path
) -> None:
    """`rushes tracker serve --host 0.0.0.0` used to show /versions to anyone on the network, and its movie links
    are signed download urls: anyone could download every published movie without signing in."""
    import urllib.error
    import urllib.request

    show = make_show(sg, shots=1)
    version = sg.create("Version", {"code": "v001", "entity": show.shots[0], "project": show.project})
    movie = tmp_path / "v001.mov"
    movie.write_bytes(b"unreleased footage")
    sg.upload("Version", version["id"], str(movie), field_name="sg_uploaded_movie")
    server.open_downloads = False  # as when bound to an address other than loopback
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{server.url}/versions", timeout=10)
    assert refused.value.code == 403 and b"sign in first" in refused.value.read()
    signed_in = urllib.request.Request(
        f"{server.url}/versions", headers={"Cookie": f"_session_id={sg.get_session_token()}"}
    )
    with urllib.request.urlopen(signed_in, timeout=10) as answer:
        assert "v001" in answer.read().decode("utf-8")
