"""Ingest watchers for every show, feeding one ingest worker thread (watcher callbacks must stay quick)."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable

from daemon.logs import get_logger
from daemon.settings import ShowConfig
from integrations.ingest.candidates import Found
from integrations.ingest.watcher import IngestWatcher

log = get_logger("rushes.watch")


class ShowWatchers:
    """One IngestWatcher per show with ingest roots; what they find is handed to `handle(show, found)` in order,
    on one thread (the daemon queues a durable ingest job; tests may ingest directly)."""

    def __init__(self, shows: list[ShowConfig], handle: Callable[[str, Found], object]) -> None:
        self.handle = handle
        self._queue: queue.Queue[tuple[str, Found] | None] = queue.Queue()
        self._watchers = [
            IngestWatcher(show.ingest, self._put(show.code), self._put(show.code))
            for show in shows
            if show.ingest.roots
        ]
        self._thread = threading.Thread(target=self._work, name="rushes-ingest", daemon=True)

    def _put(self, show: str) -> Callable[[Found], None]:
        def put(found: Found) -> None:
            self._queue.put((show, found))

        return put

    def start(self) -> None:
        self._thread.start()
        for watcher in self._watchers:
            watcher.start()

    def stop(self) -> None:
        for watcher in self._watchers:
            watcher.stop()
        self._queue.put(None)
        self._thread.join(timeout=30)

    def rescan(self) -> None:
        for watcher in self._watchers:
            watcher.rescan()

    def drained(self) -> bool:
        """True when nothing is queued, being ingested, or waiting in a stability gate."""
        return self._queue.unfinished_tasks == 0 and all(w.settled for w in self._watchers)

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    return
                show, found = item
                try:
                    self.handle(show, found)
                except Exception as exc:  # one bad file or a catalog hiccup must not stop ingest
                    log.error("ingest.failed", show=show, path=str(found.path), error=str(exc), exc_info=True)
            finally:
                self._queue.task_done()
