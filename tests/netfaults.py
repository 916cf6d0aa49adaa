"""A fault-injecting HTTP proxy for tests: put it between a tracker client and a real server, and make the
network misbehave on demand, one request at a time.

proxy = FaultProxy(("127.0.0.1", server_port)); proxy.start()
proxy.add(CutBody(after=100), when=to_path("/upload/"))   # the next upload loses its connection after 100 bytes
proxy.add(LoseAnswer(), when=calls("create"))             # the next create is done, its answer never arrives
proxy.add(Hold(), when=calls("find"))                     # the next find waits until `proxy.release()`
proxy.add(Answer(502))                                    # the next request gets a load balancer's HTML 502
proxy.add(Answer(504, forward=True))                      # ...a 504 after the server did the work
proxy.add(AnswerEarly(504), when=to_path("/upload/"))     # ...a 504 at once, the server still doing the work
proxy.add(Reset())                                        # the next request is answered with a TCP reset
proxy.refuse(); proxy.accept()                            # connections refused, then accepted again
proxy.wait_fired(2)                                       # block until two faults were applied (no sleeps)
proxy.wait_late(1)                                        # ...until the server answered an AnswerEarly's request

Requests are read whole (head and Content-Length body), each sent upstream on a connection of its own with
`Connection: close`, and the upstream's answer read to its end before it is passed on (or not).
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import BinaryIO

STOP_WAIT_S = 5.0  # how long stop() waits for each of its threads
UPSTREAM_TIMEOUT_S = 60.0  # a request forwarded to the server, and its answer

HTML_PAGE = (
    "<html>\r\n<head><title>{code} {reason}</title></head>\r\n<body>\r\n<center><h1>{code} {reason}</h1></center>\r\n"
    "<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)
REASONS = {
    200: "OK",
    404: "Not Found",
    502: "Bad Gateway",
    503: "Service Temporarily Unavailable",
    504: "Gateway Time-out",
}


@dataclass(frozen=True)
class Request:
    head: bytes
    body: bytes

    @property
    def line(self) -> str:
        return self.head.split(b"\r\n", 1)[0].decode("latin-1")

    @property
    def path(self) -> str:
        parts = self.line.split(" ")
        return parts[1] if len(parts) > 1 else ""


Match = Callable[[Request], bool]


def any_request(_: Request) -> bool:
    return True


def to_path(prefix: str) -> Match:
    return lambda req: req.path.startswith(prefix)


def calls(method: str) -> Match:
    """A ShotGrid JSON-RPC call of `method` ("create", "find", "upload_url"...)."""
    needle = f'"method_name": "{method}"'.encode()
    tight = f'"method_name":"{method}"'.encode()
    return lambda req: req.path.startswith("/api3/") and (needle in req.body or tight in req.body)


@dataclass(frozen=True)
class Fault:
    """Pass the request on untouched (the base of the others)."""


@dataclass(frozen=True)
class CutBody(Fault):
    after: int  # bytes of the body sent upstream before both connections are cut


@dataclass(frozen=True)
class LoseAnswer(Fault):
    """The server handles the request; its answer is dropped and the client's connection closed: reset, or
    with `quietly` closed cleanly (a proxy that gave up, or a kept-alive connection the server closed)."""

    quietly: bool = False


@dataclass(frozen=True)
class Hold(Fault):
    """Wait until `FaultProxy.release()` (or the client gives up), then pass the request on."""


@dataclass(frozen=True)
class Reset(Fault):
    """Answer the request with a TCP reset, never sending it upstream."""


@dataclass(frozen=True)
class Answer(Fault):
    """Answer `status` with a load balancer's HTML page; with `forward`, after the server did the work (a load
    balancer that gave up waiting on it), else without sending the request upstream."""

    status: int
    forward: bool = False


@dataclass(frozen=True)
class AnswerEarly(Fault):
    """Answer `status` with a load balancer's page at once, and send the request upstream in the background (a load
    balancer that gave up waiting while the server works on): the server's answer is dropped, and the request joins
    `FaultProxy.late` once the server has answered it (`wait_late`)."""

    status: int = 504


@dataclass
class _Rule:
    fault: Fault
    when: Match
    times: int


@dataclass
class FaultProxy:
    upstream: tuple[str, int]
    fired: list[tuple[Fault, Request]] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)
    late: list[Request] = field(default_factory=list)  # AnswerEarly's requests, once the server answered them

    def __post_init__(self) -> None:
        self._rules: list[_Rule] = []
        self._lock = threading.Condition()
        self._released = threading.Event()
        self._closing = threading.Event()
        self._listener: socket.socket | None = None
        self._clients: set[socket.socket] = set()  # connections being served, shut at stop()
        self._threads: list[threading.Thread] = []
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FaultProxy:
        self.accept()
        return self

    def stop(self) -> None:
        """Refuse new connections, end the ones being served (a kept-alive one would wait on its client for ever)
        and wait for their threads, so that a test leaves none running behind it."""
        self._closing.set()
        self._released.set()
        self.refuse()
        with self._lock:
            clients, threads = list(self._clients), list(self._threads)
        for client in clients:
            with contextlib.suppress(OSError):
                client.shutdown(socket.SHUT_RDWR)
        for thread in threads:
            thread.join(timeout=STOP_WAIT_S)

    def add(self, fault: Fault, when: Match = any_request, times: int = 1) -> None:
        with self._lock:
            self._rules.append(_Rule(fault, when, times))

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def release(self) -> None:
        """Let every held request (and every one held later) go on."""
        self._released.set()

    def wait_fired(self, count: int, timeout: float = 20.0) -> None:
        with self._lock:
            if not self._lock.wait_for(lambda: len(self.fired) >= count, timeout):
                raise TimeoutError(f"only {len(self.fired)} of {count} faults fired in {timeout} s")

    def wait_late(self, count: int, timeout: float = 60.0) -> None:
        """Block until the server has answered `count` requests an AnswerEarly fault answered first."""
        with self._lock:
            if not self._lock.wait_for(lambda: len(self.late) >= count, timeout):
                raise TimeoutError(
                    f"the server answered only {len(self.late)} of {count} late requests in {timeout} s"
                )

    def refuse(self) -> None:
        """Close the listening socket: new connections are refused until `accept()`."""
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(OSError):  # wakes the accept waiting on it (close alone does not)
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()

    def accept(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self._listener = listener
        self._spawn(self._accept_loop, listener)

    def _spawn(self, target: Callable[..., None], *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        with self._lock:
            self._threads.append(thread)
        thread.start()

    def _accept_loop(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # refused or stopped
            with self._lock:
                self._clients.add(client)
            self._spawn(self._serve, client)

    def _serve(self, client: socket.socket) -> None:
        with client:
            reader = client.makefile("rb")
            try:
                while not self._closing.is_set():
                    request = _read_request(reader)
                    if request is None or not self._handle(client, request):
                        return
            except OSError:  # the client went away (it gave up, or closed a kept-alive connection)
                return
            finally:
                with self._lock:
                    self._clients.discard(client)

    def _take(self, request: Request) -> Fault:
        with self._lock:
            self.requests.append(request)
            for rule in self._rules:
                if rule.times > 0 and rule.when(request):
                    rule.times -= 1
                    self.fired.append((rule.fault, request))
                    self._lock.notify_all()
                    return rule.fault
        return Fault()

    def _handle(self, client: socket.socket, request: Request) -> bool:
        """Apply the fault the request draws; False when the client's connection is done with."""
        fault = self._take(request)
        if isinstance(fault, Reset):
            _reset(client)
            return False
        if isinstance(fault, Answer):
            if fault.forward:
                self._forward(request)
            client.sendall(_html_answer(fault.status))
            return True
        if isinstance(fault, AnswerEarly):
            self._spawn(self._forward_late, request)
            client.sendall(_html_answer(fault.status))
            return True
        if isinstance(fault, Hold):
            self._released.wait()
        if isinstance(fault, CutBody):
            self._cut(request, fault.after)
            _reset(client)
            return False
        answer = self._forward(request)
        if isinstance(fault, LoseAnswer):
            if fault.quietly:
                client.shutdown(socket.SHUT_RDWR)
            else:
                _reset(client)
            return False
        client.sendall(answer)
        return b"connection: close" not in answer.split(b"\r\n\r\n", 1)[0].lower()

    def _cut(self, request: Request, after: int) -> None:
        with socket.create_connection(self.upstream, timeout=UPSTREAM_TIMEOUT_S) as up:
            up.sendall(request.head + request.body[:after])
            _reset(up)

    def _forward_late(self, request: Request) -> None:
        with contextlib.suppress(OSError):  # the server's answer goes to no one: only that it came counts
            self._forward(request)
        with self._lock:
            self.late.append(request)
            self._lock.notify_all()

    def _forward(self, request: Request) -> bytes:
        head = _close_header(request.head)
        with socket.create_connection(self.upstream, timeout=UPSTREAM_TIMEOUT_S) as up:
            up.sendall(head + request.body)
            chunks = []
            while chunk := up.recv(65536):
                chunks.append(chunk)
        return _answer_closing(b"".join(chunks))


