"""Entry points of the local ShotGrid-compatible server: an HTTP front on ThreadingHTTPServer.

server = start_in_thread(tmp_path, "rushes", "secret")      # tests: random free port on 127.0.0.1
sg = shotgun_api3.Shotgun(server.url, "rushes", "secret")
server.faults.fail_next(2, status=503)
server.stop()

server = serve("127.0.0.1", 8765, data_dir, "rushes", key)  # `rushes tracker serve`
server.wait()                                                 # until Ctrl-C / stop()
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import json
import logging
import os
import re
import socket
import threading
import time
import urllib.parse
from dataclasses import dataclass
from http.cookies import CookieError, SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any

from integrations.trackers.sgserver import pages, protocol, upload
from integrations.trackers.sgserver.faults import Faults
from integrations.trackers.sgserver.schema import Schema
from integrations.trackers.sgserver.service import TRANSIENT_THUMBNAIL, Service
from integrations.trackers.sgserver.storage import Storage
from integrations.trackers.sgserver.webhooks import WebhookHub, WebhookPump

LOG = logging.getLogger(__name__)
API_PATH = "/api3/json"
DB_NAME = "shotgrid.sqlite3"


MAX_BODY = 512 * 1024 * 1024
BODY_TIMEOUT = 30.0
# What a browser shows in the page (the review page's movies and thumbnails); any other upload (a page, an SVG,
# a script: anyone with a script key can upload one) is handed over as a download, never run on this origin.
_SHOWN_INLINE = re.compile(r"^(image/(png|jpeg|gif|webp)|video/[\w.+-]+|audio/[\w.+-]+)$")


@dataclass(frozen=True)
class Answer:
    """What one request is answered: status, body, its content type and any more headers."""

    status: int
    body: bytes
    content_type: str
    headers: tuple[tuple[str, str], ...] = ()


def attachment_headers(name: str, content_type: str) -> tuple[tuple[str, str], ...]:
    """Headers of an uploaded file: never sniffed into another type, sandboxed as a document (no script, an
    origin of its own), and a download unless it is a picture, a movie or sound."""
    headers = (("X-Content-Type-Options", "nosniff"), ("Content-Security-Policy", "sandbox"))
    if _SHOWN_INLINE.match(content_type.split(";", 1)[0].strip().lower()):
        return headers
    quoted = urllib.parse.quote(name or "attachment", safe="")
    return (*headers, ("Content-Disposition", f"attachment; filename*=UTF-8''{quoted}"))


# One byte range of a file, as a browser's video player asks for it to seek (`bytes=0-`, `bytes=100-199`, the last
# 500 bytes `bytes=-500`). Several ranges, another unit or a malformed header are answered with the whole file,
# which RFC 9110 allows.
_BYTE_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


class UnsatisfiableRange(ValueError):
    """A Range header whose range starts past the end of the file (answered 416)."""


def requested_bytes(header: str | None, size: int) -> tuple[int, int] | None:
    """The first and last byte a Range header asks of a file of `size` bytes; None for the whole file (no header,
    or one this server does not answer in part); UnsatisfiableRange for a range past the end."""
    found = _BYTE_RANGE.match((header or "").strip())
    if found is None or found.groups() == ("", ""):
        return None
    start, end = found.groups()
    if not start:  # the last `end` bytes
        return (max(0, size - int(end)), size - 1) if int(end) and size else None
    first, last = int(start), min(int(end), size - 1) if end else size - 1
    if end and int(end) < first:
        return None  # malformed: ignored, as RFC 9110 says
    if first >= size:
        raise UnsatisfiableRange(f"bytes {first}- of a file of {size} bytes")
    return first, last


class BadRequest(ValueError):
    """An HTTP request the server cannot read (bad Content-Length, truncated body)."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _HTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        LOG.debug("sgserver %s " + format, self.address_string(), *args)

    def _base_url(self) -> str:
        host = (
            self.headers.get("Host") or f"{self.server.server_address[0]!s}:{self.server.server_address[1]}"
        )
        return f"http://{host}"

    def _body(self) -> bytes:
        """The request body; BadRequest for a Content-Length that is not a size, too large, or longer
        than what arrives before the socket timeout."""
        text = (self.headers.get("Content-Length") or "0").strip()
        if not text.isdigit():
            raise BadRequest(f"Content-Length must be a byte count, got {text!r}")
        length = int(text)
        if length > MAX_BODY:
            raise BadRequest(f"the request body is {length} bytes; the most is {MAX_BODY}")
        # Idle keep-alive connections stay open (long-lived clients such as Rushes' poller would otherwise
        # meet a closed socket), but a body that stops arriving gives up after BODY_TIMEOUT seconds.
        self.connection.settimeout(BODY_TIMEOUT)
        try:
            body = self.rfile.read(length) if length else b""
        except TimeoutError:
            body = b""
        finally:
            self.connection.settimeout(None)
        if len(body) != length:
            raise BadRequest(f"Content-Length says {length} bytes but {len(body)} arrived")
        return body

    def _send(
        self, status: int, body: bytes, content_type: str, headers: tuple[tuple[str, str], ...] = ()
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _hang_up(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def _dispatch(self, method: str) -> None:
        try:
            body = self._body() if method == "POST" else b""
        except BadRequest as exc:
            self.close_connection = True
            answer = json.dumps(protocol.fault(f"API bad request: {exc}")).encode()
            self._send(400, answer, "application/json; charset=utf-8")
            return
        action = self.server.faults.next_action()
        if action.delay:
            time.sleep(action.delay)
        if action.drop:
            self._hang_up()
            return
        if action.status is not None:
            self._send(action.status, b"injected fault", "text/plain")
            return
        self.server.service.settle_thumbnails(self._base_url())
        try:
            reply = self._route(method, body)
        except Exception as exc:  # a server bug: answer the fault shape, keep the connection usable
            LOG.exception("sgserver: %s %s failed", method, self.path)
            fault = json.dumps(protocol.fault(f"API internal error: {type(exc).__name__}")).encode()
            reply = Answer(500, fault, "application/json; charset=utf-8")
        if action.drop_after:
            self._hang_up()
            return
        self._send(reply.status, reply.body, reply.content_type, reply.headers)

    def _route(self, method: str, body: bytes) -> Answer:
        service = self.server.service
        path = self.path.split("?", 1)[0]
        if method == "POST" and path == API_PATH:
            result = protocol.handle_rpc(service, body, self._base_url())
            return Answer(200, json.dumps(result).encode("utf-8"), "application/json; charset=utf-8")
        if method == "POST" and path == upload.SHARE_THUMBNAIL:
            content_type = self.headers.get("Content-Type") or ""
            return Answer(200, protocol.handle_share(service, content_type, body), "text/plain")
        if method == "POST" and path in (upload.UPLOAD_FILE, upload.PUBLISH_THUMBNAIL):
            content_type = self.headers.get("Content-Type") or ""
            return Answer(200, protocol.handle_upload(service, path, content_type, body), "text/plain")
        if method == "GET" and path.startswith(upload.FILE_SERVE):
            query = urllib.parse.parse_qs(self.path.partition("?")[2])
            return self._file(path[len(upload.FILE_SERVE) :], (query.get("sig") or [""])[0])
        if method == "GET" and path == TRANSIENT_THUMBNAIL:
            return Answer(200, PLACEHOLDER_PNG, "image/png")
        if method == "GET" and path == "/versions":
            if not (self._signed_in() or self.server.open_downloads):  # it hands out signed download urls
                return Answer(
                    403,
                    b"sign in first (session cookie _session_id): this server is not on loopback",
                    "text/plain",
                )
            return Answer(200, pages.versions_page(service, self._base_url()), "text/html; charset=utf-8")
        if method == "GET" and path in ("/", "/healthz"):
            return Answer(200, b"Rushes local ShotGrid-compatible server\n", "text/plain")
        return Answer(404, b"not found", "text/plain")

    def _file(self, attachment: str, signature: str) -> Answer:
        if not attachment.isdigit():
            return Answer(400, b"Attachment id doesn't exist", "text/plain")
        service = self.server.service
        signed = bool(signature) and service.signature_ok(int(attachment), signature)
        if not (signed or self._signed_in() or self.server.open_downloads):
            return Answer(
                403, b"sign in first (session cookie _session_id) or use the signed url", "text/plain"
            )
        found = service.file(int(attachment))
        if found is None:
            return Answer(400, b"Attachment id doesn't exist", "text/plain")
        name, content_type, content = found
        return _partial(
            content, content_type, attachment_headers(name, content_type), self.headers.get("Range")
        )

    def _signed_in(self) -> bool:
        try:
            cookie = SimpleCookie(self.headers.get("Cookie") or "")
        except CookieError:
            cookie = SimpleCookie()
        token = cookie["_session_id"].value if "_session_id" in cookie else ""
        return bool(token) and self.server.service.session_user(token) is not None

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_GET(self) -> None:
        self._dispatch("GET")


def _partial(
    content: bytes, content_type: str, headers: tuple[tuple[str, str], ...], asked: str | None
) -> Answer:
    """A file's answer: the byte range a browser's player asks to seek in a movie (206), else the whole file; each
    says that ranges are served, without which Chromium can neither seek nor scrub a Version's movie."""
    kind = content_type or "application/octet-stream"
    headers = (*headers, ("Accept-Ranges", "bytes"))
    try:
        wanted = requested_bytes(asked, len(content))
    except UnsatisfiableRange:
        return Answer(416, b"", kind, (*headers, ("Content-Range", f"bytes */{len(content)}")))
    if wanted is None:
        return Answer(200, content, kind, headers)
    first, last = wanted
    return Answer(
        206,
        content[first : last + 1],
        kind,
        (*headers, ("Content-Range", f"bytes {first}-{last}/{len(content)}")),
    )


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], service: Service, faults: Faults) -> None:
        super().__init__(address, _Handler)
        self.service = service
        self.faults = faults
        # shotgun_api3 scopes its download cookie to "host:port", which no cookie jar sends back, so
        # download_attachment(id) arrives without a session: served only when bound to loopback.
        self.open_downloads = _loopback(address[0])


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


