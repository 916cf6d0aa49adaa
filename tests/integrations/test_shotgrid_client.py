"""The client Rushes runs (integrations/trackers/shotgrid/client.py): a write sent once however its connection
ends, uploads given time for their size, a part sent to storage again on a passing failure, a moved site still
refused for good, and the official client's private hooks it relies on still there."""

from __future__ import annotations

import inspect
import io
import re
import urllib.error
import urllib.request
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
import shotgun_api3
from shotgun_api3.lib import httplib2

from integrations.trackers.base import TrackerFatal
from integrations.trackers.sgserver import SGServer
from integrations.trackers.shotgrid import ShotGridTracker
from integrations.trackers.shotgrid.client import (
    STORAGE_ATTEMPTS,
    UPLOAD_FLOOR_BYTES_S,
    OnceClient,
    UploadOpener,
    sends_once,
)
from tests.integrations.sg_fixtures import FAST, KEY, KINDS, SCRIPT, Show, options, spec, versions
from tests.netfaults import Answer, FaultProxy, LoseAnswer, calls


def tracker(proxy: FaultProxy, server: SGServer) -> ShotGridTracker:
    return ShotGridTracker(options(server, url=proxy.url), kinds=KINDS, policy=FAST, sleep=lambda _: None)


def test_a_create_whose_connection_closes_cleanly_before_its_answer_is_one_version(
    server: SGServer, sg: shotgun_api3.Shotgun, show: Show, proxy: FaultProxy, tmp_path: Path
) -> None:
    """A proxy that forwarded the create and then closed the connection without an answer: the HTTP library
    used to send the create again on its own (two Versions); now Rushes finds it by its key."""
    proxy.add(LoseAnswer(quietly=True), when=calls("create"))
    published = tracker(proxy, server).publish_version(spec(tmp_path, show))
    [version] = versions(sg)
    assert version["id"] == published.version_id
    assert version["sg_uploaded_movie"]["name"] == "SQ010_0010_fix_v001.mp4"
    assert sum(1 for r in proxy.requests if calls("create")(r)) == 1  # sent once by the client


def test_a_read_whose_connection_closes_cleanly_is_read_again_by_the_client(
    server: SGServer, show: Show, proxy: FaultProxy
) -> None:
    client = OnceClient(proxy.url, SCRIPT, KEY, connect=False)
    client.config.timeout_secs = 5
    client.find_one("Project", [])  # the connection is kept alive
    before = sum(1 for r in proxy.requests if calls("read")(r))
    proxy.add(LoseAnswer(quietly=True), when=calls("read"))
    assert client.find("Shot", [], ["code"])  # a read may be sent again: nothing changes on the site
    assert len(proxy.fired) == 1
    assert sum(1 for r in proxy.requests if calls("read")(r)) == before + 2  # the lost one, and once more


# every RPC the official client makes, as Rushes' client sends it: read (may be sent again) or once
WRITES = {
    "batch",
    "create",
    "delete",
    "follow",
    "revive",
    "schema_field_create",
    "schema_field_delete",
    "schema_field_update",
    "unfollow",
    "update",
    "update_project_last_accessed_by_current_user",
    "user_subscriptions_create",
    "work_schedule_update",
}


def test_every_rpc_of_the_client_is_known_as_a_read_or_a_write() -> None:
    """A new client version's RPC is sent once until it is looked at here (an unknown name is a write)."""
    source = inspect.getsource(shotgun_api3.shotgun)
    names = set(re.findall(r'_call_rpc\(\s*"([a-z_]+)"', source))
    assert "create" in names and "read" in names
    for name in names:
        assert sends_once(name) == (name in WRITES), f"{name}: sent {'once' if sends_once(name) else 'again'}"
    assert sends_once("some_new_rpc")


@pytest.mark.parametrize("status", [301, 303, 307, 308])
def test_a_site_that_moved_is_still_refused_for_good_once_it_has_answered(
    server: SGServer, show: Show, proxy: FaultProxy, tmp_path: Path, status: int
) -> None:
    """A redirect is not followed (a write never goes to another address with the script's key in it): the
    client used to follow a 308 and turn a 303 into a read, and a 308 without an address was retried for
    hours."""
    adapter = tracker(proxy, server)
    assert adapter.fix_requests_since(None) is not None  # the site has answered this process
    proxy.add(Answer(status), times=1000)
    seen = len(proxy.requests)
    with pytest.raises(TrackerFatal, match=r"tracker\.url"):
        adapter.publish_version(spec(tmp_path, show))
    assert len(proxy.requests) == seen + 1  # answered once, nothing sent on


def test_a_script_name_not_set_is_one_line_saying_so(server: SGServer) -> None:
    """With tracker.script_name left out (the key set), `rushes tracker check` and `setup` ended on a traceback
    ("invalid auth params", exit 70) and the daemon's /readyz called it a bug in Rushes."""
    adapter = ShotGridTracker(options(server, script_name=""), kinds=KINDS, policy=FAST, sleep=lambda _: None)
    with pytest.raises(
        TrackerFatal, match=r"^tracker\.script_name is not set: set it to the name of the ShotGrid"
    ):
        adapter.fix_requests_since(None)