def _read_request(reader: BinaryIO) -> Request | None:
    lines = []
    while True:
        line = reader.readline()
        if not line:
            return None
        lines.append(line)
        if line in (b"\r\n", b"\n"):
            break
    head = b"".join(lines)
    length = 0
    for line in lines[1:]:
        name, _, value = line.decode("latin-1").partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
    body = reader.read(length) if length else b""
    return Request(head, body)


def _close_header(head: bytes) -> bytes:
    """The request's head asking the upstream to close after its answer (so the answer ends with the
    connection)."""
    lines = [line for line in head.split(b"\r\n") if not line.lower().startswith(b"connection:")]
    return b"\r\n".join([*lines[:1], b"Connection: close", *lines[1:]])


def _answer_closing(answer: bytes) -> bytes:
    """The upstream's answer told to the client as closing its connection (as it was upstream)."""
    head, sep, body = answer.partition(b"\r\n\r\n")
    lines = [line for line in head.split(b"\r\n") if not line.lower().startswith(b"connection:")]
    return b"\r\n".join([*lines, b"Connection: close"]) + sep + body


def _html_answer(status: int) -> bytes:
    reason = REASONS.get(status, "Error")
    page = HTML_PAGE.format(code=status, reason=reason).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\nServer: nginx\r\nContent-Type: text/html\r\n"
        f"Content-Length: {len(page)}\r\n\r\n"
    )
    return head.encode() + page


def _reset(sock: socket.socket) -> None:
    """Close with a TCP reset (SO_LINGER 0) rather than a clean FIN."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()
