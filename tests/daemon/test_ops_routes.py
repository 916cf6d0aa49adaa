"""POST routes on the daemon's HTTP port (the Flow webhook receiver uses one): the route gets the raw body,
the headers and the client; a GET on it, a body without a length or over 4 MiB, and an unknown path are
answered with one plain sentence, and a route that fails answers 500 without taking the server down."""

from __future__ import annotations

import http.client
from collections.abc import Iterator, Mapping

import pytest

from daemon.ops.health import MAX_BODY, HealthServer, Readiness
from daemon.ops.metrics import Metrics

seen: list[tuple[bytes, str, str]] = []


def echo(body: bytes, headers: Mapping[str, str], client: str) -> tuple[int, str]:
    seen.append((body, {k.lower(): v for k, v in headers.items()}.get("x-sg-signature", ""), client))
    if body == b"boom":
        raise RuntimeError("route bug")
    return 200, f"got {len(body)} bytes"


@pytest.fixture
def server() -> Iterator[HealthServer]:
    seen.clear()
    srv = HealthServer(Metrics(), Readiness(), port=0)
    srv.add_route("/hook", echo)
    srv.start()
    yield srv
    srv.stop()


def call(
    server: HealthServer, method: str, path: str, body: bytes | None, headers: dict[str, str]
) -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.putrequest(method, path)
    for name, value in headers.items():
        conn.putheader(name, value)
    conn.endheaders(body)
    answer = conn.getresponse()
    text = answer.read().decode()
    conn.close()
    return answer.status, text.strip()


def test_a_post_reaches_its_route_with_body_headers_and_client(server: HealthServer) -> None:
    headers = {"Content-Length": "5", "X-SG-SIGNATURE": "sha1=ab"}
    assert call(server, "POST", "/hook", b"hello", headers) == (200, "got 5 bytes")
    assert seen == [(b"hello", "sha1=ab", "127.0.0.1")]


def test_requests_the_route_cannot_take_are_answered_with_one_sentence(server: HealthServer) -> None:
    assert call(server, "GET", "/hook", None, {}) == (405, "this route takes POST only")
    assert call(server, "POST", "/elsewhere", b"x", {"Content-Length": "1"})[0] == 404
    assert call(server, "POST", "/hook", None, {})[0] == 411
    too_big = {"Content-Length": str(MAX_BODY + 1)}
    assert call(server, "POST", "/hook", None, too_big) == (413, f"the body is over {MAX_BODY} bytes")
    assert seen == []


def test_a_failing_route_answers_500_and_the_server_keeps_serving(server: HealthServer) -> None:
    assert call(server, "POST", "/hook", b"boom", {"Content-Length": "4"})[0] == 500
    assert call(server, "POST", "/hook", b"ok", {"Content-Length": "2"}) == (200, "got 2 bytes")
    assert call(server, "GET", "/healthz", None, {}) == (200, "ok")
