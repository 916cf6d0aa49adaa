"""Retry with exponential backoff: a pure delay schedule plus one small loop that uses it.

policy = RetryPolicy(attempts=6, first=0.5, factor=2.0, max_delay=8.0)
list(policy.delays())  # [0.5, 1.0, 2.0, 4.0, 8.0]  (attempts - 1 waits)
retry(call, policy, is_transient, sleep=time.sleep)
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 6  # calls in all, the first included
    first: float = 0.5  # seconds before the second call
    factor: float = 2.0
    max_delay: float = 8.0
    jitter: float = 0.0  # up to this fraction of each (capped) delay is added at random (0: deterministic)

    def delays(self, rng: random.Random | None = None) -> Iterator[float]:
        """The waits between calls: attempts - 1 of them, growing by `factor`, capped at `max_delay`."""
        delay = self.first
        for _ in range(max(0, self.attempts - 1)):
            capped = min(delay, self.max_delay)
            # the jitter is a fraction of the wait actually made: of the uncapped delay it grew without bound
            extra = (rng or random).uniform(0, self.jitter * capped) if self.jitter else 0.0
            yield capped + extra
            delay *= self.factor

    def total(self) -> float:
        """The longest the waits can add up to (without jitter)."""
        return sum(RetryPolicy(self.attempts, self.first, self.factor, self.max_delay).delays())


class RetriesExhausted(Exception):
    """Every attempt failed with a transient error; `last` is the final one."""

    def __init__(self, attempts: int, last: BaseException) -> None:
        super().__init__(f"gave up after {attempts} attempts: {last}")
        self.attempts = attempts
        self.last = last


def retry(
    call: Callable[[], T],
    policy: RetryPolicy,
    is_transient: Callable[[BaseException], bool],
    sleep: Callable[[float], None] = time.sleep,
    on_retry: Callable[[int, BaseException, float], None] | None = None,
) -> T:
    """Call until it succeeds; re-raise non-transient errors at once, RetriesExhausted after the budget."""
    waits = policy.delays()
    attempt = 0
    while True:
        attempt += 1
        try:
            return call()
        except Exception as exc:
            if not is_transient(exc):
                raise
            wait = next(waits, None)
            if wait is None:
                raise RetriesExhausted(attempt, exc) from exc
            if on_retry is not None:
                on_retry(attempt, exc, wait)
            sleep(wait)
