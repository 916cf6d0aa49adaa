"""The official `shotgun_api3` client as Rushes runs it (`OnceClient`): a write is sent once, uploads wait as
long as their size needs, and an answer that is not the API's is said as such.

Why each part:
- A write (create, update, delete, batch...) is sent once, on a fresh connection. The client sent a create
  again when a load balancer answered 502 or 504 after the site had done it (its `MAX_ATTEMPTS`), and its HTTP
  library sent it again when the connection closed before the answer (a stale kept-alive connection, or a
  proxy that gave up after forwarding it): two Versions, or a note twice. Rushes' own retry (calls.guarded) is
  the only one; before it sends a create or an upload again it looks whether the last one landed. Reads are
  sent as the client always sent them.
- An upload waits `timeout` plus its size at `UPLOAD_FLOOR_BYTES_S`. A form post to the site (a movie
  uploaded to a site without direct storage uploads, as the local tracker and most sites on the studio's own
  servers are) is one block of bytes, whose whole send Python's socket timeout bounds as one operation, so the
  plain call timeout failed every movie that took longer than it to send; no timeout at all (the client's) held
  a publish for ever on a site that took an upload and never answered. A file sent to storage goes in small
  writes, each bounded by the timeout; the longer wait is then for its answer.
- A part sent to storage (S3: a PUT of bytes, which the same bytes may repeat), and a request for an upload
  link (which changes nothing), are sent again on a 500/502/503/504 or a broken connection, up to
  `STORAGE_ATTEMPTS`, so that one part's hiccup does not start a large movie's upload over from its first part.
- Redirects are not followed: a write is never sent again to another address (with the script's key in its
  body), and a site that moved is the configuration problem `connection` says it is.
- The client's private hooks this relies on are checked by tests/integrations/test_shotgrid_client.py;
  pyproject pins the client's minor version for that reason.
"""

from __future__ import annotations

import http.client
import io
import os
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any

import shotgun_api3
from shotgun_api3.lib import httplib2

UPLOAD_FLOOR_BYTES_S = 256 * 1024  # the slowest link an upload is given time for (2 Mbit/s)
STORAGE_ATTEMPTS = 3  # tries of one part sent to storage
STORAGE_RETRY_CODES = (500, 502, 503, 504)
# the RPCs that only read (or, as a session token, change nothing a repeat would double): sent as the client
# sends them (kept-alive, a stale connection's resend); every other, a name a new client brings included, is sent
# once
READ_RPCS = frozenset(
    {
        "info",
        "read",
        "summarize",
        "query_display_name_cache",  # text_search
        "activity_stream",
        "note_thread_contents",
        "followers",
        "following",
        "export_page",
        "nav_expand",
        "nav_search",
        "get_session_token",
    }
)
# form posts to the site that only ask for an upload's links (a repeat is a new link, nothing doubled)
LINK_REQUESTS = ("/upload/api_get_upload_link_info", "/upload/api_get_upload_link_for_part")


class NotTheApi(http.client.HTTPException):
    """An answer that is not the API's JSON: a proxy's or load balancer's page sent with a 200, or JSON cut
    short. Transient (an HTTPException): the page is usually a maintenance or error page that passes."""


class AnswerLost(Exception):
    """A write's connection closed before its answer: it may have been done. Not an OSError nor an
    HTTPException, so that the HTTP library does not send the write again itself; transient for Rushes, whose
    retry looks whether it landed first."""


def first_line(text: object, limit: int = 120) -> str:
    """An HTTP reason as one short line (the client appends the answer's body, an HTML page)."""
    return (str(text).strip().splitlines() or [""])[0][:limit]


def text_of(body: str | bytes) -> str:
    """An HTML page's title, or its first line."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    start, end = text.lower().find("<title>"), text.lower().find("</title>")
    return text[start + 7 : end].strip() if 0 <= start < end else text.strip()


def sends_once(method: str) -> bool:
    """Whether an RPC changes the site (sent once) rather than reads it."""
    return not (method in READ_RPCS or method.endswith("_read"))


def upload_timeout(timeout: float | None, size: int) -> float | None:
    """How long an upload of `size` bytes may take: the call timeout plus its size at the floor rate."""
    return None if timeout is None else timeout + size / UPLOAD_FLOOR_BYTES_S


def body_size(data: Any) -> int:
    """The bytes an upload sends: a request's data, or a form's fields (files by their size on disk)."""
    if isinstance(data, urllib.request.Request):
        data = data.data
    if isinstance(data, Mapping):
        return sum(body_size(value) for value in data.values())
    if isinstance(data, bytes | bytearray | memoryview):
        return len(data)
    if isinstance(data, str):
        return len(data.encode("utf-8"))
    try:
        if data.seekable():  # a file or a part in memory (io.BytesIO): what is left of it
            here = data.tell()
            end = data.seek(0, io.SEEK_END)
            data.seek(here)
            return int(end - here)
        return os.fstat(data.fileno()).st_size
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return 0


class _SentOnce:
    """A connection that refuses to send a second request: httplib2 sends a request again when the answer did
    not come (BadStatusLine, a closed connection), even with its retries off."""

    def __init__(self, conn: Any) -> None:
        self._conn = conn
        self._sent = False

    def request(self, *args: Any, **kwargs: Any) -> Any:
        if self._sent:
            raise AnswerLost(
                "the connection closed before the site answered the call, which may have been done"
            )
        self._sent = True
        return self._conn.request(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


class _OnceHttp(httplib2.Http):  # type: ignore[misc]
    """The client's HTTP connection; while `send_once`, a request is sent on its connection once."""

    send_once = False

    def _conn_request(self, conn: Any, request_uri: str, method: str, body: Any, headers: Any) -> Any:
        if self.send_once:
            conn = _SentOnce(conn)
        return super()._conn_request(conn, request_uri, method, body, headers)


