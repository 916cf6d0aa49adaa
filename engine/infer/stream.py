"""Streaming stages that overlap: a decoder running ahead of inference, an encoder running behind it.

A fix is decode -> head -> encode. Run one after another per frame, the pipeline takes the sum of the
three; with each in its own thread joined by bounded queues it takes about the slowest of them (decoding,
OpenCV, the inference runtimes and the encoders release the GIL while they work). The queues are bounded
(`depth` items), so at most `depth` frames wait between two stages: memory does not grow with the length
of a shot, only with the frame size.

- `prefetch(items, depth)`: iterate `items` in a background thread, `depth` ahead of the consumer.
- `Background(consume, depth)`: hand items to `consume` in a background thread; `put` blocks while
  `depth` items wait. An error in either thread surfaces in the caller's thread at its next call, as the
  original exception; closing early (an error downstream, a generator left unfinished) stops the thread.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from types import TracebackType
from typing import Generic, TypeVar

T = TypeVar("T")

_DONE = object()
POLL_SECONDS = 0.1  # how often a blocked thread checks whether its partner has stopped


class _Failure:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


def prefetch(items: Iterable[T], depth: int = 2) -> Iterator[T]:
    """`items`, produced by a background thread up to `depth` ahead of the consumer, in order."""
    if depth < 1:
        raise ValueError(f"prefetch depth must be at least 1, got {depth}")
    buffer: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def offer(item: object) -> bool:
        while not stop.is_set():
            try:
                buffer.put(item, timeout=POLL_SECONDS)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not offer(item):
                    return
            offer(_DONE)
        except BaseException as exc:  # handed to the consumer, raised there
            offer(_Failure(exc))
        finally:
            close = getattr(items, "close", None)
            if callable(close):
                close()  # a decoder's file is closed by the thread that read it

    thread = threading.Thread(target=produce, name="rushes-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item = buffer.get()
            if item is _DONE:
                return
            if isinstance(item, _Failure):
                raise item.exc
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        thread.join()


class Background(Generic[T]):
    """Calls `consume(item)` for every `put(item)`, in order, in one background thread."""

    def __init__(self, consume: Callable[[T], None], depth: int = 2) -> None:
        if depth < 1:
            raise ValueError(f"background queue depth must be at least 1, got {depth}")
        self._consume = consume
        self._queue: queue.Queue[object] = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rushes-background", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _DONE or self._stop.is_set():
                return
            try:
                self._consume(item)  # type: ignore[arg-type]
            except BaseException as exc:
                self._error = exc
                self._stop.set()
                return

    def _raise(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def put(self, item: T) -> None:
        """Queue one item (blocks while the queue is full); raises the consumer's error if it failed."""
        while True:
            self._raise()
            if self._stop.is_set():
                raise RuntimeError("the background stage is closed")
            try:
                self._queue.put(item, timeout=POLL_SECONDS)
                return
            except queue.Full:
                continue

    def close(self) -> None:
        """Wait until every queued item is consumed; raises the consumer's error if it failed."""
        if not self._stop.is_set():
            self._offer_done()
            self._thread.join()
            self._stop.set()
        self._raise()

    def abort(self) -> None:
        """Stop without consuming what is still queued (after an error upstream)."""
        self._stop.set()
        self._offer_done()
        self._thread.join()

    def _offer_done(self) -> None:
        while self._thread.is_alive():
            try:
                self._queue.put(_DONE, timeout=POLL_SECONDS)
                return
            except queue.Full:
                if self._stop.is_set():
                    with_drain(self._queue)

    def __enter__(self) -> Background[T]:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def with_drain(buffer: queue.Queue[object]) -> None:
    """Empty a queue without blocking (what a stopped stage left in it)."""
    while True:
        try:
            buffer.get_nowait()
        except queue.Empty:
            return


__all__ = ["Background", "prefetch"]
