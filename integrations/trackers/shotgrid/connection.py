"""The connection to ShotGrid: the real `shotgun_api3.Shotgun` client, made on first use, and every request
sent through the shared `calls.guarded` (retries, then one-line TrackerError / TrackerFatal).

The client (`client.OnceClient`) sends a write once, so Rushes' retry is the only one: it looks, before
sending a create or an upload again, whether the last one landed.
Transient: connection errors, timeouts, HTTP 5xx/408/429, a page in place of the API's JSON (`NotTheApi`), a
write whose answer was lost (`AnswerLost`), the client's own "Max attempts" error, and a 404 from an address
that has answered this process before (a proxy's or load balancer's page).
Fatal: a rejected script name or key, a site URL that is not http(s) or answers any other HTTP error (a page's
URL pasted, a path after the host, a site moved to another address), no URL or key configured.
"""

from __future__ import annotations

import http.client
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

import shotgun_api3
from shotgun_api3.lib import httplib2

from integrations.trackers.base import TrackerError, TrackerFatal, TrackerLoginRefused
from integrations.trackers.calls import Service, guarded
from integrations.trackers.options import TrackerOptions
from integrations.trackers.retry import RetryPolicy
from integrations.trackers.shotgrid.client import AnswerLost, OnceClient, first_line, text_of

T = TypeVar("T")
Entity = dict[str, Any]
Client = Any  # shotgun_api3.Shotgun or anything with its methods


def is_transient(exc: BaseException) -> bool:
    """Connection errors, timeouts and HTTP 5xx/408/429 may pass; everything else will not."""
    if isinstance(exc, shotgun_api3.ProtocolError):
        return int(exc.errcode) >= 500 or int(exc.errcode) in (408, 429)
    if isinstance(exc, OSError | http.client.HTTPException | httplib2.HttpLib2Error | AnswerLost):
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


def _said(exc: BaseException) -> str:
    """A client error in one line: its first, and the answer it quotes after "Error:" (an upload's answer, which
    a proxy's page made a whole HTML dump) as its title or first line."""
    text = str(exc).strip()
    _, quoted, answer = text.partition("\nError: ")
    first = first_line(text, 300)
    return f"{first} (the answer: {first_line(text_of(answer), 120)})" if quoted else first


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
            return TrackerLoginRefused(
                f"ShotGrid rejected script '{self.options.script_name}': "
                "check RUSHES_TRACKER__SCRIPT_NAME/SCRIPT_KEY"
            )
        if isinstance(exc, shotgun_api3.ShotgunError):
            return TrackerError(f"ShotGrid refused {what}: {_said(exc)}")
        if isinstance(exc, shotgun_api3.ProtocolError):  # a 4xx: the transient codes were retried before
            said = f"{self.options.url} answered {what} with HTTP {exc.errcode} {first_line(exc.errmsg)}"
            if exc.errcode == 404 and self._served:
                return TrackerError(  # the job is tried again later; a wrong URL never answered at all
                    f"{said}: the site answered Rushes at this address before, so a proxy or load balancer in "
                    "the way answered this call; will retry later"
                )
            if exc.errcode in (301, 302, 303, 307, 308, 404, 405):  # nothing serves the API at that address
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
        # without a name the client refused the first call with "invalid auth params": a traceback
        if not opts.script_name:
            raise TrackerFatal(
                "tracker.script_name is not set: set it to the name of the ShotGrid API script Rushes logs in as"
            )
        if opts.script_key is None or not opts.script_key.get_secret_value():
            raise TrackerFatal("tracker.script_key is not set: set RUSHES_TRACKER__SCRIPT_KEY")
        try:
            sg = OnceClient(opts.url, opts.script_name, opts.script_key.get_secret_value(), connect=False)
        except ValueError as exc:
            raise TrackerFatal(f"tracker.url {opts.url!r} is not an http(s) URL: fix tracker.url") from exc
        sg.config.timeout_secs = opts.timeout
        return sg