class UploadOpener:
    """The client's opener for its uploads (urllib, not httplib2): the upload's own timeout, a storage part
    sent again on a passing failure, and failures said as the other calls' are (an HTTP error as a
    ProtocolError, a connection failure as its OSError). The client opened them with no timeout, and turned
    every failure into "Max attempts limit reached." (a 502 page as well)."""

    def __init__(
        self,
        opener: urllib.request.OpenerDirector,
        timeout: float | None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._opener = opener
        self._timeout = timeout
        self._sleep = sleep

    def open(self, url: str | urllib.request.Request, data: Any = None) -> Any:
        attempts = STORAGE_ATTEMPTS if _repeatable_put(url) or _link_request(url) else 1
        start = _position(url)
        for attempt in range(1, attempts + 1):
            try:
                return self._open_once(url, data)
            except (shotgun_api3.ProtocolError, OSError) as exc:
                if attempt == attempts or not _passing(exc):
                    raise
                _rewind(url, start)
                self._sleep(float(attempt))
        raise AssertionError("unreachable")  # pragma: no cover

    def _open_once(self, url: str | urllib.request.Request, data: Any) -> Any:
        timeout = upload_timeout(self._timeout, body_size(url if data is None else data))
        try:
            return self._opener.open(url, data, timeout=timeout)
        except urllib.error.HTTPError as exc:
            where = str(exc.url).split("?", 1)[0]  # a storage URL's query holds its signature
            raise shotgun_api3.ProtocolError(
                where, exc.code, first_line(exc.reason), dict(exc.headers)
            ) from exc
        except urllib.error.URLError as exc:
            reason = exc.reason
            raise (reason if isinstance(reason, OSError) else OSError(str(reason))) from exc


def _passing(exc: BaseException) -> bool:
    """A storage or site failure that may pass: a 5xx, a broken connection; not a certificate refused."""
    if isinstance(exc, shotgun_api3.ProtocolError):
        return exc.errcode in STORAGE_RETRY_CODES
    return not isinstance(exc, ssl.SSLCertVerificationError)


def _link_request(url: str | urllib.request.Request) -> bool:
    where = url.full_url if isinstance(url, urllib.request.Request) else url
    return urllib.parse.urlsplit(where).path.endswith(LINK_REQUESTS)


def _repeatable_put(url: str | urllib.request.Request) -> bool:
    """A PUT to storage whose body can be sent again: bytes, or a file that can seek back."""
    if not isinstance(url, urllib.request.Request) or url.get_method() != "PUT":
        return False
    data = url.data
    return isinstance(data, bytes | bytearray | memoryview) or _position(url) is not None


def _position(url: str | urllib.request.Request) -> int | None:
    data = url.data if isinstance(url, urllib.request.Request) else None
    try:
        return int(data.tell()) if data is not None and data.seekable() else None  # type: ignore[union-attr]
    except (AttributeError, OSError, ValueError):
        return None


def _rewind(url: str | urllib.request.Request, start: int | None) -> None:
    if start is not None and isinstance(url, urllib.request.Request):
        url.data.seek(start)  # type: ignore[union-attr]


class OnceClient(shotgun_api3.Shotgun):  # type: ignore[misc]
    """The official client: a write sent once on a fresh connection, uploads timed by their size, a page in
    place of the API said as such (module docstring)."""

    MAX_ATTEMPTS = 1

    def _get_connection(self) -> Any:
        connection = super()._get_connection()  # built with the proxy and certificates the client was given
        if not isinstance(connection, _OnceHttp):
            connection.__class__ = _OnceHttp  # the same connection, which can send a request once
            connection.follow_redirects = False  # a 3xx is answered as the ProtocolError it is
        return connection

    def _call_rpc(self, method: str, params: Any, *args: Any, **kwargs: Any) -> Any:
        once = sends_once(method)
        if once:
            self._close_connection()  # a fresh connection: no stale kept-alive one to fail on
        connection = self._get_connection()
        # as they were: an RPC the client makes inside this one (an `info` for the session's auth) restores them
        was = connection.send_once, self.config.max_rpc_attempts
        connection.send_once = once
        if once:
            self.config.max_rpc_attempts = (
                1  # the client's resend after an SSL error, which may follow the send
            )
        try:
            return super()._call_rpc(method, params, *args, **kwargs)
        finally:
            connection.send_once, self.config.max_rpc_attempts = was

    def _build_opener(self, handler: Any) -> Any:
        return UploadOpener(super()._build_opener(handler), self.config.timeout_secs)

    def _decode_response(self, headers: dict[str, Any], body: str) -> Any:
        """The answer's JSON; NotTheApi for anything else (the client handed a page on as the call's result,
        and Rushes failed on it as on a bug)."""
        kind = str(headers.get("content-type") or "application/json").split(";")[0].strip().lower()
        if body and kind not in ("application/json", "text/javascript"):
            raise NotTheApi(
                f"the answer was a {kind} page, not the ShotGrid API's answer ({first_line(text_of(body), 80)}): "
                "a proxy or load balancer between this machine and the site answered"
            )
        try:
            return super()._decode_response(headers, body)
        except ValueError as exc:
            raise NotTheApi(
                f"the answer was not the ShotGrid API's answer: its JSON does not read ({exc})"
            ) from exc
