"""A small HTTP server for operations: /metrics (Prometheus), /healthz (alive), /readyz (ready to work),
and the POST routes other parts add (`add_route`: the Flow webhook receiver).

    readiness = Readiness()
    readiness.expect("first_reconcile")              # not ready until set
    readiness.add("catalog", catalog.is_open)         # asked at every /readyz
    server = HealthServer.from_settings(settings.http, metrics, readiness).start()
    ...; readiness.set("first_reconcile"); ...; server.stop()

/readyz answers 200 only when every registered check passes, else 503 with JSON naming what is not ready;
either way `notes` holds what an operator should read that does not make the daemon unready.
Port 0 picks a free port; `server.port` tells which. A POST route gets the raw body (at most 4 MiB, with a
Content-Length), the headers and the client address, and answers (status, text). A client has HEADER_DEADLINE
seconds from connecting to send its request line and headers, and READ_DEADLINE for its whole request (a slow
client is cut off then, however it trickles); at most MAX_CLIENTS connections are served at once, and at most
MAX_PER_CLIENT of them from one address (one more is closed unanswered), so slow or many clients cannot hold the
daemon's threads and memory, and one host holding idle connections cannot keep the tracker's deliveries and the
health checks out.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import threading
import time
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from daemon.logs import get_logger
from daemon.ops.metrics import Metrics
from daemon.settings import HttpOptions

log = get_logger("rushes.health")

# A POST route: (raw body, headers, client address) -> (HTTP status, plain-text answer).
Route = Callable[[bytes, Mapping[str, str], str], tuple[int, str]]
MAX_BODY = 4 * 1024 * 1024
READ_DEADLINE = 10.0  # seconds from connecting to the end of the request's body
HEADER_DEADLINE = 2.0  # seconds from connecting to the end of the request's headers
MAX_CLIENTS = 32  # connections served at once
MAX_PER_CLIENT = 8  # of them from one address
# a Content-Length this server reads (the body's limit is far below 10**12)
LENGTH = re.compile(r"[0-9]{1,12}")


class HealthServerError(Exception):
    """The health server cannot listen where it was told to."""


class Readiness:
    """Named readiness checks: callables asked on each request, and flags the daemon sets when done."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._checks: dict[str, Callable[[], bool]] = {}
        self._reasons: dict[str, Callable[[], str | None]] = {}
        self._flags: dict[str, bool] = {}
        self._notes: dict[str, Callable[[], str | None]] = {}

    def add(self, name: str, check: Callable[[], bool]) -> None:
        """`check()` returns True when ready; False or an exception means not ready (its message is shown)."""
        with self._lock:
            self._checks[name] = check

    def add_reason(self, name: str, reason: Callable[[], str | None]) -> None:
        """`reason()` returns None when ready, else one line saying why not (e.g. an ingest watcher's
        `problem`: "disk full: ...; 3 file(s) wait to be ingested again")."""
        with self._lock:
            self._reasons[name] = reason

    def add_note(self, name: str, note: Callable[[], str | None]) -> None:
        """`note()` returns None, or one line an operator should read that does not make the daemon unready
        (fix requests on a project no show follows); /readyz lists it under `notes`."""
        with self._lock:
            self._notes[name] = note

    def notes(self) -> dict[str, str]:
        """name -> its line, for the notes that have one now (one that raises is left out)."""
        with self._lock:
            notes = dict(self._notes)
        result = {}
        for name, note in notes.items():
            try:
                line = note()
            except Exception:  # a note is advice: the checks say what is down
                continue
            if line:
                result[name] = line.splitlines()[0][:500]
        return result

    def expect(self, name: str) -> None:
        """A flag that is not ready until `set(name)` (e.g. "first_reconcile")."""
        with self._lock:
            self._flags.setdefault(name, False)

    def set(self, name: str, ready: bool = True) -> None:
        with self._lock:
            self._flags[name] = ready

    def status(self) -> dict[str, str]:
        """name -> "ok", or why it is not ready."""
        with self._lock:
            checks = dict(self._checks)
            reasons = dict(self._reasons)
            flags = dict(self._flags)
        result = {name: "ok" if done else "not done yet" for name, done in flags.items()}
        for name, check in checks.items():
            try:
                result[name] = "ok" if check() else "not ready"
            except Exception as exc:
                result[name] = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
        for name, reason in reasons.items():
            try:
                why = reason()
            except Exception as exc:
                why = f"{type(exc).__name__}: {exc}"
            result[name] = "ok" if why is None else (why.splitlines()[0][:300] or "not ready")
        return result

    def ready(self) -> bool:
        return all(value == "ok" for value in self.status().values())


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "rushes"
    timeout = READ_DEADLINE  # seconds any one read may wait; the deadline below bounds them all

    def setup(self) -> None:
        super().setup()
        self._connected = time.monotonic()
        self._head_only = False  # HEAD: GET's answer without its body
        self._deadline = self._timer(HEADER_DEADLINE)

    def _timer(self, seconds: float) -> threading.Timer:
        timer = threading.Timer(seconds, self._cut_off, (seconds,))
        timer.daemon = True
        timer.start()
        return timer

    def parse_request(self) -> bool:
        """Read the headers (within HEADER_DEADLINE still), then give the body the rest of READ_DEADLINE."""
        parsed = super().parse_request()
        self._deadline.cancel()
        self._deadline = self._timer(max(0.0, READ_DEADLINE - (time.monotonic() - self._connected)))
        return parsed

    def finish(self) -> None:
        self._deadline.cancel()
        super().finish()

    def _cut_off(self, seconds: float) -> None:
        """The client did not send its request in time: end the connection (the read returns)."""
        log.warning("http.too_slow", client=self.client_address[0], deadline_s=seconds)
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def do_HEAD(self) -> None:
        """GET's answer without its body (uptime monitors and load balancers ask with HEAD)."""
        self._head_only = True
        self.do_GET()

    def do_GET(self) -> None:
        self._deadline.cancel()
        path = self.path.split("?", 1)[0]
        if path == "/healthz":
            self._send(200, b"ok\n", "text/plain; charset=utf-8")
        elif path == "/readyz":
            status = self.server.readiness.status()
            failing = {name: why for name, why in status.items() if why != "ok"}
            body: dict[str, Any] = {"ready": not failing, "checks": status}
            if failing:
                body["not_ready"] = failing
            notes = self.server.readiness.notes()
            if notes:
                body["notes"] = notes
            self._send(503 if failing else 200, json.dumps(body).encode() + b"\n", "application/json")
        elif path == "/metrics":
            payload, content_type = self.server.metrics.render()
            self._send(200, payload, content_type)
        elif path in self.server.routes:
            self._text(405, "this route takes POST only")
        else:
            self._send(404, b"not found: try /healthz, /readyz or /metrics\n", "text/plain; charset=utf-8")

    def do_POST(self) -> None:
        route = self.server.routes.get(self.path.split("?", 1)[0])
        if route is None:
            self._text(404, "not found: nothing is posted here")
            return
        length = self.headers.get("Content-Length", "").strip()
        if not length:
            self._text(411, "send the body with a Content-Length")
            return
        if not LENGTH.fullmatch(length):
            self._text(400, "the Content-Length is not a number of bytes")
            return
        if int(length) > MAX_BODY:
            self._refuse_body(413, f"the body is over {MAX_BODY} bytes")
            return
        try:
            body = self.rfile.read(int(length))
        except OSError:  # the client went away: nothing to answer
            body = b""
        self._deadline.cancel()
        if len(body) != int(length):  # cut off at the deadline, or the client went away
            self.close_connection = True
            return
        try:
            code, answer = route(body, dict(self.headers.items()), self.client_address[0])
        except Exception as exc:
            log.error("http route failed", path=self.path, error=f"{type(exc).__name__}: {exc}")
            code, answer = 500, "the daemon could not take this request; it is logged"
        self._text(code, answer)

    def _text(self, code: int, text: str) -> None:
        self._send(code, text.encode("utf-8") + b"\n", "text/plain; charset=utf-8")

    def _refuse_body(self, code: int, text: str) -> None:
        """Answer without reading the body, then take what the client still sends, until it stops or the
        deadline: closed with its body unread, the socket was reset, and the client's send failed (a broken
        pipe) before it could read the answer."""
        self.close_connection = True
        self._text(code, text)
        self.wfile.flush()
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_WR)
            while self.connection.recv(1 << 16):
                pass

    def _send(self, code: int, body: bytes, content_type: str) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if not self._head_only:
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("http request", client=self.client_address[0], request=format % args)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    metrics: Metrics
    readiness: Readiness
    routes: dict[str, Route]
    clients: threading.BoundedSemaphore
    counting: threading.Lock  # guards per_client
    per_client: dict[str, int]  # connections served now, by address

    def process_request(self, request: Any, client_address: Any) -> None:
        host = str(client_address[0])
        with self.counting:
            mine = self.per_client.get(host, 0)
            if mine >= MAX_PER_CLIENT or not self.clients.acquire(blocking=False):
                log.warning("http.busy", client=host, most=MAX_CLIENTS, most_per_client=MAX_PER_CLIENT)
                self.shutdown_request(request)
                return
            self.per_client[host] = mine + 1
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            host = str(client_address[0])
            with self.counting:
                self.per_client[host] -= 1
                if not self.per_client[host]:
                    del self.per_client[host]
            self.clients.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.warning("http connection dropped", client=str(client_address[0]))


