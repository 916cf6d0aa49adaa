"""The health server answers /healthz, /readyz (503 until the daemon's checks pass) and /metrics."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from daemon.ops import health
from daemon.ops.health import HealthServer, HealthServerError, Readiness
from daemon.ops.metrics import Metrics
from daemon.settings import HttpOptions


def get(url: str) -> tuple[int, str, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.headers["Content-Type"], response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers["Content-Type"], error.read().decode()


@pytest.fixture
def served() -> Iterator[tuple[HealthServer, Metrics, Readiness]]:
    metrics, readiness = Metrics(), Readiness()
    server = HealthServer.from_settings(HttpOptions(host="127.0.0.1", port=0), metrics, readiness).start()
    yield server, metrics, readiness
    server.stop()


def test_healthz_says_ok_on_a_port_picked_for_us(served: tuple[HealthServer, Metrics, Readiness]) -> None:
    server, _, _ = served
    assert server.port > 0
    assert get(f"{server.url}/healthz")[::2] == (200, "ok\n")
    assert get(f"{server.url}/nope")[0] == 404


def test_readyz_is_503_naming_what_is_not_ready_then_200(
    served: tuple[HealthServer, Metrics, Readiness],
) -> None:
    server, _, readiness = served
    catalog_open = {"value": False}
    readiness.add("catalog", lambda: catalog_open["value"])
    readiness.expect("first_reconcile")

    code, content_type, body = get(f"{server.url}/readyz")
    assert code == 503 and content_type == "application/json"
    assert set(json.loads(body)["not_ready"]) == {"catalog", "first_reconcile"}

    catalog_open["value"] = True
    code, _, body = get(f"{server.url}/readyz")
    assert code == 503 and list(json.loads(body)["not_ready"]) == ["first_reconcile"]

    readiness.set("first_reconcile")
    code, _, body = get(f"{server.url}/readyz")
    assert code == 200 and json.loads(body)["ready"] is True


def test_a_check_that_raises_is_not_ready_with_its_reason(
    served: tuple[HealthServer, Metrics, Readiness],
) -> None:
    server, _, readiness = served

    def broken() -> bool:
        raise ConnectionError("database is down")

    readiness.add("catalog", broken)
    code, _, body = get(f"{server.url}/readyz")
    assert code == 503
    assert json.loads(body)["not_ready"]["catalog"] == "ConnectionError: database is down"


def test_a_reason_hook_such_as_a_full_disk_makes_readyz_say_why_until_it_clears(
    served: tuple[HealthServer, Metrics, Readiness],
) -> None:
    server, _, readiness = served
    problem: list[str | None] = [
        "disk full: No space left on device (/data); 3 file(s) wait to be ingested again"
    ]
    readiness.add_reason("ingest", lambda: problem[0])  # the daemon passes an IngestWatcher's `problem`
    code, _, body = get(f"{server.url}/readyz")
    assert code == 503
    assert json.loads(body)["not_ready"] == {"ingest": problem[0]}
    problem[0] = None  # space is back and every waiting file was ingested
    assert get(f"{server.url}/readyz")[0] == 200


def test_a_note_such_as_requests_on_an_unfollowed_project_is_said_without_failing_readiness(
    served: tuple[HealthServer, Metrics, Readiness],
) -> None:
    server, _, readiness = served
    note: list[str | None] = [
        "fix requests on tracker project(s) no show follows were not taken: MRS (2 since ...)"
    ]
    readiness.add_note("tracker_projects", lambda: note[0])
    readiness.add_note("broken", lambda: 1 / 0)  # type: ignore[arg-type,return-value]  # advice: left out
    code, _, body = get(f"{server.url}/readyz")
    assert code == 200
    assert json.loads(body) == {"ready": True, "checks": {}, "notes": {"tracker_projects": note[0]}}
    note[0] = None  # a show follows it now
    assert "notes" not in json.loads(get(f"{server.url}/readyz")[2])


def test_metrics_lists_the_daemon_metrics(served: tuple[HealthServer, Metrics, Readiness]) -> None:
    server, metrics, _ = served
    metrics.ingested("MYSHOW", "registered")
    metrics.ingested("MYSHOW", "quarantined")
    metrics.job_finished("fix", "ok", 12.5)
    metrics.set_training_loss("MYSHOW", "denoise", 0.0123)
    metrics.set_eval_score("MYSHOW", "denoise", 34.5, metric="psnr")
    metrics.tracker_error("shotgrid", "timeout")
    metrics.set_queue_source(lambda: [("fix", "queued", 3), ("train", "running", 1)])

    code, content_type, text = get(f"{server.url}/metrics")
    assert code == 200 and content_type.startswith("text/plain")
    assert 'rushes_ingested_files_total{result="registered",show="MYSHOW"} 1.0' in text
    assert 'rushes_ingested_files_total{result="quarantined",show="MYSHOW"} 1.0' in text
    assert 'rushes_queue_depth{kind="fix",state="queued"} 3.0' in text
    assert 'rushes_job_duration_seconds_count{kind="fix",outcome="ok"} 1.0' in text
    assert 'rushes_training_loss{head="denoise",show="MYSHOW"} 0.0123' in text
    assert 'rushes_eval_score{head="denoise",metric="psnr",show="MYSHOW"} 34.5' in text
    assert 'rushes_tracker_errors_total{kind="timeout",tracker="shotgrid"} 1.0' in text
    assert "process_resident_memory_bytes" in text


def test_a_failing_queue_callback_does_not_break_the_scrape(
    served: tuple[HealthServer, Metrics, Readiness],
) -> None:
    server, metrics, _ = served

    def busy() -> list[tuple[str, str, float]]:
        raise RuntimeError("database is locked")

    metrics.set_queue_source(busy)
    code, _, text = get(f"{server.url}/metrics")
    assert code == 200 and "rushes_queue_depth" in text


def test_two_metrics_objects_do_not_share_a_registry() -> None:
    first, second = Metrics(process=False), Metrics(process=False)
    first.ingested("A", "registered")
    assert b'show="A"' in first.render()[0] and b'show="A"' not in second.render()[0]


def test_a_taken_port_is_one_clear_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(HealthServerError, match="RUSHES_HTTP__PORT"):
            HealthServer(Metrics(process=False), Readiness(), port=port).start()


def test_a_daemon_whose_port_is_taken_stops_with_that_one_line(tmp_path: Path) -> None:
    """Another daemon (or anything) on 127.0.0.1:9478: `rushes daemon` printed three tracebacks, the last one
    "cannot join thread before it is started" from stopping what it had not started, with the line saying what
    to do buried in the middle."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        env = {k: v for k, v in os.environ.items() if not k.startswith("RUSHES_")}
        env.update(RUSHES_HOME=str(tmp_path / "home"), RUSHES_HTTP__PORT=str(taken.getsockname()[1]))
        result = subprocess.run(
            [sys.executable, "-m", "daemon", "daemon"], capture_output=True, text=True, env=env, timeout=120
        )
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    (line,) = [line for line in result.stderr.splitlines() if not line.startswith("{")]  # the JSON log aside
    assert (
        line.startswith("error: cannot serve health and metrics on 127.0.0.1:")
        and "RUSHES_HTTP__PORT" in line
    )


