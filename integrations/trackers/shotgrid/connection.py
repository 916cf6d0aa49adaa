"""The connection to ShotGrid: the real `shotgun_api3.Shotgun` client, made on first use, and every request
sent through the shared `calls.guarded` (retries, then one-line TrackerError / TrackerFatal).

The client (`_Shotgun`) tries each request once, uploads with the same timeout as the rest, so Rushes' retry
is the only one: it looks, before sending a create or an upload again, whether the last one landed.
Transient: connection errors, timeouts, HTTP 5xx/408/429, a page in place of the API's JSON (`NotTheApi`) and
the client's own "Max attempts" error.
Fatal: a rejected script name or key, a site URL that is not http(s) or answers any other HTTP error (a page's
URL pasted, a path after the host), no URL or key configured.
"""

from __future__ import annotations

import http.client
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

import shotgun_api3
from shotgun_api3.lib import httplib2

from integrations.trackers.base import TrackerError, TrackerFatal
from integrations.trackers.calls import Service, guarded
from integrations.trackers.options import TrackerOptions
from integrations.trackers.retry import RetryPolicy

T = TypeVar("T")
Entity = dict[str, Any]
Client = Any  # shotgun_api3.Shotgun or anything with its methods


def is_transient(exc: BaseException) -> bool:
    """Connection errors, timeouts and HTTP 5xx/408/429 may pass; everything else will not."""
    if isinstance(exc, shotgun_api3.ProtocolError):
        return int(exc.errcode) >= 500 or int(exc.errcode) in (408, 429)
    if isinstance(exc, OSError | http.client.HTTPException | httplib2.HttpLib2Error):
        return True
    return isinstance(exc, shotgun_api3.ShotgunError) and "Max attempts limit reached" in str(exc)


def link(entity_type: str, entity_id: int | str) -> Entity:
    return {"type": entity_type, "id": int(entity_id)}


def entity_ref(entity_type: str, entity_id: int) -> int | str:
    """How a request names the entity its task is on (its `shot_id`): a Shot by its id, as ever, any other
    by type and id ("Asset:45"), so that the answer's Note links to it."""
    return entity_id if entity_type == "Shot" else f"{entity_type}:{entity_id}"


def entity_link(ref: int | str) -> Entity:
    """The link to the entity an `entity_ref` names (a plain id is a Shot)."""
    entity_type, _, entity_id = str(ref).rpartition(":")
    return link(entity_type or "Shot", entity_id)


def as_datetime(value: Any) -> datetime | None:
    return value if isinstance(value, datetime) else None


def _first_line(text: object, limit: int = 120) -> str:
    """An HTTP reason as one short line (the client appends the answer's body, an HTML page)."""
    return (str(text).strip().splitlines() or [""])[0][:limit]


class NotTheApi(http.client.HTTPException):
    """An answer that is not the API's JSON: a proxy's or load balancer's page sent with a 200, or JSON cut
    short. Transient (an HTTPException): the page is usually a maintenance or error page that passes."""


class _Opener:
    """The client's opener for its uploads (urllib, not httplib2), with the call timeout its other requests have,
    and its failures said as theirs are: an HTTP error as a ProtocolError, a connection failure as its OSError.
    The client opened them with no timeout, so a site that took an upload and never answered held the publish
    for ever; and it turned every failure into "Max attempts limit reached." (a 502 page as well)."""

    def __init__(self, opener: urllib.request.OpenerDirector, timeout: float | None) -> None:
        self._opener = opener
        self._timeout = timeout

    def open(self, url: str | urllib.request.Request, data: Any = None) -> Any:
        try:
            return self._opener.open(url, data, timeout=self._timeout)
        except urllib.error.HTTPError as exc:
            where = str(exc.url).split("?", 1)[0]  # a storage URL's query holds its signature
            raise shotgun_api3.ProtocolError(
                where, exc.code, _first_line(exc.reason), dict(exc.headers)
            ) from exc
        except urllib.error.URLError as exc:
            reason = exc.reason
            raise (reason if isinstance(reason, OSError) else OSError(str(reason))) from exc


