"""Temporary failures of ingest (a full disk) and the files waiting to be offered again.

`temporary_reason(exc)` says, in one line, whether an exception raised while handling a file is one that
goes away by itself: no space left (ENOSPC, EDQUOT, SQLite's "database or disk is full"), anywhere in its
cause chain. Such a file must not count as handled: `Retries` keeps it with the time it is due again
(a fixed interval, on an injected clock) and the latest reason, which is also the watcher's readiness
problem until every waiting file has been handled.
"""

from __future__ import annotations

import errno
import threading
from collections.abc import Hashable
from dataclasses import dataclass

TEMPORARY_ERRNOS = {errno.ENOSPC, errno.EDQUOT}
FULL_TEXTS = ("no space left on device", "database or disk is full", "disk quota exceeded")


def temporary_reason(exc: BaseException) -> str | None:
    """'disk full: ...' when `exc` (or what caused it) is a full disk or quota, else None."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in TEMPORARY_ERRNOS:
            where = f" ({current.filename})" if current.filename else ""
            return f"disk full: {current.strerror or current}{where}"
        text = str(current).lower()
        if any(full in text for full in FULL_TEXTS):
            return f"disk full: {str(current).splitlines()[0]}"
        current = current.__cause__ or current.__context__
    return None


@dataclass(frozen=True)
class Waiting:
    item: object  # the Candidate or Rejected to offer again
    due: float
    reason: str


class Retries:
    """Files that failed for a temporary reason, by their delivery key (thread-safe)."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._waiting: dict[Hashable, Waiting] = {}
        self._lock = threading.Lock()

    def add(self, key: Hashable, item: object, reason: str, now: float) -> None:
        with self._lock:
            self._waiting[key] = Waiting(item, now + self.interval, reason)

    def due(self, now: float) -> list[object]:
        """The items due now; they leave the list (a failing one is added again)."""
        with self._lock:
            keys = [key for key, waiting in self._waiting.items() if waiting.due <= now]
            return [self._waiting.pop(key).item for key in keys]

    def discard(self, key: Hashable) -> None:
        with self._lock:
            self._waiting.pop(key, None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._waiting)

    @property
    def reason(self) -> str | None:
        """The newest reason among the waiting files (None when nothing waits)."""
        with self._lock:
            if not self._waiting:
                return None
            return max(self._waiting.values(), key=lambda waiting: waiting.due).reason
