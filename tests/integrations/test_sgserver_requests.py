"""The local server against bad requests, secrets, human logins, thumbnails and an exported schema."""

from __future__ import annotations

import hashlib
import http.client
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import shotgun_api3

from integrations.trackers.sgserver import SGServer
from integrations.trackers.sgserver import app as sgserver_app
from integrations.trackers.sgserver.app import serve
from integrations.trackers.sgserver.schema import SchemaError
from tests.integrations.sg_fixtures import KEY, SCRIPT, client, running_server


def _post(server: SGServer, body: bytes, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    conn = http.client.HTTPConnection(server.host, server.port, timeout=10)
    conn.putrequest("POST", "/api3/json")
    for name, value in (headers or {"Content-Length": str(len(body))}).items():
        conn.putheader(name, value)
    conn.endheaders()
    conn.send(body)
    response = conn.getresponse()
    answer = response.read()
    conn.close()
    return response.status, json.loads(answer)


def _call(server: SGServer, method: str, params: Any) -> Any:
    body = {"method_name": method, "params": [{"script_name": SCRIPT, "script_key": KEY}, params]}
    return _post(server, json.dumps(body).encode())[1]


def _nested_body(depth: int) -> bytes:
    """A read whose filters are nested `depth` groups deep (written as text: json.dumps stops at ~1000)."""
    leaf = '{"path": "id", "relation": "is", "values": [1]}'
    group = '{"logical_operator": "and", "conditions": [' * depth + leaf + "]}" * depth
    auth = json.dumps({"script_name": SCRIPT, "script_key": KEY})
    return f'{{"method_name": "read", "params": [{auth}, {{"type": "Shot", "filters": {group}}}]}}'.encode()


@pytest.mark.parametrize(
    ("method", "params"),
    [
        ("read", {"type": "Shot", "filters": "not a filter"}),
        ("read", {"type": "Shot", "filters": {"logical_operator": "and", "conditions": [7]}}),
        ("read", {"type": ["Shot"], "filters": None}),
        ("read", {"type": "Shot", "paging": {"entities_per_page": "many"}}),
        ("create", {"type": "Shot", "fields": "code=x"}),
        ("update", {"type": "Shot", "id": "one", "fields": []}),
        ("summarize", {"type": "Shot", "summaries": "count"}),
        (
            "read",
            {
                "type": "Shot",
                "filters": {
                    "logical_operator": "and",
                    "conditions": [{"path": "id", "relation": "between", "values": [1]}],
                },
            },
        ),
        ("batch", "not a list"),
    ],
)
def test_malformed_requests_answer_the_fault_shape(server: SGServer, method: str, params: Any) -> None:
    answer = _call(server, method, params)
    assert answer["exception"] is True
    assert isinstance(answer["message"], str) and answer["message"]
    assert _call(server, "read", {"type": "Project"})["results"]["entities"] == []  # still serving


def test_bad_bodies_and_content_lengths_answer_a_fault_not_a_hang_up(server: SGServer) -> None:
    for depth in (40, 1000, 5000):
        assert _post(server, _nested_body(depth))[1]["exception"] is True
    assert _post(server, _nested_body(3))[1]["results"]["entities"] == []
    assert _post(server, b"{not json")[1]["exception"] is True
    assert _post(server, b'{"method_name": 5, "params": 3}')[1]["exception"] is True
    assert _post(server, b"[1, 2]")[1]["exception"] is True
    status, answer = _post(server, b"{}", {"Content-Length": "two"})
    assert (status, answer["exception"]) == (400, True)
    status, answer = _post(server, b"{}", {"Content-Length": "-3"})
    assert (status, answer["exception"]) == (400, True)


def test_secrets_are_write_only_and_stored_as_salted_slow_hashes(
    server: SGServer, sg: shotgun_api3.Shotgun
) -> None:
    user = sg.create("HumanUser", {"name": "Ann", "login": "ann", "password_proxy": "pa55-word"})
    found = sg.find_one("HumanUser", [["id", "is", user["id"]]], ["password_proxy", "login"])
    assert found["password_proxy"] is None and found["login"] == "ann"
    script = sg.find_one("ApiUser", [["firstname", "is", SCRIPT]], ["salted_password"])
    assert script["salted_password"] is None
    with pytest.raises(shotgun_api3.Fault):
        sg.find("HumanUser", [["password_proxy", "is", "pa55-word"]])
    rows = (
        sqlite3.connect(str(server.data_dir / "shotgrid.sqlite3"))
        .execute("SELECT data FROM entities")
        .fetchall()
    )
    stored = " ".join(r[0] for r in rows)
    assert "pa55-word" not in stored and KEY not in stored
    assert stored.count("scrypt$") >= 2


def test_human_login_session_token_and_sudo(server: SGServer, sg: shotgun_api3.Shotgun) -> None:
    ann = sg.create("HumanUser", {"name": "Ann", "login": "ann", "password_proxy": "pa55-word"})
    human = shotgun_api3.Shotgun(server.url, login="ann", password="pa55-word")
    project = human.create("Project", {"name": "P"}, ["created_by"])
    assert project["created_by"]["id"] == ann["id"]
    with pytest.raises(shotgun_api3.AuthenticationFault):
        shotgun_api3.Shotgun(server.url, login="ann", password="wrong").find("Project", [])
    token = human.get_session_token()
    by_token = shotgun_api3.Shotgun(server.url, session_token=token)
    assert by_token.find_one("Project", [["id", "is", project["id"]]])["id"] == project["id"]
    sudo = shotgun_api3.Shotgun(server.url, SCRIPT, KEY, sudo_as_login="ann")
    shot = sudo.create("Shot", {"code": "s", "project": project}, ["created_by"])
    assert shot["created_by"] == {"type": "HumanUser", "id": ann["id"], "name": "Ann"}
    with pytest.raises(shotgun_api3.Fault, match="sudo"):
        shotgun_api3.Shotgun(server.url, SCRIPT, KEY, sudo_as_login="nobody").find("Shot", [])
    with pytest.raises(shotgun_api3.Fault, match="permission to 'sudo'"):
        shotgun_api3.Shotgun(server.url, login="ann", password="pa55-word", sudo_as_login="ann").find(
            "Shot", []
        )


def test_thumbnails_are_transient_until_processed_with_one_event_each(
    server: SGServer, sg: shotgun_api3.Shotgun, tmp_path: Path
) -> None:
    now = [1000.0]
    server.service.clock = lambda: now[0]
    server.service.thumbnail_delay = 5.0
    project = sg.create("Project", {"name": "P"})
    version = sg.create("Version", {"code": "v1", "project": project})
    thumb = tmp_path / "t.png"
    thumb.write_bytes(b"\x89PNG\r\n\x1a\nthumb")
    sg.upload_thumbnail("Version", version["id"], str(thumb))
    first = sg.find_one("Version", [["id", "is", version["id"]]], ["image"])["image"]
    assert "images/status/transient" in first
    now[0] += 5.0
    ready = sg.find_one("Version", [["id", "is", version["id"]]], ["image"])["image"]
    assert "/file_serve/attachment/" in ready
    assert sg.download_attachment({"url": ready}) == thumb.read_bytes()
    events = sg.find(
        "EventLogEntry",
        [["entity", "is", version], ["attribute_name", "is", "image"]],
        ["meta"],
        order=[{"field_name": "id"}],
    )
    assert [("transient" in str(e["meta"]["new_value"])) for e in events] == [True, False]


def test_serve_starts_from_an_exported_schema_and_refuses_a_broken_file(
    sg: shotgun_api3.Shotgun, tmp_path: Path
) -> None:
    export = tmp_path / "schema.json"
    exported = {k: v for k, v in sg.schema_read().items() if k in ("Project", "Shot", "HumanUser", "ApiUser")}
    exported["Shot"]["sg_vfx_bid"] = {
        **exported["Shot"]["sg_cut_in"],
        "name": {"value": "VFX Bid", "editable": True},
    }
    export.write_text(json.dumps(exported))
    with serve("127.0.0.1", 0, tmp_path / "site", SCRIPT, KEY, export) as site:
        other = client(site)
        assert set(other.schema_entity_read()) == {"Project", "Shot", "HumanUser", "ApiUser"}
        assert other.schema_field_read("Shot", "sg_vfx_bid")["sg_vfx_bid"]["data_type"]["value"] == "number"
        project = other.create("Project", {"name": "P"})
        assert (
            other.create("Shot", {"code": "a", "project": project, "sg_vfx_bid": 3}, ["sg_vfx_bid"])[
                "sg_vfx_bid"
            ]
            == 3
        )
    broken = tmp_path / "broken.json"
    broken.write_text("[1, 2")
    with pytest.raises(SchemaError, match=r"broken\.json"):
        serve("127.0.0.1", 0, tmp_path / "site2", SCRIPT, KEY, broken)


def test_share_thumbnail_waits_for_the_source_then_shares_it(
    server: SGServer, sg: shotgun_api3.Shotgun, tmp_path: Path
) -> None:
    now = [50.0]
    server.service.clock = lambda: now[0]
    server.service.thumbnail_delay = 2.0
    project = sg.create("Project", {"name": "P"})
    version = sg.create("Version", {"code": "v1", "project": project})
    shot = sg.create("Shot", {"code": "s1", "project": project})
    thumb = tmp_path / "t.png"
    thumb.write_bytes(b"\x89PNG\r\n\x1a\nshared")
    sg.upload_thumbnail("Version", version["id"], str(thumb))
    with pytest.raises(shotgun_api3.ShotgunThumbnailNotReady):
        sg.share_thumbnail([shot], source_entity=version)
    now[0] += 2.0
    assert sg.share_thumbnail([shot], source_entity=version) is not None
    image = sg.find_one("Shot", [["id", "is", shot["id"]]], ["image"])["image"]
    assert sg.download_attachment({"url": image}) == thumb.read_bytes()


def test_field_visibility_is_per_project_for_custom_fields_only(sg: shotgun_api3.Shotgun) -> None:
    one, two = sg.create("Project", {"name": "One"}), sg.create("Project", {"name": "Two"})
    name = sg.schema_field_create("Asset", "text", "Secret Notes")
    sg.schema_field_update("Asset", name, {"visible": False}, one)
    assert sg.schema_field_read("Asset", name, one)[name]["visible"] == {"value": False, "editable": True}
    assert sg.schema_field_read("Asset", name, two)[name]["visible"] == {"value": True, "editable": True}
    assert sg.schema_field_read("Asset", "code")["code"]["visible"]["editable"] is False
    with pytest.raises(shotgun_api3.Fault, match="built-in"):
        sg.schema_field_update("Asset", "code", {"visible": False}, one)


def test_a_script_key_stored_by_an_older_server_is_rehashed_with_scrypt(tmp_path: Path) -> None:
    first = running_server(tmp_path / "sg")
    first.stop()
    db = sqlite3.connect(str(tmp_path / "sg" / "shotgrid.sqlite3"))
    (row_id, data), *_ = db.execute("SELECT id, data FROM entities WHERE type = 'ApiUser'").fetchall()
    legacy = json.loads(data) | {"salted_password": hashlib.sha256(KEY.encode()).hexdigest()}
    db.execute("UPDATE entities SET data = ? WHERE type = 'ApiUser' AND id = ?", (json.dumps(legacy), row_id))
    db.commit()
    db.close()
    again = running_server(tmp_path / "sg")
    try:
        assert client(again).find("Project", []) == []
        stored = again.storage.get("ApiUser", row_id)
        assert stored is not None and stored.data["salted_password"].startswith("scrypt$")
    finally:
        again.stop()


def test_a_body_shorter_than_its_content_length_is_answered_once_it_stops_arriving(
    server: SGServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sgserver_app, "BODY_TIMEOUT", 0.5)
    status, answer = _post(server, b'{"method_name": "info"', {"Content-Length": "500"})
    assert (status, answer["exception"]) == (400, True)
    assert "500" in answer["message"]


def test_note_thread_is_the_note_then_replies_then_attachments(
    sg: shotgun_api3.Shotgun, tmp_path: Path
) -> None:
    project = sg.create("Project", {"name": "P"})
    note = sg.create("Note", {"content": "too dark", "project": project})
    reply = sg.create("Reply", {"content": "fixed in v2", "entity": note})
    attached = tmp_path / "ref.png"
    attached.write_bytes(b"\x89PNG\r\n\x1a\nref")
    attachment_id = sg.upload("Note", note["id"], str(attached))
    thread = sg.note_thread_read(note["id"], {"Attachment": ["this_file"]})
    assert [(t["type"], t["id"]) for t in thread] == [
        ("Note", note["id"]),
        ("Reply", reply["id"]),
        ("Attachment", attachment_id),
    ]
    assert set(thread[0]) == {"type", "id", "content", "created_at", "created_by"}
    assert thread[1]["content"] == "fixed in v2" and "image" in thread[1]["user"]
    assert sg.download_attachment(thread[2]["this_file"]) == attached.read_bytes()
    with pytest.raises(shotgun_api3.Fault, match="does not exist"):
        sg.note_thread_read(999)


def test_an_uploaded_page_is_handed_over_as_a_download_and_a_picture_is_shown(
    server: SGServer, sg: shotgun_api3.Shotgun, tmp_path: Path
) -> None:
    """Anyone with a script key can upload a file: an HTML page or an SVG served inline would run its script
    on the tracker's origin, where a signed-in supervisor's session cookie lives."""
    project = sg.create("Project", {"name": "P"})
    note = sg.create("Note", {"content": "see attached", "project": project})
    page, svg, picture = tmp_path / "notes é.html", tmp_path / "logo.svg", tmp_path / "ref.png"
    page.write_text("<script>fetch('/versions')</script>")
    svg.write_text("<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>")
    picture.write_bytes(b"\x89PNG\r\n\x1a\nref")

    def served(path: Path) -> tuple[bytes, dict[str, str]]:
        attachment = sg.upload("Note", note["id"], str(path))
        conn = http.client.HTTPConnection(server.host, server.port, timeout=10)
        conn.request("GET", f"/file_serve/attachment/{attachment}")  # on loopback: no session needed
        response = conn.getresponse()
        body, headers = response.read(), {k.lower(): v for k, v in response.getheaders()}
        conn.close()
        assert response.status == 200
        return body, headers

    for path in (page, svg):
        body, headers = served(path)
        assert body == path.read_bytes()
        assert headers["content-disposition"].startswith("attachment; filename*=UTF-8''")
        assert (
            headers["x-content-type-options"] == "nosniff" and headers["content-security-policy"] == "sandbox"
        )
    assert served(page)[1]["content-disposition"].endswith("notes%20%C3%A9.html")
    body, headers = served(picture)
    assert body == picture.read_bytes() and headers["content-type"] == "image/png"
    assert "content-disposition" not in headers  # shown in the review page as it is
