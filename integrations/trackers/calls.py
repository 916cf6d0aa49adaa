"""One tracker request with retries, and its failures mapped to TrackerError (may pass) or TrackerFatal.

Both adapters send every request through `guarded`:
- a failure the adapter calls transient (connection error, timeout, HTTP 5xx) is retried on the
  `RetryPolicy` schedule, with one warning per retry;
- when the budget runs out: TrackerError "<service> at <url> did not answer <what> after N attempts
  (<error>); will retry later" -- the daemon retries at its next poll or publish;
- any other failure goes to the adapter's `explain`, which names it in one line as TrackerError or
  TrackerFatal (bad login, missing route, forbidden), or returns None to let it through unchanged (our
  own TrackerFatal raised inside the request, e.g. "the shot was deleted").
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
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

Explain = Callable[[BaseException, str], TrackerError | None]  # (error, what) -> our error, or None


@dataclass(frozen=True)
class Service:
    """Who is being called and how its errors read."""

    name: str  # "ShotGrid", "Kitsu": the start of every message
    url: str
    is_transient: Callable[[BaseException], bool]
    sleep: Callable[[float], None] = field(default=time.sleep)


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
        return retry(request, policy, service.is_transient, service.sleep, on_retry)
    except RetriesExhausted as exc:
        raise unreachable(service, what, exc) from exc
    except Exception as exc:
        ours = explain(exc, what)
        if ours is None:
            raise
        raise ours from exc


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
