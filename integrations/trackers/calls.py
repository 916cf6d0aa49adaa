"""One tracker request with retries, and its failures mapped to TrackerError (may pass) or TrackerFatal.

Both adapters send every request through `guarded`:
- a failure the adapter calls transient (connection error, timeout, HTTP 5xx) is retried on the
  `RetryPolicy` schedule, with one warning per retry;
- when the budget runs out: TrackerError "<service> at <url> did not answer <what> after N attempts
  (<error>); will retry later" -- the daemon retries at its next poll or publish;
- any other failure goes to the adapter's `explain`, which names it in one line as TrackerError or
  TrackerFatal (bad login, missing route, forbidden), or returns None to let it through unchanged (our
  own TrackerFatal raised inside the request, e.g. "the shot was deleted").
Within `answers_to(listener)` each call the tracker ends (its answer, or a refusal; not a timeout or a spent
retry budget) calls `listener()` in that thread: the poller measures how long a read waits from it.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TypeVar

import structlog

from integrations.trackers.base import TrackerError
from integrations.trackers.retry import RetriesExhausted, RetryPolicy, retry

T = TypeVar("T")
LOG = structlog.get_logger(__name__)
OS_REASON = re.compile(
    r"\[Errno -?\d+\] ([^'\"()]+)"
)  # the OSError's reason inside a requests/urllib3 message

_LISTENING = threading.local()  # .listener: told in this thread when the tracker answers a call

Explain = Callable[[BaseException, str], TrackerError | None]  # (error, what) -> our error, or None


@dataclass(frozen=True)
class Service:
    """Who is being called and how its errors read."""

    name: str  # "ShotGrid", "Kitsu": the start of every message
    url: str
    is_transient: Callable[[BaseException], bool]
    sleep: Callable[[float], None] = field(default=time.sleep)


@contextmanager
def answers_to(listener: Callable[[], None]) -> Iterator[None]:
    """Within the block, `listener()` is called in this thread each time a `guarded` call gets its answer."""
    previous = getattr(_LISTENING, "listener", None)
    _LISTENING.listener = listener
    try:
        yield
    finally:
        _LISTENING.listener = previous


def _answered() -> None:
    listener: Callable[[], None] | None = getattr(_LISTENING, "listener", None)
    if listener is not None:
        listener()


def guarded(
    service: Service, what: str, request: Callable[[], T], policy: RetryPolicy, explain: Explain
) -> T:
    """`request()` retried while its failures are transient; every failure leaves as one of ours."""

    def on_retry(attempt: int, exc: BaseException, wait: float) -> None:
        LOG.warning(
            "tracker call failed, retrying",
            tracker=service.name,
            what=what,
            attempt=attempt,
            wait=wait,
            error=str(exc),
        )

    try:
        result = retry(request, policy, service.is_transient, service.sleep, on_retry)
    except RetriesExhausted as exc:  # no answer: the wait goes on
        raise unreachable(service, what, exc) from exc
    except Exception as exc:
        _answered()  # a refusal is an answer
        ours = explain(exc, what)
        if ours is None:
            raise
        raise ours from exc
    _answered()
    return result


def unreachable(service: Service, what: str, exc: RetriesExhausted) -> TrackerError:
    return TrackerError(
        f"{service.name} at {service.url} did not answer {what} after {exc.attempts} attempts "
        f"({type(exc.last).__name__}: {why_unanswered(exc.last)}); will retry later"
    )


def why_unanswered(exc: BaseException | None) -> str:
    """The system's reason inside a connection error ("Connection refused", "Name or service not known"), not
    urllib3's whole message (the pool, the URL with its query, the wrapped error's repr); an HTTP status as
    "HTTP 502 Bad Gateway" (shotgun_api3's ProtocolError read "<ProtocolError for host: 502 Bad Gateway>")."""
    code, message = getattr(exc, "errcode", None), getattr(exc, "errmsg", None)
    if isinstance(code, int) and isinstance(message, str):
        return f"HTTP {code} {message}".strip()
    text = str(exc)
    found = OS_REASON.search(text)
    return found.group(1).strip() if found else text