class HealthServer:
    """Serves /metrics, /healthz and /readyz from a background thread."""

    def __init__(
        self, metrics: Metrics, readiness: Readiness, host: str = "127.0.0.1", port: int = 9478
    ) -> None:
        self.metrics = metrics
        self.readiness = readiness
        self.host = host
        self._requested_port = port
        self._routes: dict[str, Route] = {}
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @classmethod
    def from_settings(cls, http: HttpOptions, metrics: Metrics, readiness: Readiness) -> HealthServer:
        return cls(metrics, readiness, host=http.host, port=http.port)

    def add_route(self, path: str, route: Route) -> None:
        """Answer POSTs to `path` with `route` (also once started)."""
        self._routes[path] = route

    @property
    def port(self) -> int:
        if self._server is None:
            return self._requested_port
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> HealthServer:
        if self._server is not None:
            return self
        server_class = (
            type("_Server6", (_Server,), {"address_family": socket.AF_INET6}) if ":" in self.host else _Server
        )
        try:
            server = server_class((self.host, self._requested_port), _Handler)
        except OSError as exc:
            raise HealthServerError(
                f"cannot serve health and metrics on {self.host}:{self._requested_port} ({exc.strerror or exc}); "
                "set http.port (RUSHES_HTTP__PORT) to a free port, or 0 for any"
            ) from exc
        server.metrics = self.metrics
        server.readiness = self.readiness
        server.routes = self._routes
        server.clients = threading.BoundedSemaphore(MAX_CLIENTS)
        server.counting, server.per_client = threading.Lock(), {}
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.1}, name="rushes-health", daemon=True
        )
        self._thread.start()
        log.info("health server listening", url=self.url)
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> HealthServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
