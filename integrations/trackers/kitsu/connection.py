"""The connection to Kitsu: a `gazu` KitsuClient with a timeout on every request, logged in on first use
(and again once when the session expires or zou stops accepting its token), every request sent through the shared `calls.guarded`.

Transient: connection errors, timeouts, HTTP 5xx (gazu maps only 500 and 502; a response hook adds 503
and 504) and unreadable answers. Fatal: a refused login, no API at the URL, a forbidden call, any other
gazu error. Writes that are not idempotent are sent once (`idempotent=False`): the caller's outbox
retries, and finds what an earlier attempt made.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

import gazu
import requests
from gazu.client import KitsuClient
from gazu.exception import (
    AuthFailedException,
    GazuException,
    NotAllowedException,
    NotAuthenticatedException,
    RouteNotFoundException,
    ServerErrorException,
)
from requests.adapters import HTTPAdapter

from integrations.trackers.base import TrackerError, TrackerFatal, TrackerLoginRefused
from integrations.trackers.calls import Service, guarded
from integrations.trackers.options import TrackerOptions
from integrations.trackers.retry import RetryPolicy

T = TypeVar("T")
Entity = dict[str, Any]


class ServiceUnavailable(requests.RequestException):
    """HTTP 502/503/504 from Kitsu or a proxy in front of it (gazu itself only maps 500 and 502)."""


class NotKitsu(requests.RequestException):
    """A 404 page where Kitsu's JSON was expected, once Kitsu has answered at this address: a proxy's or load
    balancer's (no backend for a moment), transient. Read as zou's own 404, it made a task look deleted and its
    request withdrawn."""


def _is_json(response: requests.Response) -> bool:
    return "json" in str(response.headers.get("content-type") or "").lower()


class _TimeoutAdapter(HTTPAdapter):
    """Gives every request a timeout (gazu sets none), read from the connection at send time."""

    def __init__(self, timeout: Callable[[], float]) -> None:
        super().__init__()
        self._timeout = timeout

    def send(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self._timeout()
        return super().send(request, *args, **kwargs)


# How zou words a refused login that no password mends (its account's state), in any case.
ACCOUNT_WORDS = ("active", "locked", "disabled", "blocked")


class LoginRefused(Exception):
    """zou refused a login and said why (a wrong password, an account made inactive), which gazu drops for a
    401: its message."""


def _raise_login_refused(response: requests.Response, *args: Any, **kwargs: Any) -> None:
    if response.status_code in (400, 401) and response.url.rstrip("/").endswith("/auth/login"):
        said = _message(response)
        if said:  # a sign-on proxy's page says nothing of the account: gazu's own refusal stands
            raise LoginRefused(said)


def _raise_unavailable(response: requests.Response, *args: Any, **kwargs: Any) -> None:
    if response.status_code in (429, 502, 503, 504):  # 429: a gateway's rate limit, which gazu hands back
        raise ServiceUnavailable(f"HTTP {response.status_code} from {response.url}", response=response)


class TokenRefused(Exception):
    """zou could not read or verify the session's token (a 422 from flask-jwt-extended, which gazu cannot tell
    from a call whose content zou refuses): log in again."""


def _raise_token_refused(response: requests.Response, *args: Any, **kwargs: Any) -> None:
    if response.status_code == 422 and token_refused(_message(response)):
        raise TokenRefused(f"HTTP 422 from {response.url}: {_message(response)}")


def _message(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    return str(body.get("msg") or body.get("message") or "") if isinstance(body, dict) else ""


def is_transient(exc: BaseException) -> bool:
    """Connection errors, timeouts, HTTP 5xx and unreadable answers may pass; everything else will not."""
    return isinstance(exc, requests.RequestException | ServerErrorException | ValueError)


class Connection:
    def __init__(
        self,
        options: TrackerOptions,
        client: KitsuClient | None,
        policy: RetryPolicy,
        sleep: Callable[[float], None],
    ) -> None:
        self.options = options
        self.policy = policy
        self._service = Service("Kitsu", options.url, is_transient, sleep)
        self._timeout = options.timeout
        self._served = False  # whether Kitsu has answered a call here (a later 404 page is a proxy's)
        self._answers = threading.local()  # per thread: the Date header of the last answer
        self._client = client
        self._logged_in = client is not None and bool(client.access_token)

    @property
    def client(self) -> KitsuClient:
        if self._client is None:
            url = self.options.url.rstrip("/")
            if not url.startswith(("http://", "https://")):
                raise TrackerFatal(
                    f"tracker.url {self.options.url!r} is not an http(s) URL: set it to the Kitsu API URL, "
                    "e.g. https://kitsu.studio.com/api"
                )
            self._client = KitsuClient(url, use_refresh_token=True)
        if not getattr(self._client.session, "_rushes_wired", False):
            adapter = _TimeoutAdapter(lambda: self._timeout)
            self._client.session.mount("http://", adapter)
            self._client.session.mount("https://", adapter)
            self._client.session.hooks["response"].append(self._note_date)
            self._client.session.hooks["response"].append(_raise_unavailable)
            self._client.session.hooks["response"].append(_raise_login_refused)
            self._client.session.hooks["response"].append(_raise_token_refused)
            self._client.session.hooks["response"].append(self._raise_not_kitsu)
            self._client.session._rushes_wired = True  # type: ignore[attr-defined]
        return self._client

    @contextmanager
    def timeout_at_least(self, seconds: float) -> Iterator[None]:
        """A longer timeout for the requests inside (zou transcodes an upload within its request)."""
        self._timeout = max(self.options.timeout, seconds)
        try:
            yield
        finally:
            self._timeout = self.options.timeout

    def login(self) -> None:
        email = self.options.script_name
        password = self.options.script_key.get_secret_value() if self.options.script_key else ""
        if not email or not password:
            raise TrackerFatal(
                "the Kitsu login is not set: set tracker.script_name (login e-mail) and "
                "RUSHES_TRACKER__SCRIPT_KEY (password)"
            )
        client = self.client
        try:
            guarded(
                self._service,
                "login",
                lambda: gazu.log_in(email, password, client=client),
                self.policy,
                self._explain_login,
            )
        except TrackerError as exc:
            url = self.options.url.rstrip("/")
            if url.endswith("/api") or "/api" in str(exc) or _unanswered(exc):
                raise
            hint = f"; tracker.url {url} does not end in /api, as Kitsu's API URL does (https://kitsu.example.com/api)"
            raise type(exc)(f"{exc}{hint}") from exc
        self._logged_in = True

    def call(self, what: str, fn: Callable[[KitsuClient], T], *, idempotent: bool = True) -> T:
        """Run one gazu call: log in first, again once if the session expired or zou no longer accepts its token;
        map errors to ours."""
        if not self._logged_in:
            self.login()

        def attempt() -> T:
            try:
                return fn(self.client)
            except (NotAuthenticatedException, TokenRefused):
                # An expired session is a 401, but a token zou cannot verify is a 422: after zou's SECRET_KEY
                # changed (a redeploy) or a mangled token. A fresh login mends both. Any other 422 is zou refusing
                # the call's content (ValidationException), raised at once: a call of two requests may have made
                # its first part.
                self.login()
                return fn(self.client)

        policy = self.policy if idempotent else RetryPolicy(attempts=1)
        result = guarded(self._service, what, attempt, policy, self._explain)
        self._served = True
        return result

    def _note_date(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        self._answers.date = response.headers.get("Date")

    def server_time(self) -> datetime | None:
        """Kitsu's clock when it answered this thread's last request (its HTTP Date header, to the second), as zou
        stamps its rows: naive UTC; None when the answer had no readable Date."""
        try:
            when = parsedate_to_datetime(str(getattr(self._answers, "date", None) or ""))
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:  # an RFC 850 or asctime date names no zone: HTTP dates are GMT
            return when
        return when.astimezone(UTC).replace(tzinfo=None)

    def _raise_not_kitsu(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        if response.status_code == 404 and self._served and not _is_json(response):
            where = str(response.url).split("?", 1)[0]
            raise NotKitsu(
                f"HTTP 404 from {where} with a page, not Kitsu's answer: Kitsu answered at this address before, so "
                "a proxy or load balancer in the way answered this call",
                response=response,
            )

    def get_or_none(self, what: str, fn: Callable[[KitsuClient], Entity]) -> Entity | None:
        """A read of one entity that may have been deleted meanwhile (None then)."""

        def read(client: KitsuClient) -> Entity | None:
            try:
                return fn(client)
            except RouteNotFoundException:
                return None

        return self.call(what, read)

    def _explain_login(self, exc: BaseException, what: str) -> TrackerError | None:
        url, email = self.options.url, self.options.script_name
        if isinstance(exc, AuthFailedException | LoginRefused):
            said = str(exc).strip() if isinstance(exc, LoginRefused) else ""
            refused = f"Kitsu at {url} refused the login of {email}" + (
                f" ({said.rstrip('.')})" if said else ""
            )
            if any(
                word in said.lower() for word in ACCOUNT_WORDS
            ):  # an account made inactive: mended in Kitsu
                return TrackerLoginRefused(f"{refused}: have a Kitsu admin mend that account")
            return TrackerLoginRefused(
                f"{refused}: check tracker.script_name (login e-mail) and RUSHES_TRACKER__SCRIPT_KEY (password)"
            )
        if isinstance(exc, RouteNotFoundException):
            if not url.rstrip("/").endswith("/api"):
                return TrackerFatal(
                    f"no Kitsu API at {url}: set tracker.url to the API URL, which ends in /api"
                )
            return TrackerFatal(  # the advice above, given to a URL that follows it, sent people round in circles
                f"no Kitsu API at {url}: the server there is not Kitsu (zou), or not at this path: check "
                "tracker.url, and tracker.kind (shotgrid for a ShotGrid site)"
            )
        return None

    def _explain(self, exc: BaseException, what: str) -> TrackerError | None:
        if isinstance(exc, NotAllowedException):
            return TrackerFatal(
                f"Kitsu user {self.options.script_name} may not read or write {what}: "
                "give it the Manager (or Admin) role"
            )
        if isinstance(exc, RouteNotFoundException):
            return TrackerFatal(f"Kitsu answered {what} with HTTP 404: not found at {self.options.url}")
        if isinstance(exc, GazuException):
            return TrackerFatal(f"Kitsu refused {what}: {type(exc).__name__}: {exc}")
        return None


def _unanswered(exc: TrackerError) -> bool:
    """Whether the server never answered (refused, unreachable, timed out): a wrong path is not why, then."""
    cause = exc.__cause__
    last = getattr(cause, "last", cause)
    return isinstance(last, requests.ConnectionError | requests.Timeout)


# How flask-jwt-extended (and the JWT library under it) words a token it cannot read or verify: zou answers those
# with a 422, as it answers a call whose content it refuses.
TOKEN_REFUSALS = (
    "signature verification failed",
    "not enough segments",
    "invalid header",
    "invalid payload",
    "invalid crypto padding",
    "bad authorization header",
    "invalid token type",
)


def token_refused(message: str) -> bool:
    """Whether a 422's message from zou refuses the session's token (log in again) rather than the call's
    content."""
    return any(words in message.lower() for words in TOKEN_REFUSALS)