# A 1x1 grey PNG: the transient thumbnail placeholder.
PLACEHOLDER_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108000000003a7e9b550000000a49444154789c6368000000"
    "82008177cd72b60000000049454e44ae426082"
)


class SGServer:
    """A running local server: `url`, `faults` for tests, `stop()`."""

    def __init__(
        self,
        host: str,
        port: int,
        data_dir: Path,
        script_name: str,
        script_key: str,
        page_size: int = 500,
        schema: Schema | None = None,
        thumbnail_delay: float = 0.3,
        template_project: bool = True,
    ) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir = data_dir
        self.storage = Storage(data_dir / DB_NAME)
        self.faults = Faults()
        self.service = Service(self.storage, self.faults, page_size, schema)
        self.service.add_script(script_name, script_key)
        self.service.thumbnail_delay = thumbnail_delay
        self.service.seed_site(template_project)
        self.webhooks = WebhookHub(self.storage)
        self.service.webhooks = self.webhooks
        self._pump = WebhookPump(self.webhooks)
        self._http = _HTTPServer((host, port), self.service, self.faults)
        self.host, self.port = str(self._http.server_address[0]), int(self._http.server_address[1])
        self._thread: threading.Thread | None = None
        self._stopped = threading.Event()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def open_downloads(self) -> bool:
        """Whether attachments download without a session or signature (default: bound to loopback)."""
        return self._http.open_downloads

    @open_downloads.setter
    def open_downloads(self, value: bool) -> None:
        self._http.open_downloads = value

    def add_script(self, script_name: str, script_key: str) -> None:
        self.service.add_script(script_name, script_key)

    def start(self) -> SGServer:
        self._thread = threading.Thread(
            target=self._http.serve_forever, kwargs={"poll_interval": 0.05}, name="sgserver", daemon=True
        )
        self._thread.start()
        self._pump.start()
        return self

    def wait(self) -> None:
        """Block until `stop()` (or Ctrl-C, which stops the server)."""
        try:
            while not self._stopped.wait(0.5):
                pass
        except KeyboardInterrupt:
            self.stop()

    def stop(self) -> None:
        if self._stopped.is_set():
            return
        self._stopped.set()
        self._pump.stop()
        self._http.shutdown()
        self._http.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.storage.close()

    def __enter__(self) -> SGServer:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def serve(
    host: str = "127.0.0.1",
    port: int = 8765,
    data_dir: Path | str = "sgserver-data",
    script_name: str = "rushes",
    script_key: str = "",
    schema_file: Path | str | None = None,
) -> SGServer:
    """Bind, start serving in a background thread and return the running server (call `.wait()`).
    `schema_file`: a site's exported schema_read JSON to start from instead of the default schema
    (SchemaError names the file and the problem)."""
    if not script_key:
        raise ValueError("the local ShotGrid server needs a script key: set RUSHES_TRACKER__SCRIPT_KEY")
    schema = Schema.from_file(Path(schema_file)) if schema_file else None
    return SGServer(host, port, Path(data_dir), script_name, script_key, schema=schema).start()