class _Shotgun(shotgun_api3.Shotgun):  # type: ignore[misc]
    """The official client, trying each request once: Rushes retries it (counted, with its backoff, and an
    upload only once it has looked whether the last one landed). The client's own retries sent a create or an
    upload again when a load balancer answered 502 or 504 after the site had done it: two Versions, or the
    movie twice."""

    MAX_ATTEMPTS = 1

    def _build_opener(self, handler: Any) -> Any:
        return _Opener(super()._build_opener(handler), self.config.timeout_secs)

    def _decode_response(self, headers: dict[str, Any], body: str) -> Any:
        """The answer's JSON; NotTheApi for anything else (the client handed a page on as the call's result,
        and Rushes failed on it as on a bug)."""
        kind = str(headers.get("content-type") or "application/json").split(";")[0].strip().lower()
        if body and kind not in ("application/json", "text/javascript"):
            raise NotTheApi(
                f"the answer was a {kind} page, not the ShotGrid API's answer ({_first_line(_text_of(body), 80)}): "
                "a proxy or load balancer between this machine and the site answered"
            )
        try:
            return super()._decode_response(headers, body)
        except ValueError as exc:
            raise NotTheApi(
                f"the answer was not the ShotGrid API's answer: its JSON does not read ({exc})"
            ) from exc


def _said(exc: BaseException) -> str:
    """A client error in one line: its first, and the answer it quotes after "Error:" (an upload's answer, which
    a proxy's page made a whole HTML dump) as its title or first line."""
    text = str(exc).strip()
    _, quoted, answer = text.partition("\nError: ")
    first = _first_line(text, 300)
    return f"{first} (the answer: {_first_line(_text_of(answer), 120)})" if quoted else first


def _text_of(body: str | bytes) -> str:
    """An HTML page's title, or its first line."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    start, end = text.lower().find("<title>"), text.lower().find("</title>")
    return text[start + 7 : end].strip() if 0 <= start < end else text.strip()


class Connection:
    def __init__(
        self,
        options: TrackerOptions,
        factory: Callable[[], Client] | None,
        policy: RetryPolicy,
        sleep: Callable[[float], None],
    ) -> None:
        self.options = options
        self.policy = policy
        self._factory = factory or self._default_factory
        self._client: Client | None = None
        self._service = Service("ShotGrid", options.url, is_transient, sleep)
        self._served = (
            False  # whether the site has answered a call here: a later 404 is a proxy's, not a wrong URL
        )

    @property
    def sg(self) -> Client:
        if self._client is None:
            self._client = self._factory()
        return self._client

    def call(self, what: str, fn: Callable[[Client], T], policy: RetryPolicy | None = None) -> T:
        """`fn(client)`, retried while failures are transient; failures leave as TrackerError/TrackerFatal."""
        result = guarded(self._service, what, lambda: fn(self.sg), policy or self.policy, self._explain)
        self._served = True
        return result

    def _explain(self, exc: BaseException, what: str) -> TrackerError | None:
        if isinstance(exc, shotgun_api3.AuthenticationFault):
            return TrackerFatal(
                f"ShotGrid rejected script '{self.options.script_name}': "
                "check RUSHES_TRACKER__SCRIPT_NAME/SCRIPT_KEY"
            )
        if isinstance(exc, shotgun_api3.ShotgunError):
            return TrackerError(f"ShotGrid refused {what}: {_said(exc)}")
        if isinstance(exc, shotgun_api3.ProtocolError):  # a 4xx: the transient codes were retried before
            said = f"{self.options.url} answered {what} with HTTP {exc.errcode} {_first_line(exc.errmsg)}"
            if exc.errcode in (301, 302, 307, 308, 404, 405) and self._served:
                return TrackerError(  # the job is tried again later; a wrong URL never answered at all
                    f"{said}: the site answered Rushes at this address before, so a proxy or load balancer in "
                    "the way answered this call; will retry later"
                )
            if exc.errcode in (301, 302, 307, 308, 404, 405):  # nothing serves the API at that address
                return TrackerFatal(
                    f"{said}: it does not serve the ShotGrid API there (a path after the host, or a proxy in the "
                    "way); set tracker.url to the site's address alone, e.g. https://yourstudio.shotgrid.autodesk.com"
                )
            return TrackerError(  # 403 (the API blocked for the script or the network), 413 (a proxy's limit)...
                f"{said}: the site or a proxy in the way refused the call; check the script's API access and any "
                "proxy between this machine and the site"
            )
        return None

    def _default_factory(self) -> Client:
        opts = self.options
        if not opts.url:
            raise TrackerFatal(
                "tracker.url is not set: set it to your ShotGrid site, e.g. https://studio.shotgrid.autodesk.com"
            )
        if opts.script_key is None or not opts.script_key.get_secret_value():
            raise TrackerFatal("tracker.script_key is not set: set RUSHES_TRACKER__SCRIPT_KEY")
        try:
            sg = _Shotgun(opts.url, opts.script_name, opts.script_key.get_secret_value(), connect=False)
        except ValueError as exc:
            raise TrackerFatal(f"tracker.url {opts.url!r} is not an http(s) URL: fix tracker.url") from exc
        sg.config.timeout_secs = opts.timeout
        return sg