def test_a_client_trickling_its_request_is_cut_off_at_the_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    """A slow client (a byte every 0.1 s, each read well inside the socket timeout) used to hold a thread of the
    daemon for as long as it kept trickling; the whole request must now arrive within READ_DEADLINE."""
    monkeypatch.setattr(health, "READ_DEADLINE", 0.5)
    posted: list[bytes] = []
    server = HealthServer(Metrics(process=False), Readiness(), port=0)
    server.add_route("/hook", lambda body, headers, client: (posted.append(body), (200, "ok"))[1])
    request = b"POST /hook HTTP/1.1\r\nHost: x\r\nContent-Length: 40\r\n\r\n" + b"a" * 40
    with server, socket.create_connection(("127.0.0.1", server.port), timeout=5) as client:
        started = time.monotonic()
        cut = False
        for byte in request:
            try:
                client.sendall(bytes([byte]))
            except OSError:
                cut = True
                break
            time.sleep(0.1)  # the client's pace, well inside each read's timeout
        assert cut or client.recv(100) == b"", "the trickling client was answered or left connected"
        assert time.monotonic() - started < 0.5 + 3.0
    assert posted == []


def test_clients_past_the_most_served_at_once_are_closed_and_the_next_is_served(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Idle connections (never sending a byte) used to each hold a thread: thousands exhausted the daemon."""
    monkeypatch.setattr(health, "MAX_CLIENTS", 2)
    with HealthServer(Metrics(process=False), Readiness(), port=0) as server:
        idle = [socket.create_connection(("127.0.0.1", server.port), timeout=5) for _ in range(2)]
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as third:
            third.sendall(b"GET /healthz HTTP/1.0\r\n\r\n")
            assert third.recv(100) == b""  # closed unanswered: two are served already
        for conn in idle:
            conn.close()
        status = 0
        deadline = time.monotonic() + 5
        while status != 200 and time.monotonic() < deadline:  # the idle ones' threads end as they close
            try:
                status = get(f"{server.url}/healthz")[0]
            except (urllib.error.URLError, ConnectionError):
                continue
        assert status == 200


def test_one_address_holding_idle_connections_leaves_room_for_the_others(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """32 idle sockets from one host kept /healthz and the tracker's deliveries out (the webhook was then marked
    failed by the site); one address now has at most MAX_PER_CLIENT connections, and idle ones end at
    HEADER_DEADLINE, not READ_DEADLINE."""
    monkeypatch.setattr(health, "MAX_PER_CLIENT", 2)
    monkeypatch.setattr(health, "HEADER_DEADLINE", 0.5)
    with HealthServer(Metrics(process=False), Readiness(), port=0) as server:
        idle = [socket.create_connection(("127.0.0.1", server.port), timeout=5) for _ in range(2)]
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as third:
            third.sendall(b"GET /healthz HTTP/1.0\r\n\r\n")
            assert third.recv(100) == b""  # its address holds two already
        with socket.create_connection(
            ("127.0.0.1", server.port), timeout=5, source_address=("127.0.0.2", 0)
        ) as other:
            other.sendall(b"GET /healthz HTTP/1.0\r\n\r\n")
            assert other.recv(100).startswith(b"HTTP/1.0 200")  # another host is served
        started = time.monotonic()
        assert idle[0].recv(100) == b"" and time.monotonic() - started < 3.0  # cut at the header deadline
        for conn in idle:
            conn.close()


def test_head_answers_as_get_without_a_body(served: tuple[HealthServer, Metrics, Readiness]) -> None:
    """Uptime monitors and load balancers ask with HEAD: it was 501."""
    server, _, _ = served
    with urllib.request.urlopen(
        urllib.request.Request(f"{server.url}/healthz", method="HEAD"), timeout=5
    ) as answer:
        assert answer.status == 200 and answer.read() == b""


def post(server: HealthServer, length: bytes, body: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as client:
        client.sendall(b"POST /hook HTTP/1.1\r\nHost: x\r\nContent-Length: " + length + b"\r\n\r\n" + body)
        return client.recv(200)


def test_a_body_too_large_is_answered_413_and_odd_lengths_400_not_a_dropped_connection(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A 6 MB delivery got a broken pipe, not the 413 (the body was left unread, the socket reset); a length of
    `2 `, `²` or 5,000 digits got a 411 or the connection closed without an answer."""
    monkeypatch.setattr(health, "MAX_BODY", 1000)
    server = HealthServer(Metrics(process=False), Readiness(), port=0)
    server.add_route("/hook", lambda body, headers, client: (200, f"took {len(body)}"))
    with server:
        request = urllib.request.Request(f"{server.url}/hook", data=b"x" * 2_000_000, method="POST")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=10)
        assert refused.value.code == 413
        assert post(server, b"2 ", b"ab").startswith(b"HTTP/1.0 200")
        for odd in ("\u00b2".encode(), b"9" * 5000):
            assert post(server, odd, b"ab").startswith(b"HTTP/1.0 400"), odd