class _Recorder:
    """An opener that records what it was asked and fails the first `failures` calls with `error`."""

    def __init__(self, failures: int = 0, error: BaseException | None = None) -> None:
        self.failures = failures
        self.error = error
        self.calls: list[tuple[Any, float | None, bytes]] = []

    def open(self, url: Any, data: Any = None, timeout: float | None = None) -> str:
        body = (
            url.data.read() if isinstance(url, urllib.request.Request) and hasattr(url.data, "read") else b""
        )
        self.calls.append((url, timeout, body))
        if len(self.calls) <= self.failures:
            assert self.error is not None
            raise self.error
        return "ok"


def _http_error(code: int) -> urllib.error.HTTPError:
    return urllib.error.HTTPError("https://bucket.example/part?sig=x", code, "Slow Down", Message(), None)


def test_an_upload_is_given_time_for_its_size(tmp_path: Path) -> None:
    movie = tmp_path / "big.mov"
    movie.write_bytes(
        bytes(UPLOAD_FLOOR_BYTES_S * 40)
    )  # 40 s at the slowest link an upload is given time for
    opener = _Recorder()
    with movie.open("rb") as f:
        UploadOpener(opener, 30.0).open("https://site.example/upload/", {"file": f, "name": "big.mov"})
    [(_, timeout, _)] = opener.calls
    assert timeout is not None and 70.0 <= timeout < 70.1  # the call timeout alone failed every such movie


def test_a_part_sent_to_storage_is_sent_again_whole_on_a_passing_failure() -> None:
    waits: list[float] = []
    part = io.BytesIO(b"part-bytes" * 100)
    request = urllib.request.Request("https://bucket.example/part?sig=x", data=part, method="PUT")
    opener = _Recorder(failures=1, error=_http_error(503))
    assert UploadOpener(opener, 30.0, sleep=waits.append).open(request) == "ok"
    assert [body for _, _, body in opener.calls] == [b"part-bytes" * 100] * 2  # rewound, sent whole again
    assert waits == [1.0]

    always = _Recorder(failures=99, error=_http_error(503))
    with pytest.raises(shotgun_api3.ProtocolError):
        UploadOpener(always, 30.0, sleep=waits.append).open(
            urllib.request.Request("https://bucket.example/part", data=b"x", method="PUT")
        )
    assert len(always.calls) == STORAGE_ATTEMPTS


def test_a_form_post_to_the_site_is_sent_once_and_a_link_request_again() -> None:
    opener = _Recorder(failures=1, error=_http_error(503))
    with pytest.raises(shotgun_api3.ProtocolError):
        UploadOpener(opener, 30.0, sleep=lambda _: None).open("https://site.example/upload/", {"name": "m"})
    assert len(opener.calls) == 1  # Rushes looks whether it landed before it sends it again

    links = _Recorder(failures=1, error=ConnectionResetError("reset"))
    asked = "https://site.example/upload/api_get_upload_link_for_part"
    assert UploadOpener(links, 30.0, sleep=lambda _: None).open(asked, {"part_number": "3"}) == "ok"
    assert len(links.calls) == 2  # a link for the same part again: nothing is doubled


def test_a_part_in_memory_is_given_time_for_its_size() -> None:
    part = io.BytesIO(bytes(UPLOAD_FLOOR_BYTES_S * 8))
    part.seek(UPLOAD_FLOOR_BYTES_S * 4)  # what is left of it is sent
    opener = _Recorder()
    UploadOpener(opener, 30.0).open(
        urllib.request.Request("https://bucket.example/p", data=part, method="PUT")
    )
    [(_, timeout, _)] = opener.calls
    assert timeout is not None and 34.0 <= timeout < 34.1


def test_the_official_clients_hooks_that_rushes_overrides_are_still_used() -> None:
    """A new client version that renamed or stopped using one of them would silently bring back a write sent
    twice or an upload with no timeout: this says which."""
    base = shotgun_api3.Shotgun
    uses = {
        "_call_rpc": ["MAX_ATTEMPTS", "_make_call", "_decode_response"],
        "_send_form": ["_build_opener", "MAX_ATTEMPTS"],
        "_upload_data_to_storage": ["_build_opener", "MAX_ATTEMPTS"],
        "_http_request": ["_get_connection"],
        "_make_call": ["max_rpc_attempts", "_close_connection"],
    }
    for method, names in uses.items():
        source = inspect.getsource(getattr(base, method))
        for name in names:
            assert name in source, f"shotgun_api3.Shotgun.{method} no longer uses {name}"
    assert "_conn_request" in inspect.getsource(httplib2.Http._request)
    assert list(inspect.signature(httplib2.Http._conn_request).parameters) == [
        "self",
        "conn",
        "request_uri",
        "method",
        "body",
        "headers",
    ]