def start_in_thread(
    data_dir: Path | str,
    script_name: str = "rushes",
    script_key: str = "rushes-test-key",
    host: str = "127.0.0.1",
    port: int = 0,
    page_size: int = 500,
    thumbnail_delay: float = 0.0,
) -> SGServer:
    """For tests: a running server on a random free port of 127.0.0.1 (`page_size`: the most entities
    one read answers, as the client learns it from `info`; `thumbnail_delay`: seconds a thumbnail stays
    the transient placeholder, 0 here so tests read images at once, 0.3 for `serve`). Unlike `serve`,
    the site starts without the hosted service's "Template Project", so tests see only what they make."""
    server = SGServer(
        host,
        port,
        Path(data_dir),
        script_name,
        script_key,
        page_size,
        thumbnail_delay=thumbnail_delay,
        template_project=False,
    )
    return server.start()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m integrations.trackers.sgserver")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--data-dir", default="sgserver-data")
    parser.add_argument("--script-name", default=os.environ.get("RUSHES_TRACKER__SCRIPT_NAME", "rushes"))
    parser.add_argument("--schema", default=None, help="a site's exported schema_read JSON")
    args = parser.parse_args(argv)
    key = os.environ.get("RUSHES_TRACKER__SCRIPT_KEY", "")
    server = serve(args.host, args.port, args.data_dir, args.script_name, key, args.schema)
    print(f"Local ShotGrid server on {server.url} (script '{args.script_name}'), data in {args.data_dir}")
    server.wait()
